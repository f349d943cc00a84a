/**
 * Native 2-D convolution: forward (bias, fused addend and ReLU), backward data, backward weights
 * (+ bias) for float32 with any groups, stride, dilation and asymmetric padding. oneDNN chooses
 * the layouts of activations and weights; inputs are reordered only when their layout differs
 * (a weight's conversion is cached on its storage). Weight and bias gradients come out plain,
 * for the optimiser. A strided forward that oneDNN would run as im2col + gemm runs as its
 * space-to-depth cut instead (NativeRuntime.spaceToDepth). float64 and empty tensors go to the
 * reference kernels.
 */
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { Conv2dGeometry, KernelSpecs, Kernels } from '../backend.js';
import type { NativeAddon } from './addon.js';
import { convAlgorithmChooser, winogradShape } from './conv-algorithm.js';
import {
  type OwnBackwardDataPlan,
  ownBackwardDataPlan,
  ownBackwardWeightsPlan,
  ownForwardPlan,
  own1x1Shape,
  own3x3Stride2Shape,
  own3x3Shape,
  ownShape,
  ownTile,
  type TransformingPlan,
  transformedWeights,
} from './conv-own.js';
import {
  type TransposedPlan,
  type TurnedWeightsPlan,
  type TurnStep,
  transposable,
  transposedPlan,
  turnSteps,
  turnedWeights,
} from './conv-transposed.js';
import type { ConvAlgorithm } from './conv-tuning.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- conv.cc; geometry: a Conv2dGeometry, read by field name and checked in C++
    /**
     * buffers [src, weights, (bias), dst, (addend)]; with sum, the addend is a buffer of its own when
     * the plan reports `addend`, else dst must already hold it. `gemm`: oneDNN runs it as im2col + gemm.
     * `impl`: oneDNN's name of the kernel it chose (`jit:avx512_core`, `ref:any`...).
     */
    conv2dPlan(
      geometry: Conv2dGeometry,
      options: {
        bias: boolean;
        relu: boolean;
        sum: boolean;
        training: boolean;
        /** The forward algorithm ('direct' when absent); an error "has no ... implementation" where oneDNN has none. */
        algorithm?: ConvAlgorithm;
        /** The original stride and kernel when this is the stride-1 conv of a space-to-depth cut (all four or none). */
        cutStrideH?: number;
        cutStrideW?: number;
        cutKernelH?: number;
        cutKernelW?: number;
      },
    ): PlanResult<'src' | 'weights' | 'dst'> & {
      readonly bias?: number;
      readonly addend?: number;
      readonly gemm: boolean;
      readonly impl: string;
      /** Winograd plans: one more buffer, last, the weights in the direct kernel's layout (its NaN/Inf guard). */
      readonly guardWeights?: number;
    };
    /** 'auto': nChw16c on AVX-512 where the channels fill blocks; 'any': oneDNN chooses (CONVKIT_CONV_LAYOUT). */
    setConvLayout(layout: 'auto' | 'any'): void;
    /** buffers [diffDst, weights, diffSrc]; `algorithm` and `impl` as conv2dPlan's */
    conv2dBackwardDataPlan(
      geometry: Conv2dGeometry,
      options?: { algorithm?: ConvAlgorithm },
    ): PlanResult<'diffDst' | 'weights' | 'diffSrc'> & { readonly impl: string };
    /** buffers [src, diffDst, diffWeights, (diffBias)]; `algorithm` and `impl` as conv2dPlan's */
    conv2dBackwardWeightsPlan(
      geometry: Conv2dGeometry,
      options: { bias: boolean; algorithm?: ConvAlgorithm },
    ): PlanResult<'src' | 'diffDst' | 'diffWeights'> & { readonly diffBias?: number; readonly impl: string };
    // ---- space_to_depth.cc; plain data
    /** buffers [x [N, C, inH, inW], dst [N, C*sH*sW, outH, outW]] */
    spaceToDepthInputPlan(sizes: {
      batch: number;
      channels: number;
      inH: number;
      inW: number;
      strideH: number;
      strideW: number;
      padTop: number;
      padLeft: number;
      outH: number;
      outW: number;
    }): PlanResult<'dst'>;
    /** buffers [w [O, C, KH, KW], dst [O, C*sH*sW, ceil(KH/sH), ceil(KW/sW)]] */
    spaceToDepthWeightsPlan(
      sizes: Pick<Conv2dGeometry, 'outChannels' | 'inChannels' | 'kernelH' | 'kernelW' | 'strideH' | 'strideW'>,
    ): PlanResult<'dst'>;
  }
}

