/** softmax and logSoftmax along an axis. */
import { recordSaved } from '../core/autograd.js';
import { normalizeAxis, sizeOf } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

function softmaxAlong(x: Tensor, axis: number, log: boolean): Tensor {
  const name = log ? 'logSoftmax' : 'softmax';
  common(name, x);
  const a = normalizeAxis(name, axis, x.ndim);
  const layout = { outer: sizeOf(x.shape.slice(0, a)), dim: x.shape[a], inner: sizeOf(x.shape.slice(a + 1)) };
  const k = x.backend.kernels;
  const out = wrap(k.softmax({ x: x.storage, layout, log }), x.shape, x.backend);
  return recordSaved([out], out, name, [x], (gy) => [
    wrap(k.softmaxBackward({ gy: gy.storage, y: out.storage, layout, log }), x.shape, x.backend),
  ]);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxAlong(x, axis, false);
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxAlong(x, axis, true);
}
