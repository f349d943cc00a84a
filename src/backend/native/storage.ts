/**
 * Storage of the native backend in this slice: the reference backend's plain typed arrays, so
 * every kernel without a native implementation runs the reference kernel on the same storage with
 * no conversion. Native kernels hand the Float32Arrays to oneDNN directly (plain NCHW/OIHW).
 */
import type { DType } from '../../core/dtype.js';
import { Storage } from '../../core/storage.js';
import { RefStorage } from '../ref/storage.js';

/** The float32 values of a storage, or null when it is not float32 (those go to the ref kernels). */
export function float32Of(s: Storage): Float32Array | null {
  return s instanceof RefStorage && s.data instanceof Float32Array ? s.data : null;
}

/** A zeroed float32 storage of `size` elements and its values, for a native kernel to write. */
export function allocFloat32(size: number): { storage: RefStorage; values: Float32Array } {
  const values = new Float32Array(size);
  return { storage: new RefStorage(values), values };
}

/**
 * oneDNN's opaque side data for a backward pass (max-pool argmax positions, LRN's workspace).
 * `size` is what the kernel contract expects of the handle (LRN's `scale` is wrapped like x);
 * the bytes are never read as values, only handed back to the native backward kernel.
 */
export class NativeWorkspace extends Storage {
  readonly backendName = 'native';
  readonly dtype: DType = 'float32';
  constructor(readonly size: number, readonly bytes: Uint8Array) {
    super();
  }
  protected free(): void {}
}