type Conv2dKernels = Pick<Kernels, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight'>;
type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

/** The fields of Conv2dGeometry, in a fixed order for plan cache keys (the addon reads them by name). */
const GEOMETRY_FIELDS = [
  'batch',
  'inChannels',
  'inH',
  'inW',
  'outChannels',
  'kernelH',
  'kernelW',
  'strideH',
  'strideW',
  'padTop',
  'padBottom',
  'padLeft',
  'padRight',
  'dilationH',
  'dilationW',
  'groups',
  'outH',
  'outW',
] as const satisfies readonly (keyof Conv2dGeometry)[];

const geometryKey = (g: Conv2dGeometry): string => GEOMETRY_FIELDS.map((f) => g[f]).join(',');

const srcDims = (g: Conv2dGeometry): number[] => [g.batch, g.inChannels, g.inH, g.inW];
const dstDims = (g: Conv2dGeometry): number[] => [g.batch, g.outChannels, g.outH, g.outW];
/** oneDNN's weight dims: goihw when grouped, whose row-major order is the tensor's [O, C/G, kH, kW]. */
function weightDims(g: Conv2dGeometry): number[] {
  const [o, c] = [g.outChannels, g.inChannels / g.groups];
  return g.groups === 1 ? [o, c, g.kernelH, g.kernelW] : [g.groups, o / g.groups, c, g.kernelH, g.kernelW];
}
const isEmpty = (g: Conv2dGeometry): boolean => g.batch === 0 || g.inChannels === 0 || g.outChannels === 0;
/** Strided, ungrouped, undilated: a conv the space-to-depth cut can take. */
const cuttable = (g: Conv2dGeometry): boolean =>
  g.strideH * g.strideW > 1 && g.groups === 1 && g.dilationH === 1 && g.dilationW === 1;

/** Whether some output row or column of the convolution has its whole window in the padding. */
export function hasPaddingOnlyWindow(g: Conv2dGeometry): boolean {
  const axis = (out: number, kernel: number, stride: number, pad: number, dilation: number, size: number): boolean => {
    for (let i = 0; i < out; i++) {
      const first = i * stride - pad;
      // Taps at first + r * dilation, r < kernel: is one of them inside [0, size)?
      let inside = false;
      for (let r = 0; r < kernel && !inside; r++) {
        const at = first + r * dilation;
        inside = at >= 0 && at < size;
      }
      if (!inside) return true;
    }
    return false;
  };
  return (
    axis(g.outH, g.kernelH, g.strideH, g.padTop, g.dilationH, g.inH) ||
    axis(g.outW, g.kernelW, g.strideW, g.padLeft, g.dilationW, g.inW)
  );
}

export type ForwardPlan = ReturnType<NativeAddon['conv2dPlan']>;

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const CONV_RUNS: readonly NativeRun[] = [
  {
    kernels: ['conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight'],
    name: 'conv2d, backward data, backward weight (+ bias)',
    native:
      "all: groups, stride, dilation, asymmetric padding; fused addend + ReLU; a strided conv that oneDNN would run as im2col + gemm (AlexNet's stem) runs forward as its space-to-depth cut, a stride-1 conv on the direct JIT kernel; Winograd for 3x3 stride-1 convs, forward and backward, brgemm kernels on nhwc for forwards without an addend, a stride-1 training forward as the backward data of its transposed conv, and convkit's own 3x3 kernel (direct on AVX-512 builds, with a bias and a ReLU but no addend, and there also the inference forward of stride-2 ones; Winograd F(2x2, 3x3) and F(4x4, 3x3) with them on AVX2 ones), forward and both backward kernels (F(4x4, 3x3): forward and backward data), and on AVX2 builds its Winograd F(2x2, 5x5) for 5x5 convs padded by 2 (forward and backward data), and its 1x1 inference forward of stride 1 or 2 (with a bias and post-ops; it runs a weight's first use), where measured faster ([Algorithm choice](#algorithm-choice))",
    fallback: 'float64, empty tensors',
  },
];

