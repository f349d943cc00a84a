/** Native softmax and log-softmax (oneDNN softmax_v2) forward and backward on plain float32; float64 and empty tensors use the reference kernels. */
import type { AxisLayout, KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- softmax.cc (plain, over the middle axis of the layout); buffers [src, dst] / [dst, diffDst, diffSrc]
    softmaxPlan(layout: AxisLayout, options: { log: boolean }): PlanResult<'src' | 'dst'>;
    softmaxBackwardPlan(layout: AxisLayout, options: { log: boolean }): PlanResult<'dst' | 'diffDst' | 'diffSrc'>;
  }
}

const dimsOf = (l: AxisLayout): number[] => [l.outer, l.dim, l.inner];
const isEmpty = (l: AxisLayout): boolean => l.outer * l.dim * l.inner === 0;

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const SOFTMAX_RUNS: readonly NativeRun[] = [
  {
    kernels: ['softmax', 'softmaxBackward'],
    name: 'softmax / log-softmax, forward and backward',
    native: 'all (plain)',
    fallback: 'float64',
  },
];

export function nativeSoftmaxKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'softmax' | 'softmaxBackward'> {
  return {
    softmax(args: KernelSpecs['softmax']['args']) {
      const { x, layout, log } = args;
      if (!isFloat32(x)) return refFallback(rt, ref, 'softmax', 'not float32', args);
      if (isEmpty(layout)) return refFallback(rt, ref, 'softmax', 'empty tensor', args);
      const dims = dimsOf(layout);
      const plan = rt.plan(`softmax:${dims}:${log}`, () => rt.addon.softmaxPlan(layout, { log }));
      const src = rt.input(x, plan.src, dims);
      const y = rt.output(plan.dst, x.size);
      rt.exec(log ? 'logSoftmax' : 'softmax', plan.plan, [src, y.buffer]);
      return y;
    },
    softmaxBackward(args: KernelSpecs['softmaxBackward']['args']) {
      const { gy, y, layout, log } = args;
      if (!isFloat32(gy) || !isFloat32(y)) return refFallback(rt, ref, 'softmaxBackward', 'not float32', args);
      if (isEmpty(layout)) return refFallback(rt, ref, 'softmaxBackward', 'empty tensor', args);
      const dims = dimsOf(layout);
      const plan = rt.plan(`softmaxBackward:${dims}:${log}`, () => rt.addon.softmaxBackwardPlan(layout, { log }));
      const dst = rt.input(y, plan.dst, dims);
      const diffDst = rt.input(gy, plan.diffDst, dims);
      const gx = rt.output(plan.diffSrc, gy.size);
      rt.exec(log ? 'logSoftmaxBackward' : 'softmaxBackward', plan.plan, [dst, diffDst, gx.buffer]);
      return gx;
    },
  };
}
