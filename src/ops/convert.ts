/** Moving tensors between dtypes and backends. */
import { getBackend } from '../backend/registry.js';
import { recordSaved } from '../core/autograd.js';
import type { DType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

/** A copy with another dtype; the gradient is cast back. */
export function cast(x: Tensor, dtype: DType): Tensor {
  common('cast', x);
  if (x.dtype === dtype) return recordSaved([], x.alias(x.shape), 'cast', [x], (gy) => [gy]);
  const k = x.backend.kernels;
  const out = wrap(k.cast({ x: x.storage, dtype }), x.shape, x.backend);
  const from = x.dtype;
  return recordSaved([], out, 'cast', [x], (gy) => [wrap(k.cast({ x: gy.storage, dtype: from }), x.shape, x.backend)]);
}

/** A copy on another backend (by name); values pass through plain row-major arrays. */
export function to(x: Tensor, backendName: string): Tensor {
  common('to', x);
  const target = getBackend(backendName);
  if (target === x.backend) return recordSaved([], x.alias(x.shape), 'to', [x], (gy) => [gy]);
  const values = target.hasData ? x.backend.read(x.storage, x.shape) : new Float32Array(x.size);
  const out = wrap(target.write(values, x.dtype), x.shape, target);
  return recordSaved([], out, 'to', [x], (gy) => [
    wrap(x.backend.write(target.read(gy.storage, gy.shape), gy.dtype), x.shape, x.backend),
  ]);
}