const nhwcProbe = new WeakMap<NativeRuntime, boolean>();
/**
 * Whether oneDNN runs convs on nhwc maps with its brgemm kernels on this CPU (AVX-512): only then
 * may an inference pass keep its maps in nhwc (NativeRuntime.nhwcUpTo). Asked once, with a
 * small 1x1 conv.
 */
export function nhwcConvsAvailable(rt: NativeRuntime): boolean {
  let known = nhwcProbe.get(rt);
  if (known === undefined) {
    const [side, pad] = [8, 0];
    const g: Conv2dGeometry = {
      ...{ batch: 1, inChannels: 16, outChannels: 16, inH: side, inW: side, outH: side, outW: side },
      ...{ kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, groups: 1 },
      ...{ padTop: pad, padBottom: pad, padLeft: pad, padRight: pad },
    };
    const options = { bias: false, relu: false, sum: false, training: false, algorithm: 'brgemm' as const };
    try {
      rt.plan<ForwardPlan>(`conv2d:nhwcProbe`, () => rt.addon.conv2dPlan(g, options));
      known = true;
    } catch (e) {
      if (!(e instanceof Error && e.message.includes('implementation for this'))) throw e;
      known = false;
    }
    nhwcProbe.set(rt, known);
  }
  return known;
}

export function nativeConv2dKernels(rt: NativeRuntime, ref: Kernels): Conv2dKernels {
  const chooser = convAlgorithmChooser(rt);
  /**
   * `cutOf`: when this is the stride-1 conv of a space-to-depth cut, the original geometry. Its
   * plan then recomputes the output without the cut's zero kernel taps when an input holds a NaN
   * or an infinity (0 * NaN would reach outputs whose window does not hold it; conv.cc's cutGuard).
   */
  function conv2d(args: Args<'conv2d'>, cutOf?: Conv2dGeometry): ReturnType<Kernels['conv2d']> {
    const { geometry: g, bias } = args;
    const addend = args.addend ?? null;
    const relu = args.relu ?? false;
    const inputs = [args.x, args.weight, bias, addend];
    if (!inputs.every((s) => s === null || isFloat32(s))) return refFallback(rt, ref, 'conv2d', 'float64 input', args);
    if (isEmpty(g)) return refFallback(rt, ref, 'conv2d', 'empty tensor', args);
    // oneDNN 2.6's conv with a fused addend (sum or binary-add post-op) mishandles output rows or
    // columns whose window lies wholly in the padding: with a bias it leaves the bias out there
    // (ref 11, native 1: test/fuzz/found/conv2dFused-finite-bias-lost-padding-window.json), and
    // with the ReLU post-op too it crashed the process on the host the fuzzer ran on
    // (conv2dFused-crash-relu-addend-padding-window.json; in libdnnl, not in our loops or guard).
    // No real network has such windows (they need padding >= the kernel's reach), so those
    // geometries run the reference kernel.
    if (addend !== null && hasPaddingOnlyWindow(g))
      return refFallback(rt, ref, 'conv2d', 'fused addend with a window all in the padding', args);
    const options = {
      bias: bias !== null,
      relu,
      sum: addend !== null,
      // The op says whether a backward pass follows (post-ops never have one).
      training: (args.training ?? false) && addend === null && !relu,
      cutStrideH: cutOf?.strideH ?? 0,
      cutStrideW: cutOf?.strideW ?? 0,
      cutKernelH: cutOf?.kernelH ?? 0,
      cutKernelW: cutOf?.kernelW ?? 0,
    };
    const cutKey = cutOf === undefined ? '' : `:cut${cutOf.strideH},${cutOf.strideW},${cutOf.kernelH},${cutOf.kernelW}`;
    const shape = `${geometryKey(g)}:${+options.bias}${+options.relu}${+options.sum}${+options.training}${cutKey}`;
    const planOf = (algorithm: ConvAlgorithm): ForwardPlan => {
      const key = `conv2d:${shape}:${algorithm}`;
      if (algorithm === 'transposed') return transposedPlan(rt, g, key);
      if (algorithm === 'own' || algorithm === 'own4')
        return ownForwardPlan(rt, g, key, { ...options, transformed: !options.training, tile: ownTile(algorithm) });
      return rt.plan<ForwardPlan>(key, () => rt.addon.conv2dPlan(g, { ...options, algorithm }));
    };
    // The measured choice (conv-algorithm.ts): Winograd for 3x3 stride-1 convs; brgemm (nhwc,
    // converted in and out) for convs without an addend (its conversion would go untimed),
    // except those oneDNN runs as im2col + gemm (their direct path is the cut below); the
    // transposed conv's backward data for stride-1 training convs without a bias; convkit's own
    // kernels for 3x3 convs, and on AVX2 builds 5x5 ones (the AVX-512 one refuses an addend, 5x5
    // and F(4x4, 3x3), and takes stride 2 in inference: conv-own.ts), and for 1x1 ones without a
    // backward pass (which a weight's first use runs: `cold`; in training oneDNN's kernel was
    // faster from batch 8, and the backward kernels are compiled anyway).
    const candidates: ConvAlgorithm[] = [];
    if (cutOf === undefined && winogradShape(g)) candidates.push('winograd');
    if (cutOf === undefined && addend === null && !planOf('direct').gemm) candidates.push('brgemm');
    if (cutOf === undefined && options.training && !options.bias && transposable(g)) candidates.push('transposed');
    const own1x1 = cutOf === undefined && !options.training && own1x1Shape(g);
    const ownStrided = cutOf === undefined && !options.training && own3x3Stride2Shape(g);
    if ((cutOf === undefined && ownShape(g)) || own1x1 || ownStrided) candidates.push('own');
    if (cutOf === undefined && own3x3Shape(g)) candidates.push('own4');
    const request = {
      kernel: 'conv2d' as const,
      shape,
      planOf,
      candidates,
      weight: args.weight,
      buffers: (p: ForwardPlan) => [p.src, p.weights, p.bias, p.dst, p.addend, p.guardWeights],
      weightSlot: 1,
      layoutSlots: { src: 0, dst: 3 },
      home: candidates.includes('brgemm') && g.outH * g.outW <= rt.nhwcUpTo ? ('brgemm' as const) : ('direct' as const),
      cold: own1x1 ? ('own' as const) : undefined,
      mapArea: g.outH * g.outW,
      // In training the weights change at every step, so their conversion is part of the cost.
      prologue: (p: ForwardPlan) => (options.training ? weightSteps(args.weight, g, p) : []),
    };
    const plan = chooser.plan(request);
    if ((plan.gemm || rt.spaceToDepth === 'always') && cuttable(g) && addend === null) return spaceToDepth(args);
    const x = rt.input(args.x, plan.src, srcDims(g));
    const turned = 'transposed' in plan ? turnedWeights(rt, args.weight, g, plan as TransposedPlan) : null;
    const w =
      turned?.buffer ??
      ('transformed' in plan
        ? transformedWeights(rt, args.weight, g, plan as TransformingPlan)
        : rt.input(args.weight, plan.weights, weightDims(g)));
    const b = bias === null ? null : rt.alignedInput(bias, rt.plainDesc([g.outChannels]), [g.outChannels]);
    const y = rt.output(plan.dst, sizeOf(dstDims(g)));
    const buffers = b === null ? [x, w, y.buffer] : [x, w, b, y.buffer];
    if (addend !== null && plan.addend !== undefined) {
      buffers.push(rt.input(addend, plan.addend, dstDims(g)));
    } else if (addend !== null) {
      // The sum post-op adds what dst holds: copy the addend into the new dst (never into its own buffer).
      const from = rt.descOf(addend, dstDims(g));
      rt.exec('conv2d', rt.reorderPlan(from, plan.dst), [rt.input(addend, from, dstDims(g)), y.buffer]);
    }
    if (plan.guardWeights !== undefined) buffers.push(rt.input(args.weight, plan.guardWeights, weightDims(g)));
    rt.exec('conv2d', plan.plan, buffers);
    turned?.release();
    // An output off the home layout goes back to it, as it was timed: the neighbours (joins,
    // residual sums, pooling) keep the layouts they were tuned with.
    const home = chooser.homePlan(request);
    if (plan === home || plan.dst === home.dst) return y;
    const back = rt.output(home.dst, y.size);
    rt.exec('conv2d', rt.reorderPlan(plan.dst, home.dst), [y.buffer, back.buffer]);
    y.release();
    return back;
  }

  /** The commands that bring `weight` into `plan`'s weights: a reorder, a turn, or none. */
  function weightSteps(weight: Storage, g: Conv2dGeometry, plan: { readonly weights: number }): TurnStep[] {
    const held = rt.descOf(weight, weightDims(g));
    if ('transposed' in plan) return turnSteps(rt, held, g, plan as TurnedWeightsPlan);
    return plan.weights === held ? [] : [{ plan: rt.reorderPlan(held, plan.weights), from: held, to: plan.weights }];
  }

  /**
   * A strided conv that oneDNN would run as im2col + gemm, as the stride-1 conv of its
   * space-to-depth cut (native/src/space_to_depth.cc): the same sums on the direct JIT kernel.
   */
  function spaceToDepth(args: Args<'conv2d'>): ReturnType<Kernels['conv2d']> {
    const { geometry: g } = args;
    rt.spaceToDepthCuts++;
    const [kh, kw] = [Math.ceil(g.kernelH / g.strideH), Math.ceil(g.kernelW / g.strideW)];
    const cut: Conv2dGeometry = {
      ...g,
      inChannels: g.inChannels * g.strideH * g.strideW,
      inH: g.outH + kh - 1,
      inW: g.outW + kw - 1,
      kernelH: kh,
      kernelW: kw,
      strideH: 1,
      strideW: 1,
      padTop: 0,
      padBottom: 0,
      padLeft: 0,
      padRight: 0,
    };
    const inputSizes = {
      batch: g.batch,
      channels: g.inChannels,
      inH: g.inH,
      inW: g.inW,
      strideH: g.strideH,
      strideW: g.strideW,
      padTop: g.padTop,
      padLeft: g.padLeft,
      outH: cut.inH,
      outW: cut.inW,
    };
    const inputPlan = rt.plan(`spaceToDepthInput:${Object.values(inputSizes)}`, () =>
      rt.addon.spaceToDepthInputPlan(inputSizes),
    );
    const { outChannels, inChannels, kernelH, kernelW, strideH, strideW } = g;
    const weightSizes = { outChannels, inChannels, kernelH, kernelW, strideH, strideW };
    const weightPlan = rt.plan(`spaceToDepthWeights:${Object.values(weightSizes)}`, () =>
      rt.addon.spaceToDepthWeightsPlan(weightSizes),
    );
    const x = rt.output(inputPlan.dst, sizeOf(srcDims(cut)));
    rt.exec('conv2d', inputPlan.plan, [rt.plainInput(args.x, srcDims(g)), x.buffer]);
    const weight = rt.output(weightPlan.dst, sizeOf(weightDims(cut)));
    rt.exec('conv2d', weightPlan.plan, [rt.plainInput(args.weight, weightDims(g)), weight.buffer]);
    const y = conv2d({ ...args, x, weight, geometry: cut }, g);
    // Queued work after these releases can only come later, so the pool may hand them out again.
    x.release();
    weight.release();
    return y;
  }

  function conv2dBackwardData(args: Args<'conv2dBackwardData'>): ReturnType<Kernels['conv2dBackwardData']> {
    const { geometry: g } = args;
    if (!isFloat32(args.gy) || !isFloat32(args.weight))
      return refFallback(rt, ref, 'conv2dBackwardData', 'float64 input', args);
    if (isEmpty(g)) return refFallback(rt, ref, 'conv2dBackwardData', 'empty tensor', args);
    const shape = geometryKey(g);
    type Plan = ReturnType<NativeAddon['conv2dBackwardDataPlan']> | OwnBackwardDataPlan;
    const candidates: ConvAlgorithm[] = winogradShape(g) ? ['winograd'] : [];
    if (ownShape(g)) candidates.push('own');
    if (own3x3Shape(g)) candidates.push('own4');
    const plan = chooser.plan<Plan>({
      kernel: 'conv2dBackwardData',
      shape,
      planOf: (algorithm) => {
        const key = `conv2dBackwardData:${shape}:${algorithm}`;
        if (algorithm === 'own' || algorithm === 'own4') return ownBackwardDataPlan(rt, g, key, ownTile(algorithm));
        return rt.plan(key, () => rt.addon.conv2dBackwardDataPlan(g, { algorithm }));
      },
      candidates,
      weight: null,
      buffers: (p) => [p.diffDst, p.weights, p.diffSrc],
      weightSlot: 1,
      // A backward pass runs once per weight version: its conversion is part of the cost.
      prologue: (p) => weightSteps(args.weight, g, p),
    });
    const gy = rt.input(args.gy, plan.diffDst, dstDims(g));
    const turned = 'transposed' in plan ? turnedWeights(rt, args.weight, g, plan) : null;
    const w = turned?.buffer ?? rt.input(args.weight, plan.weights, weightDims(g));
    const gx = rt.output(plan.diffSrc, sizeOf(srcDims(g)));
    rt.exec('conv2dBackwardData', plan.plan, [gy, w, gx.buffer]);
    turned?.release();
    return gx;
  }

  function conv2dBackwardWeight(args: Args<'conv2dBackwardWeight'>): ReturnType<Kernels['conv2dBackwardWeight']> {
    const { geometry: g, withBias } = args;
    if (!isFloat32(args.gy) || !isFloat32(args.x))
      return refFallback(rt, ref, 'conv2dBackwardWeight', 'float64 input', args);
    if (isEmpty(g)) return refFallback(rt, ref, 'conv2dBackwardWeight', 'empty tensor', args);
    const shape = `${geometryKey(g)}:${+withBias}`;
    const candidates: ConvAlgorithm[] = winogradShape(g) ? ['winograd'] : [];
    if (!withBias && own3x3Shape(g)) candidates.push('own', 'own4');
    const plan = chooser.plan({
      kernel: 'conv2dBackwardWeight',
      shape,
      planOf: (algorithm) => {
        const key = `conv2dBackwardWeight:${shape}:${algorithm}`;
        if (algorithm === 'own' || algorithm === 'own4') return ownBackwardWeightsPlan(rt, g, key, ownTile(algorithm));
        return rt.plan(key, () => rt.addon.conv2dBackwardWeightsPlan(g, { bias: withBias, algorithm }));
      },
      candidates,
      weight: null,
      buffers: (p) => [p.src, p.diffDst, p.diffWeights, p.diffBias],
      weightSlot: 2,
    });
    const x = rt.input(args.x, plan.src, srcDims(g));
    const gy = rt.input(args.gy, plan.diffDst, dstDims(g));
    // The gradient stays in oneDNN's layout, the forward's weights layout: an SGD step moves the
    // weight into it once and then reorders nothing (optim.ts); other readers convert it.
    const gw = rt.output(plan.diffWeights, sizeOf(weightDims(g)));
    const gb = withBias ? rt.output(rt.plainDesc([g.outChannels]), g.outChannels) : null;
    rt.exec('conv2dBackwardWeight', plan.plan, gb === null ? [x, gy, gw.buffer] : [x, gy, gw.buffer, gb.buffer]);
    return { weight: gw, bias: gb };
  }

  return { conv2d, conv2dBackwardData, conv2dBackwardWeight };
}
