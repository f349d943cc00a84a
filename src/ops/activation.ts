/** ReLU, sigmoid and tanh, and relu(a + b) in one pass. */
import type { ActivationOp } from '../backend/backend.js';
import { type PartsBackwardFn, record, recordSaved } from '../core/autograd.js';
import type { Tensor } from '../core/tensor.js';
import { add } from './arithmetic.js';
import { common, commonRequired, wrap } from './util.js';

function activation(op: ActivationOp, x: Tensor): Tensor {
  common(op, x);
  const k = x.backend.kernels;
  const out = wrap(k.unary({ op, x: x.storage }), x.shape, x.backend);
  // relu's gradient needs the input; sigmoid's and tanh's are cheaper from the output.
  const saved = op === 'relu' ? x : out;
  const backward = (gy: Tensor) => [
    wrap(k.activationBackward({ op, gy: gy.storage, saved: saved.storage }), x.shape, x.backend),
  ];
  if (op !== 'relu') return recordSaved([saved], out, op, [x], backward);
  return record(out, op, [x], backward, { saved: [saved], ofParts: reluOfParts(saved) });
}

/**
 * relu's backward for a gradient in parts (a tensor that feeds two ops, as a residual block's
 * output feeds the next block's branch and its shortcut): summed and masked in one kernel; every
 * input that needs a gradient gets it (addRelu's two).
 */
function reluOfParts(saved: Tensor): PartsBackwardFn {
  return (parts, needs) => {
    const gys = parts.map((p) => p.storage);
    const g = wrap(saved.backend.kernels.reluBackwardOfSum({ gys, saved: saved.storage }), saved.shape, saved.backend);
    return needs.map((need) => (need ? g : null));
  };
}

export function relu(x: Tensor): Tensor {
  return activation('relu', x);
}

/**
 * relu(a + b) in one pass over memory (a residual block's end in training): the same values and
 * gradients as the two ops. Operands of different shapes (a broadcast) run as the two ops.
 */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  const backend = commonRequired('addRelu', a, b);
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) return relu(add(a, b));
  const k = backend.kernels;
  const out = wrap(k.addRelu({ a: a.storage, b: b.storage, shape: a.shape }), a.shape, backend);
  // relu's gradient from its output: out > 0 exactly where a + b > 0 (NaN included, as neither is).
  const backward = (gy: Tensor, needs: readonly boolean[]) => {
    const g = wrap(k.activationBackward({ op: 'relu', gy: gy.storage, saved: out.storage }), a.shape, backend);
    return [needs[0] ? g : null, needs[1] ? g : null];
  };
  return record(out, 'addRelu', [a, b], backward, { saved: [out], ofParts: reluOfParts(out) });
}

export function sigmoid(x: Tensor): Tensor {
  return activation('sigmoid', x);
}

export function tanh(x: Tensor): Tensor {
  return activation('tanh', x);
}
