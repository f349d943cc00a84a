/** ReLU, sigmoid and tanh. */
import type { ActivationOp } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import type { Tensor } from '../core/tensor.js';
import { common, wrap } from './util.js';

function activation(op: ActivationOp, x: Tensor): Tensor {
  common(op, x);
  const k = x.backend.kernels;
  const out = wrap(k.unary({ op, x: x.storage }), x.shape, x.backend);
  // relu's gradient needs the input; sigmoid's and tanh's are cheaper from the output.
  const saved = op === 'relu' ? x : out;
  return recordSaved([saved], out, op, [x], (gy) => [
    wrap(k.activationBackward({ op, gy: gy.storage, saved: saved.storage }), x.shape, x.backend),
  ]);
}

export function relu(x: Tensor): Tensor {
  return activation('relu', x);
}

export function sigmoid(x: Tensor): Tensor {
  return activation('sigmoid', x);
}

export function tanh(x: Tensor): Tensor {
  return activation('tanh', x);
}
