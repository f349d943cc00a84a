/** Batch normalisation (torch.nn.functional.batch_norm) over the channel axis 1. */
import type { Backend, ChannelLayout } from '../backend/backend.js';
import { recordSaved } from '../core/autograd.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { isGradEnabled } from '../core/grad-mode.js';
import { formatShape, sizeOf } from '../core/shape.js';
import type { Storage } from '../core/storage.js';
import type { Tensor } from '../core/tensor.js';
import { relu as reluOp } from './activation.js';
import { add } from './arithmetic.js';
import { concat } from './layout.js';
import { common, wrap } from './util.js';

export interface BatchNormOptions {
  /** Affine scale gamma and shift beta, C elements each. */
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Running statistics (buffers, C elements each); updated in place in training mode. */
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Default true: normalise with the batch's statistics; false: with the running ones. */
  training?: boolean;
  /** Default 0.1: running = (1 - momentum) * running + momentum * batch statistic. */
  momentum?: number;
  /**
   * A one-element counter (a BatchNorm layer's num_batches_tracked) that training mode counts up
   * by 1, in place, in the same kernel as the running statistics.
   */
  numBatchesTracked?: Tensor | null;
  /** Default 1e-5, added to the variance. */
  eps?: number;
  /**
   * Default false. relu(batchNorm(x)) in one kernel: in training (the backward reads a mask of
   * the positive outputs) and in eval mode without gradients. Eval mode with gradients runs the
   * two ops. Same values and gradients as the two ops.
   */
  relu?: boolean;
}

const OP = 'batchNorm';

function checkChannels(name: string, t: Tensor | null, channels: number): void {
  if (t && t.size !== channels) throw new ShapeError(OP, `${name} has ${t.size} channels, input has ${channels}`);
}

/** Normalises x ([N, C] or [N, C, ...spatial]) per channel, then applies the optional affine map. */
export function batchNorm(x: Tensor, opts: BatchNormOptions = {}): Tensor {
  const {
    weight = null,
    bias = null,
    runningMean = null,
    runningVar = null,
    training = true,
    momentum = 0.1,
    eps = 1e-5,
    relu = false,
    numBatchesTracked = null,
  } = opts;
  common(OP, x);
  if (x.ndim < 2) throw new ShapeError(OP, `expected an input of rank >= 2 ([N, C, ...]), got ${formatShape(x.shape)}`);
  if (!Number.isFinite(eps) || eps < 0) throw new ArgumentError(OP, `eps must be a finite number >= 0, got ${eps}`);
  if (!Number.isFinite(momentum)) throw new ArgumentError(OP, `momentum must be a finite number, got ${momentum}`);
  const backend = common(OP, x, weight, bias, runningMean, runningVar, numBatchesTracked);
  if (numBatchesTracked && numBatchesTracked.size !== 1)
    throw new ShapeError(
      OP,
      `numBatchesTracked must have one element, got shape ${formatShape(numBatchesTracked.shape)}`,
    );
  const layout: ChannelLayout = { batch: x.shape[0], channels: x.shape[1], spatial: sizeOf(x.shape.slice(2)) };
  checkChannels('weight', weight, layout.channels);
  checkChannels('bias', bias, layout.channels);
  checkChannels('runningMean', runningMean, layout.channels);
  checkChannels('runningVar', runningVar, layout.channels);
  if ((runningMean === null) !== (runningVar === null)) {
    throw new ArgumentError(
      OP,
      `runningMean and runningVar go together; got only ${runningMean ? 'runningMean' : 'runningVar'}`,
    );
  }
  if (training)
    return batchNormTraining(
      x,
      { weight, bias, runningMean, runningVar, numBatchesTracked },
      layout,
      momentum,
      eps,
      relu,
    );
  if (runningMean === null || runningVar === null) {
    throw new ArgumentError(OP, 'eval mode (training: false) needs runningMean and runningVar');
  }
  // The inference kernel's ReLU has no backward: with a graph to record, the two ops run.
  if (relu && isGradEnabled() && [x, weight, bias].some((t) => t?.requiresGrad)) {
    return reluOp(batchNormEval(x, weight, bias, runningMean, runningVar, layout, eps, false, backend));
  }
  return batchNormEval(x, weight, bias, runningMean, runningVar, layout, eps, relu, backend);
}

