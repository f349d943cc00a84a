/** Variance and standard deviation over axes (torch.var / torch.std), built from differentiable ops. */
import { ArgumentError } from '../core/errors.js';
import { normalizeAxis, sizeOf } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { div, sqrt, square, sub } from './arithmetic.js';
import { mean, sum, type ReduceOptions } from './reduce.js';
import { common } from './util.js';

export interface VarianceOptions extends ReduceOptions {
  /** Subtracted from the count in the divisor: 1 (default) is Bessel's unbiased estimate, 0 the population variance. */
  correction?: number;
}

/** sum((x - mean)^2) / (n - correction) over `axes` (all axes when omitted). */
export function variance(x: Tensor, axes?: number | readonly number[], opts: VarianceOptions = {}): Tensor {
  const { correction = 1, keepDims = false } = opts;
  common('variance', x);
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : [...axes];
  const count = sizeOf(list.map((a) => x.shape[normalizeAxis('variance', a, x.ndim)]));
  if (!Number.isFinite(correction) || correction < 0)
    throw new ArgumentError('variance', `correction must be a finite number >= 0, got ${correction}`);
  const centred = sub(x, mean(x, list, { keepDims: true }));
  // n <= correction gives inf or nan, as in PyTorch.
  return div(sum(square(centred), list, { keepDims }), count - correction);
}

export function std(x: Tensor, axes?: number | readonly number[], opts: VarianceOptions = {}): Tensor {
  return sqrt(variance(x, axes, opts));
}
