/**
 * Native max and average pooling, forward and backward, on the input's layout (float32). Ceil
 * mode becomes extra bottom/right padding (as PyTorch hands it to oneDNN). Taken natively:
 * - max pooling without dilation (with dilation a window may see no pixel; the ref kernel handles that);
 * - average pooling without divisorOverride, excluding padding always, and including padding when
 *   no window hangs past the padded input (oneDNN then divides by the whole kernel, PyTorch by the
 *   window clipped to the padded input);
 * - adaptive average pooling when the input size divides evenly by the output size (1x1 included).
 * Max pooling keeps oneDNN's workspace only when the op says a backward pass follows (`training`); the backward needs the
 * forward's src layout, remembered per workspace. An average backward reuses the layout of the
 * last forward with the same geometry (any layout is correct; that one avoids reorders).
 */
import { BackendError } from '../../core/errors.js';
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { KernelName, KernelSpecs, Kernels, Pool2dGeometry } from '../backend.js';
import type { PoolKind } from './addon.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, NativeStorage, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- pool.cc; geometry read by field name (NativePoolGeometry below)
    /** buffers [src, dst, (workspace)]; workspace only for max pooling in training. */
    poolPlan(
      kind: PoolKind,
      geometry: NativePoolGeometry,
      src: number,
      options: { training: boolean },
    ): PlanResult<'src' | 'dst'> & { readonly workspace?: number };
    /** `src` is the forward's src desc; buffers [diffDst, (workspace), diffSrc] */
    poolBackwardPlan(
      kind: PoolKind,
      geometry: NativePoolGeometry,
      src: number,
    ): PlanResult<'diffDst' | 'diffSrc'> & { readonly workspace?: number };
  }
}

/** Bottom/right padding that makes oneDNN produce outH x outW: at least the symmetric padding. */
function extraPadding(g: Pool2dGeometry): { bottom: number; right: number } {
  const bottom = Math.max(g.padH, (g.outH - 1) * g.strideH + g.kernelH - g.inH - g.padH);
  const right = Math.max(g.padW, (g.outW - 1) * g.strideW + g.kernelW - g.inW - g.padW);
  return { bottom, right };
}

/** The window as the addon reads it, by field name (native/src/pool.cc): ceil mode as extra bottom/right padding. */
export type NativePoolGeometry = Omit<Pool2dGeometry, 'padH' | 'padW' | 'dilationH' | 'dilationW'> & {
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
};

function nativeGeometry(g: Pool2dGeometry): NativePoolGeometry {
  const { bottom, right } = extraPadding(g);
  const { batch, channels, inH, inW, kernelH, kernelW, strideH, strideW, outH, outW } = g;
  return {
    batch,
    channels,
    inH,
    inW,
    kernelH,
    kernelW,
    strideH,
    strideW,
    padTop: g.padH,
    padLeft: g.padW,
    padBottom: bottom,
    padRight: right,
    outH,
    outW,
  };
}

/** A plan cache key: every field, in nativeGeometry's order. */
const geometryKey = (n: NativePoolGeometry): string => Object.values(n).join(',');

const srcDims = (g: Pool2dGeometry): number[] => [g.batch, g.channels, g.inH, g.inW];
const dstDims = (g: Pool2dGeometry): number[] => [g.batch, g.channels, g.outH, g.outW];
const isEmpty = (g: Pool2dGeometry): boolean => g.batch * g.channels * g.inH * g.inW === 0;

/** The oneDNN average kind for these options, or why the reference kernel must run. */
function avgKind(
  g: Pool2dGeometry,
  countIncludePad: boolean,
  divisorOverride: number | null,
): PoolKind | { reason: string } {
  if (divisorOverride !== null) return { reason: 'divisorOverride' };
  if (isEmpty(g)) return { reason: 'empty tensor' };
  if (!countIncludePad) return 'avg_exclude_padding';
  const { bottom, right } = extraPadding(g);
  return bottom === g.padH && right === g.padW
    ? 'avg_include_padding'
    : { reason: 'count_include_pad with windows past the padding (ceil mode)' };
}

