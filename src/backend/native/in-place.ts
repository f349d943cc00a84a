/**
 * Buffers that kernels update in place (an optimiser step, batch norm's running statistics): the
 * storage keeps its identity, so every tensor on it, and a recorded program, sees the new values.
 */
import { BackendError } from '../../core/errors.js';
import type { Storage } from '../../core/storage.js';
import type { KernelName } from '../backend.js';
import { type NativeRuntime, NativeStorage, PLAIN } from './runtime.js';

/**
 * The buffer of a storage updated in place, in layout `desc` over `dims` (default plain): a
 * native storage in another layout first takes its values in that one as its own (a queued
 * conversion; the storage keeps its identity, so every tensor on it sees the same values).
 */
export function inPlace(
  kernel: KernelName,
  what: string,
  s: Storage,
  rt: NativeRuntime,
  desc: number = PLAIN,
  dims: readonly number[] = [s.size],
): Float32Array {
  if (s instanceof NativeStorage) {
    if (s.desc !== desc) {
      const target = desc === PLAIN ? rt.plainDesc(dims) : desc;
      rt.input(s, target, dims); // cached on s as a converted copy
      if (!s.adoptConverted(target))
        throw new BackendError(kernel, `${what}: its copy in the step's layout was not kept`);
    }
    s.invalidate();
    return s.buffer;
  }
  if (desc !== PLAIN)
    throw new BackendError(kernel, `${what} is a reference storage; a blocked step needs native ones`);
  return rt.plainInput(s, [s.size]); // a float32 ref storage: its own array
}
