/**
 * nn.BatchNorm2d and nn.BatchNorm1d. Parameters weight/bias (affine), buffers running_mean,
 * running_var and num_batches_tracked (trackRunningStats), in PyTorch's registration order so
 * state-dict keys and order match torchvision.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { withLayer } from '../core/layer-context.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add } from '../ops/arithmetic.js';
import { batchNorm, concatBatchNorm } from '../ops/batch-norm.js';
import * as init from './init.js';
import { Module } from './module.js';
import { emptyTensor, type FactoryOptions } from './parameter.js';
import { pyBool, pyFloat } from './repr.js';

export interface BatchNormLayerOptions extends Omit<FactoryOptions, 'generator'> {
  /** Default 1e-5. */
  eps?: number;
  /**
   * Default 0.1: running = (1 - momentum) * running + momentum * batch statistic. null: the
   * cumulative average over all batches seen (factor 1 / num_batches_tracked), as PyTorch.
   */
  momentum?: number | null;
  /** Default true: learnable per-channel scale (weight, 1) and shift (bias, 0). */
  affine?: boolean;
  /** Default true: keep running statistics and use them in eval mode. */
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends Module {
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  /** Counts training batches; a float tensor of shape [] (PyTorch's is int64). */
  readonly numBatchesTracked: Tensor | null;

  /** Accepted input ranks and how to name them in errors. */
  protected abstract readonly ranks: readonly number[];

  constructor(
    readonly numFeatures: number,
    opts: BatchNormLayerOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1)
      throw new ArgumentError(this.typeName, `numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const channels = (): Tensor => emptyTensor([numFeatures], opts);
    this.weight = this.registerParameter('weight', this.affine ? channels() : null);
    this.bias = this.registerParameter('bias', this.affine ? channels() : null);
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? channels() : null);
    this.runningVar = this.registerBuffer('running_var', track ? channels() : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? emptyTensor([], opts) : null);
    this.resetParameters();
  }

  /** Running mean 0, variance 1, count 0. */
  resetRunningStats(): void {
    if (this.runningMean) init.zeros(this.runningMean);
    if (this.runningVar) init.ones(this.runningVar);
    if (this.numBatchesTracked) init.zeros(this.numBatchesTracked);
  }

  /** Running statistics reset, weight 1, bias 0. */
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones(this.weight);
    if (this.bias) init.zeros(this.bias);
  }

  forward(x: Tensor): Tensor {
    return this.normalize(x, false);
  }

  /**
   * relu(this(x)) as one op (a fused kernel, exact in training and eval); errors name this layer.
   * Containers and blocks call it where a ReLU module follows (see nn/fuse.ts).
   */
  callWithRelu(x: Tensor): Tensor {
    return withLayer(this.path, () => this.normalize(x, true));
  }

  /**
   * relu(this(concat(xs, 1))) in eval mode with running statistics, as one op (DenseNet's
   * inference join, see nn/fuse.ts); errors name this layer.
   */
  callJoinedWithRelu(xs: readonly Tensor[]): Tensor {
    if (this.training || this.runningMean === null || this.runningVar === null) {
      throw new ArgumentError(this.typeName, 'callJoinedWithRelu needs eval mode and running statistics');
    }
    const { weight, bias, runningMean, runningVar, eps } = this;
    return withLayer(this.path, () => concatBatchNorm(xs, { weight, bias, runningMean, runningVar, eps, relu: true }));
  }

  private normalize(x: Tensor, relu: boolean): Tensor {
    if (!this.ranks.includes(x.ndim)) {
      throw new ShapeError(
        this.typeName,
        `expected a ${this.ranks.map((r) => `${r}-D`).join(' or ')} input, got ${formatShape(x.shape)}`,
      );
    }
    let factor = this.momentum ?? 0;
    // The count goes up in the batch norm's own kernel, except for the cumulative average (momentum
    // null), whose factor 1 / num_batches_tracked is read here first.
    const counter = this.training && this.momentum !== null ? this.numBatchesTracked : null;
    if (this.training && this.numBatchesTracked && this.momentum === null) {
      const counted = add(this.numBatchesTracked, 1);
      this.numBatchesTracked.assign(counted);
      counted.dispose();
      // (Math.max guards shape-only backends, which read 0.)
      factor = 1 / Math.max(1, this.numBatchesTracked.item());
    }
    // As PyTorch: batch statistics in training, or in eval when no running statistics are kept;
    // the running buffers are handed over (and updated) only when they are tracked.
    const useBatchStats = this.training || this.runningMean === null;
    const passBuffers = !this.training || this.trackRunningStats;
    return batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: passBuffers ? this.runningMean : null,
      runningVar: passBuffers ? this.runningVar : null,
      training: useBatchStats,
      momentum: factor,
      eps: this.eps,
      relu,
      numBatchesTracked: counter,
    });
  }

  protected override extraRepr(): string {
    const momentum = this.momentum === null ? 'None' : pyFloat(this.momentum);
    return `${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${momentum}, affine=${pyBool(this.affine)}, track_running_stats=${pyBool(this.trackRunningStats)}`;
  }
}

/** Batch norm over the channels of NCHW images. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4];
}

/** Batch norm over the features of [N, C] or [N, C, L] inputs. */
export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3];
}
