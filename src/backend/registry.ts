/**
 * Which backend new tensors go to. `CONVKIT_BACKEND=ref|native|meta` or `setBackend()` chooses; the
 * default is the native backend (oneDNN) when its addon loads, else the reference backend, with a
 * one-line notice on stderr saying why and how to fix it.
 */
import { ArgumentError, BackendError } from '../core/errors.js';
import type { Backend } from './backend.js';
import { metaBackend } from './meta/index.js';
import { loadNativeBackend } from './native/index.js';
import { refBackend } from './ref/index.js';

const backends = new Map<string, Backend>([
  [refBackend.name, refBackend],
  [metaBackend.name, metaBackend],
]);

const native = loadNativeBackend();
if (!('error' in native)) backends.set(native.name, native);
/** Why the native backend is missing (null when it loaded). */
export const nativeUnavailable: string | null = 'error' in native ? native.error : null;

/** The backend used when nothing is asked for: native when available. */
function defaultBackendName(): string {
  if (nativeUnavailable === null) return 'native';
  process.stderr.write(`[convkit] using the reference backend (slow): ${nativeUnavailable}\n`);
  return refBackend.name;
}

let current: Backend | null = null;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function backendNames(): string[] {
  return [...backends.keys()];
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (current === null) current = getBackend(process.env.CONVKIT_BACKEND || defaultBackendName());
    return current;
  }
  const b = backends.get(name);
  if (!b && name === 'native' && nativeUnavailable !== null)
    throw new BackendError('backend', `the native backend is unavailable: ${nativeUnavailable}`);
  if (!b) throw new ArgumentError('backend', `unknown backend '${name}'; expected one of ${backendNames().join(', ')}`);
  return b;
}

export function setBackend(name: string): Backend {
  current = getBackend(name);
  return current;
}

/** Runs fn with `name` as the default backend (handy for meta-backend analysis). */
export function withBackend<T>(name: string, fn: () => T): T {
  const before = getBackend();
  current = getBackend(name);
  try {
    return fn();
  } finally {
    current = before;
  }
}

/**
 * Sets how many threads the native backend computes with (default: all cores, or
 * CONVKIT_THREADS). The reference backend always uses one.
 */
export function setThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1)
    throw new ArgumentError('setThreads', `threads must be a positive integer, got ${threads}`);
  if (!('error' in native)) native.runtime.setThreads(threads);
}

/** Threads of the native backend (1 when it is unavailable). */
export function getThreads(): number {
  return 'error' in native ? 1 : native.runtime.getThreads();
}

/**
 * Resolves once all queued native work is done. The native backend queues kernels and runs them
 * on a worker thread; awaiting this (after a training step, say) keeps the event loop responsive,
 * progress bars and Ctrl-C included. Reading values also waits, synchronously.
 */
export function synchronize(): Promise<void> {
  return 'error' in native ? Promise.resolve() : native.runtime.flushAsync();
}

if (process.env.CONVKIT_THREADS) setThreads(Number(process.env.CONVKIT_THREADS));