function batchNormTraining(
  x: Tensor,
  tensors: {
    weight: Tensor | null;
    bias: Tensor | null;
    runningMean: Tensor | null;
    runningVar: Tensor | null;
    numBatchesTracked: Tensor | null;
  },
  layout: ChannelLayout,
  momentum: number,
  eps: number,
  relu: boolean,
): Tensor {
  const { weight, bias, runningMean, runningVar, numBatchesTracked } = tensors;
  const { backend } = x;
  const count = layout.batch * layout.spatial;
  if (count === 1)
    throw new ShapeError(
      OP,
      `expected more than 1 value per channel when training, got input of shape ${formatShape(x.shape)}`,
    );
  // The kernel moves the running statistics, in place, in the same call (one small command, not
  // seven). An empty batch leaves them alone, as in PyTorch.
  const running =
    runningMean && runningVar && count > 0
      ? { mean: runningMean.storage, variance: runningVar.storage, momentum, batches: numBatchesTracked?.storage }
      : null;
  const r = backend.kernels.batchNormTrain({
    x: x.storage,
    weight: weight?.storage ?? null,
    bias: bias?.storage ?? null,
    layout,
    eps,
    relu,
    running,
  });
  const changed = running ? [runningMean, runningVar, numBatchesTracked] : [];
  for (const t of changed) if (t) t.storage.version++;
  if (numBatchesTracked && !running) {
    const counted = add(numBatchesTracked, 1);
    numBatchesTracked.assign(counted);
    counted.dispose();
  }
  r.variance.release();
  const C = [layout.channels];
  const mean = wrap(r.mean, C, backend);
  const invStd = wrap(r.invStd, C, backend);
  const out = wrap(r.y, x.shape, backend);
  return recordBackward(out, x, weight, bias, mean, invStd, layout, true, r.reluMask);
}

function batchNormEval(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor,
  runningVar: Tensor,
  layout: ChannelLayout,
  eps: number,
  relu: boolean,
  backend: Backend,
): Tensor {
  const k = backend.kernels;
  const evalAttrs = { runningMean, runningVar, eps, relu };
  const y = k.batchNormInfer({
    x: x.storage,
    weight: weight?.storage ?? null,
    bias: bias?.storage ?? null,
    mean: runningMean.storage,
    variance: runningVar.storage,
    layout,
    eps,
    relu,
  });
  const out = wrap(y, x.shape, backend);
  // Without a graph to record, still report the op (tracing) but skip the backward statistics.
  if (!isGradEnabled() || ![x, weight, bias].some((t) => t?.requiresGrad))
    return recordSaved([], out, OP, [x, weight, bias], () => [null, null, null], { attrs: evalAttrs });
  // The statistics as they are now (copies): a later training step moves the buffers in place.
  const mean = wrap(k.scalar({ op: 'mul', x: runningMean.storage, value: 1 }), [layout.channels], backend); // x * 1 - 0: exact
  const withEps = k.scalar({ op: 'add', x: runningVar.storage, value: eps });
  const std = k.unary({ op: 'sqrt', x: withEps });
  withEps.release();
  const invStd = wrap(k.unary({ op: 'reciprocal', x: std }), [layout.channels], backend);
  std.release();
  return recordBackward(out, x, weight, bias, mean, invStd, layout, false);
}

