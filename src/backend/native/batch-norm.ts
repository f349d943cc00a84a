/**
 * Native batch norm (float32): training forward (batch statistics), inference forward (given
 * statistics, optionally with a fused ReLU) and backward (through the batch statistics, or with
 * them constant in eval mode), on the input's layout. Statistics, affine parameters and their
 * gradients are plain [C]. A missing weight or bias becomes ones or zeros.
 *
 * The kernel contract's invStd is computed natively (a queued [C] loop), and so is the backward's
 * conversion back: oneDNN wants a variance and an eps, so it gets variance' = 1 / invStd^2 - e
 * with eps = e, which gives back the same invStd. e must not be 0: with channels padded to a
 * block, oneDNN normalises the padding lanes too (variance 0), and 0 * 1/sqrt(0) = NaN there
 * would reach the next conv's backward.
 */
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { ChannelLayout, KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { inPlace } from './in-place.js';
import { isFloat32, NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- batch_norm.cc; src desc 4-D (any layout), mean/variance/scale/shift plain [C]
    /**
     * buffers [src, (scale), (shift), mean, variance, dst, (workspace)]: training writes mean and
     * variance, inference reads them. relu fuses a ReLU after; in training it writes the workspace.
     */
    batchNormPlan(
      src: number,
      options: { training: boolean; affine: boolean; relu: boolean; eps: number },
    ): PlanResult<'src' | 'mean' | 'variance' | 'dst'> & { readonly workspace?: number };
    /**
     * buffers [src, diffDst, mean, variance, (scale), (shift), diffSrc, (diffScale), (diffShift),
     * (workspace)]; shift is any [C] buffer (unread: oneDNN 2.6 only insists that one is bound).
     * relu: the gradient goes back through the training forward's fused ReLU (its workspace).
     */
    batchNormBackwardPlan(
      src: number,
      options: { affine: boolean; eps: number; globalStats: boolean; relu: boolean },
    ): PlanResult<'src' | 'diffDst' | 'mean' | 'variance' | 'diffSrc'> & { readonly workspace?: number };
    /** Plain [C] -> [C], queued: toInvStd: out = 1/sqrt(in + eps); else out = 1/in^2 - eps (invStd back to a variance). buffers [in, out] */
    batchNormStatsPlan(stats: { channels: number; eps: number; toInvStd: boolean }): PlanResult<'in' | 'out'>;
    /**
     * Plain [C], queued: invStd and the running statistics moved towards the batch's in place, in
     * one loop. buffers [mean, variance, runningMean, runningVar, invStd, (batches: [1], plus 1
     * with countBatches)]; exec's scalars { momentum }.
     */
    batchNormRunningPlan(stats: {
      channels: number;
      eps: number;
      count: number;
      countBatches: boolean;
    }): PlanResult<'stats'>;
  }
}

/** The backward's eps (see above): tiny, so 1/invStd^2 - e + e rounds back to 1/invStd^2. */
const BACKWARD_EPS = 1e-12;

const isEmpty = (l: ChannelLayout): boolean => l.batch * l.channels * l.spatial === 0;

/** A blocked storage's own dims when they are this layout's (N, C, spatial...), else [N, C, S, 1]. */
export function channelDims(s: Storage, l: ChannelLayout, minRank = 2): readonly number[] {
  if (s instanceof NativeStorage && s.desc !== PLAIN && s.dims !== null && s.dims.length >= minRank) {
    const [n, c, ...rest] = s.dims;
    if (n === l.batch && c === l.channels && sizeOf(rest) === l.spatial) return s.dims;
  }
  return [l.batch, l.channels, l.spatial, 1];
}

const allFloat32 = (...xs: (Storage | null)[]): boolean => xs.every((s) => s === null || isFloat32(s));

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const BATCH_NORM_RUNS: readonly NativeRun[] = [
  {
    kernels: ['batchNormTrain', 'batchNormInfer', 'batchNormBackward'],
    name: 'batch norm: train, eval (either with a fused ReLU), backward',
    native: 'all, any layout',
    fallback: 'float64',
  },
];

