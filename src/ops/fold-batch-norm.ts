/**
 * An eval-mode batch norm folded into the conv or linear layer before it
 * (torch.nn.utils.fusion.fuse_conv_bn_weights): the layer with the returned weight and bias
 * computes what layer-then-norm computed, up to float rounding. One kernel call, so inference
 * pays one small loop per norm instead of six elementwise ops.
 *
 * Constants for inference: the result records no gradient (a layer trained on needs the unfolded
 * pair), and an input that requires one is refused rather than silently cut off.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { common, willRecord, wrap } from './util.js';

const OP = 'foldBatchNorm';

export interface FoldedBatchNorm {
  /** The layer's weight scaled row by row: same shape as the layer's. */
  weight: Tensor;
  /** [C]: the layer's bias (0 where it has none) moved through the norm. */
  bias: Tensor;
}

/** What foldBatchNorm reads of the norm (BatchNorm2d's fields; gamma and beta may be absent). */
export interface BatchNormStatistics {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor;
  runningVar: Tensor;
  eps: number;
}

/** The weight and bias of `layerWeight`/`layerBias` (rows = output channels) followed by `norm` in eval mode. */
export function foldBatchNorm(
  layerWeight: Tensor,
  layerBias: Tensor | null,
  norm: BatchNormStatistics,
  opts: { deferWeight?: boolean } = {},
): FoldedBatchNorm {
  const { weight: gamma, bias: beta, runningMean: mean, runningVar: variance, eps } = norm;
  const backend = common(OP, layerWeight, layerBias, gamma, beta, mean, variance);
  if (layerWeight.ndim < 2)
    throw new ShapeError(OP, `the layer's weight must have rank >= 2 ([C, ...]), got rank ${layerWeight.ndim}`);
  const channels = layerWeight.shape[0];
  const named: [string, Tensor | null][] = [
    ['bias', layerBias],
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', mean],
    ['runningVar', variance],
  ];
  for (const [name, t] of named) {
    if (t && (t.ndim !== 1 || t.size !== channels))
      throw new ShapeError(OP, `${name} must have shape [${channels}] (the layer's output channels), got [${t.shape}]`);
  }
  if (!Number.isFinite(eps) || eps < 0) throw new ArgumentError(OP, `eps must be a finite number >= 0, got ${eps}`);
  if (willRecord(layerWeight, ...named.map(([, t]) => t)))
    throw new ArgumentError(OP, 'folded weights carry no gradient: fold under noGrad, or train the unfolded layers');
  const r = backend.kernels.foldBatchNorm({
    weight: layerWeight.storage,
    bias: layerBias?.storage ?? null,
    gamma: gamma?.storage ?? null,
    beta: beta?.storage ?? null,
    mean: mean.storage,
    variance: variance.storage,
    channels,
    eps,
    deferWeight: opts.deferWeight ?? false,
  });
  return { weight: wrap(r.weight, layerWeight.shape, backend), bias: wrap(r.bias, [channels], backend) };
}