function recordBackward(
  out: Tensor,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  mean: Tensor,
  invStd: Tensor,
  layout: ChannelLayout,
  batchStats: boolean,
  reluMaskStorage: Storage | null = null,
): Tensor {
  const backend = out.backend;
  // A tensor, saved, so that the graph's scope frees it (back to a native pool) once backward is done.
  const reluMask = reluMaskStorage && wrap(reluMaskStorage, [reluMaskStorage.size], backend);
  recordSaved([x, weight, mean, invStd, reluMask], out, OP, [x, weight, bias], (gy, needs) => {
    const g = backend.kernels.batchNormBackward({
      gy: gy.storage,
      x: x.storage,
      weight: weight?.storage ?? null,
      mean: mean.storage,
      invStd: invStd.storage,
      layout,
      batchStats,
      withAffine: needs[1] || needs[2],
      reluMask: reluMask?.storage ?? null,
    });
    const grads = [
      wrap(g.x, x.shape, backend),
      weight && g.weight ? wrap(g.weight, weight.shape, backend) : null,
      bias && g.bias ? wrap(g.bias, bias.shape, backend) : null,
    ];
    // Gradients nobody asked for are freed here; the engine frees the ones it receives.
    grads.forEach((t, i) => {
      if (t && !needs[i]) t.dispose();
    });
    if (!weight && g.weight) g.weight.release();
    if (!bias && g.bias) g.bias.release();
    return grads.map((t, i) => (needs[i] ? t : null));
  });
  if (out.gradFn === null) {
    mean.dispose();
    invStd.dispose();
    reluMask?.dispose();
  }
  return out;
}

/**
 * Eval-mode batchNorm(concat(xs, 1)) with running statistics (and the optional ReLU), in one
 * kernel: DenseNet's join of its earlier feature maps. With a graph to record, the two ops run.
 */
export function concatBatchNorm(xs: readonly Tensor[], opts: Omit<BatchNormOptions, 'training' | 'momentum'>): Tensor {
  const { weight = null, bias = null, runningMean = null, runningVar = null, eps = 1e-5, relu = false } = opts;
  const name = 'concatBatchNorm';
  if (xs.length === 0) throw new ArgumentError(name, 'needs at least one tensor');
  if (runningMean === null || runningVar === null)
    throw new ArgumentError(name, 'needs runningMean and runningVar (it is eval-mode batch norm)');
  if (isGradEnabled() && [...xs, weight, bias].some((t) => t?.requiresGrad)) {
    return batchNorm(concat(xs, 1), { ...opts, training: false });
  }
  if (!Number.isFinite(eps) || eps < 0) throw new ArgumentError(name, `eps must be a finite number >= 0, got ${eps}`);
  const backend = common(name, ...xs, weight, bias, runningMean, runningVar);
  const [n, , h, w] = xs[0].shape;
  xs.forEach((t, i) => {
    if (t.ndim !== 4 || t.shape[0] !== n || t.shape[2] !== h || t.shape[3] !== w) {
      throw new ShapeError(
        name,
        `tensor ${i} has shape ${formatShape(t.shape)}; expected 4-D maps [${n}, C, ${h}, ${w}] like tensor 0`,
      );
    }
  });
  const channels = xs.reduce((c, t) => c + t.shape[1], 0);
  for (const [what, t] of [
    ['weight', weight],
    ['bias', bias],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    if (t && t.size !== channels)
      throw new ShapeError(name, `${what} has ${t.size} channels, the concatenation has ${channels}`);
  }
  const y = backend.kernels.concatBatchNormInfer({
    xs: xs.map((t) => t.storage),
    shapes: xs.map((t) => t.shape),
    weight: weight?.storage ?? null,
    bias: bias?.storage ?? null,
    mean: runningMean.storage,
    variance: runningVar.storage,
    eps,
    relu,
  });
  return recordSaved([], wrap(y, [n, channels, h, w], backend), name, [...xs, weight, bias], () => [], {
    attrs: { runningMean, runningVar, eps, relu, count: xs.length },
  });
}
