/**
 * Native concatenation for float32. Along the channels of 4-D tensors the inputs keep their
 * layouts (DenseNet and Inception join blocked conv outputs) and the output is blocked when they
 * are, also where channel counts leave padded blocks (concat.cc); mixed layouts go to oneDNN's
 * concat, which picks the output's. Every other axis works on plain inputs. float64, empty
 * inputs and ranks above 12 run the reference kernel.
 *
 * DenseNet's inference join (concatBatchNormInfer) normalises while it concatenates, so the
 * joined map is written once instead of written, read and written again.
 */
import type { KernelSpecs, Kernels } from '../backend.js';
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, MAX_RANK, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- concat.cc; buffers [src0, ..., srcN-1, dst]
    /** `endToEnd` (chunked plans): the destination is the sources laid end to end (batch 1, outside nhwc). */
    concatPlan(axis: number, srcs: readonly number[]): PlanResult<'dst'> & { endToEnd?: boolean };
    /**
     * buffers [src0, ..., srcN-1, dst, (gamma, beta), mean, variance]: relu?(batch norm) of the channel
     * concatenation of 4-D maps in one pass; null when the sources are not in one chunked layout.
     */
    concatBatchNormPlan(
      srcs: readonly number[],
      options: { affine: boolean; relu: boolean; eps: number },
    ): PlanResult<'dst'> | null;
  }
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const CONCAT_RUNS: readonly NativeRun[] = [
  {
    kernels: ['concat'],
    name: 'concat',
    native:
      "channels of 4-D tensors in any layouts (a copy per chunk when all are nchw, nChw8c/16c of whole blocks, or nhwc, and none at all in a recorded pass at batch 1 in nchw or whole blocks, where the inputs are written in place; nChw8c/16c with padded blocks, as DenseNet-BC's 24 + 12k channels, join lane by lane into a blocked map; else oneDNN's concat); other axes plain",
    fallback: 'float64, empty',
  },
  {
    kernels: ['concatBatchNormInfer'],
    name: 'concat + batch norm (eval) + ReLU',
    native: 'one pass over chunked layouts as above; else the native concat, then batch norm',
    fallback: 'float64, empty',
  },
];

export function nativeConcatKernel(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'concat'> {
  return {
    concat(args: KernelSpecs['concat']['args']) {
      const { xs, shapes, axis } = args;
      if (!xs.every(isFloat32)) return refFallback(rt, ref, 'concat', 'not float32', args);
      const rank = shapes[0]?.length ?? 0;
      if (rank === 0 || rank > MAX_RANK) return refFallback(rt, ref, 'concat', `rank ${rank}`, args);
      if (xs.some((x) => x.size === 0)) return refFallback(rt, ref, 'concat', 'empty input', args);
      const descs =
        axis === 1 && rank === 4 ? xs.map((x, i) => rt.descOf(x, shapes[i])) : shapes.map((s) => rt.plainDesc(s));
      const plan = rt.plan(`concat:${axis}:${descs}`, () => rt.addon.concatPlan(axis, descs));
      const inputs = xs.map((x, i) => rt.input(x, descs[i], shapes[i]));
      const size = xs.reduce((n, x) => n + x.size, 0);
      const y = rt.output(plan.dst, size);
      rt.exec('concat', plan.plan, [...inputs, y.buffer]);
      if (plan.endToEnd === true)
        rt.recorder?.joins.set(
          plan.plan,
          descs.map((d) => rt.descInfo(d).bytes / 4),
        );
      return y;
    },
  };
}

/** The one-pass join where the inputs share a chunked layout, else the native concat and batch norm. */
export function nativeConcatBatchNormKernel(
  rt: NativeRuntime,
  ref: Kernels,
  native: Pick<Kernels, 'concat' | 'batchNormInfer'>,
): Pick<Kernels, 'concatBatchNormInfer'> {
  return {
    concatBatchNormInfer(args: KernelSpecs['concatBatchNormInfer']['args']) {
      const { xs, shapes, weight, bias, mean, variance, eps } = args;
      const relu = args.relu ?? false;
      if (![...xs, weight, bias, mean, variance].every((s) => s === null || isFloat32(s)))
        return refFallback(rt, ref, 'concatBatchNormInfer', 'not float32', args);
      if (xs.some((x) => x.size === 0)) return refFallback(rt, ref, 'concatBatchNormInfer', 'empty input', args);
      const descs = xs.map((x, i) => rt.descOf(x, shapes[i]));
      const affine = weight !== null || bias !== null;
      const plan = rt.plan(`concatBatchNorm:${descs}:${+affine}${+relu}:${eps}`, () =>
        rt.addon.concatBatchNormPlan(descs, { affine, relu, eps }),
      );
      const [batch, , h, w] = shapes[0];
      const channels = shapes.reduce((c, s) => c + s[1], 0);
      if (plan === null) {
        const joined = native.concat({ xs, shapes, axis: 1 });
        const y = native.batchNormInfer({
          x: joined,
          weight,
          bias,
          mean,
          variance,
          eps,
          relu,
          layout: { batch, channels, spatial: h * w },
        });
        joined.release();
        return y;
      }
      const inputs = xs.map((x, i) => rt.input(x, descs[i], shapes[i]));
      const param = (s: Storage | null, value: number): Float32Array =>
        s === null ? rt.filled(channels, value).buffer : rt.plainInput(s, [channels]);
      const stats = [
        ...(affine ? [param(weight, 1), param(bias, 0)] : []),
        rt.plainInput(mean, [channels]),
        rt.plainInput(variance, [channels]),
      ];
      // Transient: a dense layer's first conv reads it and frees it, and each join is wider than the last.
      const y = rt.output(plan.dst, sizeOf([batch, channels, h, w]), true);
      rt.exec('concatBatchNorm', plan.plan, [...inputs, y.buffer, ...stats]);
      return y;
    },
  };
}
