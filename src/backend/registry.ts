/**
 * Which backend new tensors go to. `CONVKIT_BACKEND=ref|native|meta` or `setBackend()` chooses; the
 * default is the reference backend (the native one is registered when its addon loads, but is not
 * yet the default).
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

let current: Backend | null = null;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function backendNames(): string[] {
  return [...backends.keys()];
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (current === null) current = getBackend(process.env.CONVKIT_BACKEND || refBackend.name);
    return current;
  }
  const b = backends.get(name);
  if (!b && name === 'native' && nativeUnavailable !== null) throw new BackendError('backend', `the native backend is unavailable: ${nativeUnavailable}`);
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
