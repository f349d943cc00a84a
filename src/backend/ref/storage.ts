/** Storage of the reference backend: a plain typed array. */
import { allocFloat, type DType, type FloatArray } from '../../core/dtype.js';
import { BackendError } from '../../core/errors.js';
import { Storage } from '../../core/storage.js';

export class RefStorage extends Storage {
  readonly backendName = 'ref';
  readonly dtype: DType;
  readonly size: number;
  private array: FloatArray | null;

  constructor(array: FloatArray) {
    super();
    this.array = array;
    this.size = array.length;
    this.dtype = array instanceof Float64Array ? 'float64' : 'float32';
  }

  get data(): FloatArray {
    if (this.array === null) throw new BackendError('ref', 'storage used after it was freed');
    return this.array;
  }

  protected free(): void {
    this.array = null;
  }
}

/** Integer side data a backward pass needs (max-pool argmax positions). */
export class RefIndexStorage extends Storage {
  readonly backendName = 'ref';
  readonly dtype: DType = 'float32';
  readonly size: number;
  constructor(readonly indices: Int32Array) {
    super();
    this.size = indices.length;
  }
  protected free(): void {}
}

/** The values behind a storage, with a clear error if it belongs to another backend. */
export function data(s: Storage): FloatArray {
  if (!(s instanceof RefStorage)) {
    throw new BackendError(
      'ref',
      `expected a storage of the ref backend, got one of '${s.backendName}'; move tensors to one backend first`,
    );
  }
  return s.data;
}

export function indicesOf(s: Storage): Int32Array {
  if (!(s instanceof RefIndexStorage))
    throw new BackendError('ref', `expected an index workspace of the ref backend, got '${s.backendName}'`);
  return s.indices;
}

export function alloc(dtype: DType, size: number): RefStorage {
  return new RefStorage(allocFloat(dtype, size));
}

/** A new storage of the same dtype as `like`. */
export function allocLike(like: Storage, size: number): RefStorage {
  return alloc(like.dtype, size);
}