/** Adaptive pooling as a plain average pool when the sizes divide evenly, else null. */
function adaptiveGeometry(a: Omit<KernelSpecs['adaptiveAvgPool2d']['args'], 'x'>): Pool2dGeometry | null {
  if (a.inH % a.outH !== 0 || a.inW % a.outW !== 0) return null;
  const kernelH = a.inH / a.outH;
  const kernelW = a.inW / a.outW;
  return {
    batch: a.batch,
    channels: a.channels,
    inH: a.inH,
    inW: a.inW,
    kernelH,
    kernelW,
    strideH: kernelH,
    strideW: kernelW,
    padH: 0,
    padW: 0,
    dilationH: 1,
    dilationW: 1,
    outH: a.outH,
    outW: a.outW,
  };
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const POOL_RUNS: readonly NativeRun[] = [
  {
    kernels: ['maxPool2d', 'maxPool2dBackward'],
    name: 'max pooling, forward and backward',
    native:
      "no dilation (ceil mode as extra bottom/right padding); loops of our own on blocked maps and, in inference, nhwc ones (a window's maximum as a tree of vector maxima, windows with a NaN redone by PyTorch's rule; the backward gathers each pixel's gradient from the windows that hold it)",
    fallback: 'dilation > 1',
  },
  {
    kernels: ['avgPool2d', 'avgPool2dBackward'],
    name: 'average pooling, forward and backward',
    native: 'exclude padding: all; include padding: when no window hangs past the padded input',
    fallback: 'ceil-mode windows past the padding with count_include_pad, divisorOverride',
  },
  {
    kernels: ['adaptiveAvgPool2d', 'adaptiveAvgPool2dBackward'],
    name: 'adaptive average pooling',
    native: 'input divisible by the output (global pooling included)',
    fallback: 'other sizes',
  },
];

type PoolKernels =
  | 'maxPool2d'
  | 'maxPool2dBackward'
  | 'avgPool2d'
  | 'avgPool2dBackward'
  | 'adaptiveAvgPool2d'
  | 'adaptiveAvgPool2dBackward';

export function nativePoolKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, PoolKernels> {
  /** The forward's src desc of each native max-pool workspace. */
  const workspaceSrc = new WeakMap<Storage, number>();
  /** The src desc of the last average-pool forward per kind and geometry. */
  const avgSrc = new Map<string, number>();

  function avgForward(op: KernelName, kind: PoolKind, g: Pool2dGeometry, x: Storage): Storage {
    const dims = srcDims(g);
    const n = nativeGeometry(g);
    const src = rt.descOf(x, dims);
    avgSrc.set(`${kind}:${geometryKey(n)}`, src);
    const plan = rt.plan(`pool:${kind}:${geometryKey(n)}:${src}:false`, () =>
      rt.addon.poolPlan(kind, n, src, { training: false }),
    );
    const input = rt.input(x, plan.src, dims);
    const y = rt.output(plan.dst, sizeOf(dstDims(g)));
    rt.exec(op, plan.plan, [input, y.buffer]);
    return y;
  }

  function avgBackward(op: KernelName, kind: PoolKind, g: Pool2dGeometry, gy: Storage): Storage {
    const n = nativeGeometry(g);
    const src = avgSrc.get(`${kind}:${geometryKey(n)}`) ?? rt.plainDesc(srcDims(g));
    const plan = rt.plan(`poolBackward:${kind}:${geometryKey(n)}:${src}`, () =>
      rt.addon.poolBackwardPlan(kind, n, src),
    );
    const diffDst = rt.input(gy, plan.diffDst, dstDims(g));
    const gx = rt.output(plan.diffSrc, sizeOf(srcDims(g)));
    rt.exec(op, plan.plan, [diffDst, gx.buffer]);
    return gx;
  }

  return {
    maxPool2d(args: KernelSpecs['maxPool2d']['args']) {
      const { geometry: g, x } = args;
      if (!isFloat32(x)) return refFallback(rt, ref, 'maxPool2d', 'not float32', args);
      if (isEmpty(g)) return refFallback(rt, ref, 'maxPool2d', 'empty tensor', args);
      if (g.dilationH !== 1 || g.dilationW !== 1) return refFallback(rt, ref, 'maxPool2d', 'dilation', args);
      const dims = srcDims(g);
      const n = nativeGeometry(g);
      const src = rt.descOf(x, dims);
      const training = args.training ?? false;
      const plan = rt.plan(`pool:max:${geometryKey(n)}:${src}:${training}`, () =>
        rt.addon.poolPlan('max', n, src, { training }),
      );
      const input = rt.input(x, plan.src, dims);
      const y = rt.output(plan.dst, sizeOf(dstDims(g)));
      if (plan.workspace === undefined) {
        rt.exec('maxPool2d', plan.plan, [input, y.buffer]);
        return { y, workspace: rt.fromValues(new Float32Array(0)) };
      }
      const workspace = rt.workspace(plan.workspace);
      workspaceSrc.set(workspace, src);
      rt.exec('maxPool2d', plan.plan, [input, y.buffer, workspace.buffer]);
      return { y, workspace };
    },
    maxPool2dBackward(args: KernelSpecs['maxPool2dBackward']['args']) {
      const { geometry: g, workspace, gy } = args;
      // A forward pass that ran on the reference kernel left a reference workspace.
      if (!(workspace instanceof NativeStorage))
        return refFallback(rt, ref, 'maxPool2dBackward', 'its forward ran the reference kernel', args);
      const src = workspaceSrc.get(workspace);
      if (src === undefined)
        throw new BackendError('maxPool2d', 'the forward pass kept no workspace (gradients were not being recorded)');
      const n = nativeGeometry(g);
      const plan = rt.plan(`poolBackward:max:${geometryKey(n)}:${src}`, () => rt.addon.poolBackwardPlan('max', n, src));
      if (plan.workspace !== workspace.desc)
        throw new BackendError('maxPool2d', 'the workspace does not match the backward pass');
      const diffDst = rt.input(gy, plan.diffDst, dstDims(g));
      const gx = rt.output(plan.diffSrc, sizeOf(srcDims(g)));
      rt.exec('maxPool2dBackward', plan.plan, [diffDst, workspace.buffer, gx.buffer]);
      return gx;
    },
    avgPool2d(args: KernelSpecs['avgPool2d']['args']) {
      const kind = avgKind(args.geometry, args.countIncludePad, args.divisorOverride);
      if (typeof kind !== 'string') return refFallback(rt, ref, 'avgPool2d', kind.reason, args);
      if (!isFloat32(args.x)) return refFallback(rt, ref, 'avgPool2d', 'not float32', args);
      return avgForward('avgPool2d', kind, args.geometry, args.x);
    },
    avgPool2dBackward(args: KernelSpecs['avgPool2dBackward']['args']) {
      const kind = avgKind(args.geometry, args.countIncludePad, args.divisorOverride);
      if (typeof kind !== 'string') return refFallback(rt, ref, 'avgPool2dBackward', kind.reason, args);
      if (!isFloat32(args.gy)) return refFallback(rt, ref, 'avgPool2dBackward', 'not float32', args);
      return avgBackward('avgPool2dBackward', kind, args.geometry, args.gy);
    },
    adaptiveAvgPool2d(args: KernelSpecs['adaptiveAvgPool2d']['args']) {
      const g = adaptiveGeometry(args);
      if (g === null)
        return refFallback(rt, ref, 'adaptiveAvgPool2d', 'input size not a multiple of the output size', args);
      if (isEmpty(g)) return refFallback(rt, ref, 'adaptiveAvgPool2d', 'empty tensor', args);
      if (!isFloat32(args.x)) return refFallback(rt, ref, 'adaptiveAvgPool2d', 'not float32', args);
      return avgForward('adaptiveAvgPool2d', 'avg_exclude_padding', g, args.x);
    },
    adaptiveAvgPool2dBackward(args: KernelSpecs['adaptiveAvgPool2dBackward']['args']) {
      const g = adaptiveGeometry(args);
      if (g === null)
        return refFallback(rt, ref, 'adaptiveAvgPool2dBackward', 'input size not a multiple of the output size', args);
      if (isEmpty(g)) return refFallback(rt, ref, 'adaptiveAvgPool2dBackward', 'empty tensor', args);
      if (!isFloat32(args.gy)) return refFallback(rt, ref, 'adaptiveAvgPool2dBackward', 'not float32', args);
      return avgBackward('adaptiveAvgPool2dBackward', 'avg_exclude_padding', g, args.gy);
    },
  };
}
