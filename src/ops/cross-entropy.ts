/** Classification losses: crossEntropy over logits and nllLoss over log-probabilities. */
import type { Reduction } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { logSoftmax } from './softmax.js';
import { common, wrap } from './util.js';

/** Class indices, one per row. */
export type Targets = Tensor | Int32Array | readonly number[];

export interface CrossEntropyOptions {
  /** Default 'mean' (divides by the number of rows). */
  reduction?: 'mean' | 'sum' | 'none';
  /** Default 0: mixes the one-hot target with a uniform one, as PyTorch's label_smoothing. */
  labelSmoothing?: number;
}

interface Resolved {
  target: Int32Array;
  n: number;
  c: number;
  reduction: Reduction;
  labelSmoothing: number;
}

const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'none'];

function resolve(op: string, input: Tensor, target: Targets, opts: CrossEntropyOptions, what: string): Resolved {
  const { reduction = 'mean', labelSmoothing = 0 } = opts;
  common(op, input);
  if (input.ndim !== 2) throw new ShapeError(op, `expected ${what} of shape [N, C], got ${formatShape(input.shape)}`);
  if (!REDUCTIONS.includes(reduction))
    throw new ArgumentError(op, `reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new ArgumentError(op, `labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  const [n, c] = input.shape;
  return { target: classIndices(op, target, n, c), n, c, reduction, labelSmoothing };
}

function targetValues(op: string, target: Targets, n: number): ArrayLike<number> {
  if (!(target instanceof Tensor)) return target;
  if (target.ndim !== 1)
    throw new ShapeError(
      op,
      `target must have shape [${n}] (one class index per row), got ${formatShape(target.shape)}`,
    );
  // The shape-only backend holds no values: only the length can be checked there.
  return target.backend.hasData ? target.toArray() : new Int32Array(target.size);
}

function classIndices(op: string, target: Targets, n: number, c: number): Int32Array {
  const values = targetValues(op, target, n);
  if (values.length !== n)
    throw new ShapeError(op, `got ${values.length} targets for ${n} rows; expected one class index per row`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= c)
      throw new ArgumentError(op, `target ${i} is ${v}, expected an integer class index in [0, ${c})`);
    out[i] = v;
  }
  return out;
}

function nll(op: string, logp: Tensor, r: Resolved): Tensor {
  const kernels = logp.backend.kernels;
  const { target, n, c, reduction, labelSmoothing } = r;
  const loss = wrap(
    kernels.nllLoss({ logp: logp.storage, target, n, c, reduction, labelSmoothing }),
    reduction === 'none' ? [n] : [],
    logp.backend,
  );
  const dtype = logp.dtype;
  return recordSaved([], loss, op, [logp], (gy) => [
    wrap(
      kernels.nllLossBackward({ gy: gy.storage, target, n, c, reduction, labelSmoothing, dtype }),
      logp.shape,
      logp.backend,
    ),
  ]);
}

/**
 * Negative log-likelihood of log-probabilities [N, C]:
 * loss_i = (1 - eps) * (-logProbs[i, t_i]) + eps * mean over c of (-logProbs[i, c]).
 */
export function nllLoss(logProbs: Tensor, target: Targets, opts: CrossEntropyOptions = {}): Tensor {
  return nll('nllLoss', logProbs, resolve('nllLoss', logProbs, target, opts, 'log-probabilities'));
}

/** nllLoss(logSoftmax(logits, 1)), PyTorch's cross_entropy with class-index targets. */
export function crossEntropy(logits: Tensor, target: Targets, opts: CrossEntropyOptions = {}): Tensor {
  const resolved = resolve('crossEntropy', logits, target, opts, 'logits');
  const logp = logSoftmax(logits, 1);
  const loss = nll('crossEntropy', logp, resolved);
  // Without a graph the log-probabilities are needed by nothing.
  if (loss.gradFn === null) logp.dispose();
  return loss;
}