export function nativeBatchNormKernels(
  rt: NativeRuntime,
  ref: Kernels,
): Pick<Kernels, 'batchNormTrain' | 'batchNormInfer' | 'batchNormBackward'> {
  const constants = new Map<string, Float32Array>();
  /** A [C] array of `value` (missing affine parameters), shared: native kernels only read it. */
  const filled = (value: number, c: number): Float32Array => {
    let a = constants.get(`${value}:${c}`);
    if (!a) {
      a = new Float32Array(c).fill(value);
      constants.set(`${value}:${c}`, a);
    }
    return a;
  };
  const param = (s: Storage | null, value: number, c: number): Float32Array =>
    s === null ? filled(value, c) : rt.plainInput(s, [c]);

  /** Queues out = 1/sqrt(in + eps) (toInvStd) or 1/in^2 over [C]. */
  function stats(input: Float32Array, c: number, eps: number, toInvStd: boolean): NativeStorage {
    const plan = rt.plan(`batchNormStats:${c}:${eps}:${toInvStd}`, () =>
      rt.addon.batchNormStatsPlan({ channels: c, eps, toInvStd }),
    );
    const out = rt.output(plan.out, c);
    rt.exec('batchNorm', plan.plan, [input, out.buffer]);
    return out;
  }

  /** Queues invStd, and the running statistics moved towards the batch's mean and variance in place. */
  function withRunning(
    mean: NativeStorage,
    variance: NativeStorage,
    running: NonNullable<KernelSpecs['batchNormTrain']['args']['running']>,
    l: ChannelLayout,
    eps: number,
  ): NativeStorage {
    const c = l.channels;
    const count = l.batch * l.spatial;
    const batches = running.batches ?? null;
    const plan = rt.plan(`batchNormRunning:${c}:${eps}:${count}:${batches !== null}`, () =>
      rt.addon.batchNormRunningPlan({ channels: c, eps, count, countBatches: batches !== null }),
    );
    const invStd = rt.output(plan.stats, c);
    const buffers = [
      mean.buffer,
      variance.buffer,
      inPlace('batchNormTrain', 'running mean', running.mean, rt),
      inPlace('batchNormTrain', 'running variance', running.variance, rt),
      invStd.buffer,
      ...(batches === null ? [] : [inPlace('batchNormTrain', 'num_batches_tracked', batches, rt)]),
    ];
    rt.exec('batchNorm', plan.plan, buffers, { momentum: running.momentum });
    return invStd;
  }

  return {
    batchNormTrain(args: KernelSpecs['batchNormTrain']['args']) {
      const { layout: l, x, weight, bias, eps } = args;
      const relu = args.relu ?? false;
      if (
        !allFloat32(
          x,
          weight,
          bias,
          args.running?.mean ?? null,
          args.running?.variance ?? null,
          args.running?.batches ?? null,
        )
      )
        return refFallback(rt, ref, 'batchNormTrain', 'not float32', args);
      if (isEmpty(l)) return refFallback(rt, ref, 'batchNormTrain', 'empty tensor', args);
      const dims = channelDims(x, l);
      const src = rt.descOf(x, dims);
      const affine = weight !== null || bias !== null;
      const options = { training: true, affine, relu, eps };
      const plan = rt.plan(`batchNorm:${src}:${affine}:train:${relu}:${eps}`, () =>
        rt.addon.batchNormPlan(src, options),
      );
      const input = rt.input(x, plan.src, dims);
      const affineBuffers = affine ? [param(weight, 1, l.channels), param(bias, 0, l.channels)] : [];
      const mean = rt.output(plan.mean, l.channels);
      const variance = rt.output(plan.variance, l.channels);
      const y = rt.output(plan.dst, x.size);
      // The ReLU's record: oneDNN's workspace (a bit per element of this layout).
      const reluMask = plan.workspace === undefined ? null : rt.workspace(plan.workspace);
      rt.exec('batchNorm', plan.plan, [
        input,
        ...affineBuffers,
        mean.buffer,
        variance.buffer,
        y.buffer,
        ...(reluMask ? [reluMask.buffer] : []),
      ]);
      const invStd = args.running
        ? withRunning(mean, variance, args.running, l, eps)
        : stats(variance.buffer, l.channels, eps, true);
      return { y, mean, invStd, variance, reluMask };
    },
    batchNormInfer(args: KernelSpecs['batchNormInfer']['args']) {
      const { layout: l, x, weight, bias, mean, variance, eps } = args;
      const relu = args.relu ?? false;
      if (!allFloat32(x, weight, bias, mean, variance))
        return refFallback(rt, ref, 'batchNormInfer', 'not float32', args);
      if (isEmpty(l)) return refFallback(rt, ref, 'batchNormInfer', 'empty tensor', args);
      const dims = channelDims(x, l);
      const src = rt.descOf(x, dims);
      const affine = weight !== null || bias !== null;
      const options = { training: false, affine, relu, eps };
      const plan = rt.plan(`batchNorm:${src}:${affine}:infer:${relu}:${eps}`, () =>
        rt.addon.batchNormPlan(src, options),
      );
      const input = rt.input(x, plan.src, dims);
      const affineBuffers = affine ? [param(weight, 1, l.channels), param(bias, 0, l.channels)] : [];
      const y = rt.output(plan.dst, x.size);
      const m = rt.plainInput(mean, [l.channels]);
      const v = rt.plainInput(variance, [l.channels]);
      rt.exec('batchNorm', plan.plan, [input, ...affineBuffers, m, v, y.buffer]);
      return y;
    },
    batchNormBackward(args: KernelSpecs['batchNormBackward']['args']) {
      const { layout: l, gy, x, weight, mean, invStd, batchStats, withAffine } = args;
      const reluMask = args.reluMask ?? null;
      if (!allFloat32(gy, x, weight, mean, invStd))
        return refFallback(rt, ref, 'batchNormBackward', 'not float32', args);
      // A mask the reference forward made (a fallback there) is its own format: stay with it.
      if (reluMask !== null && !(reluMask instanceof NativeStorage))
        return refFallback(rt, ref, 'batchNormBackward', 'reference relu mask', args);
      if (isEmpty(l)) return refFallback(rt, ref, 'batchNormBackward', 'empty tensor', args);
      const dims = channelDims(x, l);
      const src = rt.descOf(x, dims);
      // The weight scales dx, so it is bound whenever present (its gradient is then dropped).
      const affine = withAffine || weight !== null;
      const relu = reluMask !== null;
      const options = { affine, eps: BACKWARD_EPS, globalStats: !batchStats, relu };
      const plan = rt.plan(`batchNormBackward:${src}:${affine}:${batchStats}:${relu}`, () =>
        rt.addon.batchNormBackwardPlan(src, options),
      );
      const input = rt.input(x, plan.src, dims);
      const diffDst = rt.input(gy, plan.diffDst, dims);
      const m = rt.plainInput(mean, [l.channels]);
      const variance = stats(rt.plainInput(invStd, [l.channels]), l.channels, BACKWARD_EPS, false);
      const gx = rt.output(plan.diffSrc, x.size);
      const gScale = affine ? rt.output(plan.mean, l.channels) : null;
      const gShift = affine ? rt.output(plan.mean, l.channels) : null;
      // The shift slot only has to be bound (see batch_norm.cc): the mean is a [C] buffer at hand.
      const scaleShift = affine ? [param(weight, 1, l.channels), m] : [];
      const diffs = gScale && gShift ? [gScale.buffer, gShift.buffer] : [];
      const workspace = reluMask ? [reluMask.buffer] : [];
      rt.exec('batchNormBackward', plan.plan, [
        input,
        diffDst,
        m,
        variance.buffer,
        ...scaleShift,
        gx.buffer,
        ...diffs,
        ...workspace,
      ]);
      // Queued work after this release can only come later, so the pool may hand it out again.
      variance.release();
      if (withAffine) return { x: gx, weight: gScale, bias: gShift };
      gScale?.release();
      gShift?.release();
      return { x: gx, weight: null, bias: null };
    },
  };
}
