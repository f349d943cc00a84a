/**
 * Which backend new tensors go to. `CONVKIT_BACKEND=ref|native|meta` or `setBackend()` chooses; the
 * default is the native backend (oneDNN) when its addon loads, else the reference backend, with a
 * one-line notice on stderr saying why and how to fix it.
 *
 * Importing this module does nothing: the native addon is loaded, and CONVKIT_BACKEND and
 * CONVKIT_THREADS are read (src/core/config.ts), the first time a backend is asked for.
 */
import { setting } from '../core/config.js';
import { ArgumentError, BackendError } from '../core/errors.js';
import type { Backend } from './backend.js';
import { metaBackend } from './meta/index.js';
import { loadNativeBackend, type NativeBackend } from './native/index.js';
import { refBackend } from './ref/index.js';

const backends = new Map<string, Backend>([
  [refBackend.name, refBackend],
  [metaBackend.name, metaBackend],
]);

let native: NativeBackend | { error: string } | null = null;
let threadsApplied = false;

/**
 * The native backend (loaded on the first call), or why it is unavailable. CONVKIT_THREADS is
 * applied here; a bad value throws its ConfigError now, and again on later calls until fixed.
 */
function nativeBackend(): NativeBackend | { error: string } {
  if (native === null) {
    native = loadNativeBackend();
    if (!('error' in native) && !backends.has(native.name)) backends.set(native.name, native);
  }
  if (!threadsApplied && !('error' in native)) {
    const threads = setting('threads');
    if (threads !== null) native.runtime.setThreads(threads);
    threadsApplied = true;
  }
  return native;
}

/** Why the native backend is missing (null when it loads). Loads the addon on the first call. */
export function nativeUnavailable(): string | null {
  const n = nativeBackend();
  return 'error' in n ? n.error : null;
}

/** The backend used when nothing is asked for: native when available. */
function defaultBackendName(): string {
  const why = nativeUnavailable();
  if (why === null) return 'native';
  process.stderr.write(`[convkit] using the reference backend (slow): ${why}\n`);
  return refBackend.name;
}

let current: Backend | null = null;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function backendNames(): string[] {
  nativeBackend();
  return [...backends.keys()];
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (current === null) current = getBackend(setting('backend') ?? defaultBackendName());
    return current;
  }
  if (name === 'native') {
    const n = nativeBackend();
    if ('error' in n) throw new BackendError('backend', `the native backend is unavailable: ${n.error}`);
  }
  const b = backends.get(name);
  if (!b) throw new ArgumentError('backend', `unknown backend '${name}'; expected one of ${backendNames().join(', ')}`);
  return b;
}

export function setBackend(name: string): Backend {
  current = getBackend(name);
  return current;
}

/** Runs fn with `name` as the default backend (handy for meta-backend analysis). */
export function withBackend<T>(name: string, fn: () => T): T {
  const before = current;
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
  threadsApplied = true; // an explicit count overrides CONVKIT_THREADS
  const n = nativeBackend();
  if (!('error' in n)) n.runtime.setThreads(threads);
}

/** Threads of the native backend (1 when it is unavailable). */
export function getThreads(): number {
  const n = nativeBackend();
  return 'error' in n ? 1 : n.runtime.getThreads();
}

/**
 * Resolves once all queued native work is done. The native backend queues kernels and runs them
 * on a worker thread; awaiting this (after a training step, say) keeps the event loop responsive,
 * progress bars and Ctrl-C included. Reading values also waits, synchronously.
 */
export function synchronize(): Promise<void> {
  // Nothing can be queued before the native backend was loaded.
  if (native === null || 'error' in native) return Promise.resolve();
  return native.runtime.flushAsync();
}
