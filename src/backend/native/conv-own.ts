/**
 * The 'own' conv algorithms: convkit's own 3x3, stride-1, padding-1 kernels, per build, and on AVX2
 * builds a Winograd F(2x2, 5x5) for 5x5 convs padded by 2 (AlexNet's second conv).
 * - 'own4' (every build with AVX2): Winograd F(4x4, 3x3) on 8-channel blocks
 *   (native/src/own_winograd.cc, own_winograd_6pt.h): 36 products per 4x4 outputs where F(2x2,
 *   3x3) takes 64, at the price of larger rounding; a forward (inference and training), a
 *   backward data and a backward weights, measured against the others per shape. On AVX-512
 *   builds the same on 16-channel blocks where its transformed weights fit six L2 caches
 *   (native/src/own_winograd16.cc, own_winograd16_weights.cc: CIFAR ResNet-20's step 120 -> 95
 *   ms on Zen 4), elsewhere the AVX2 code, against oneDNN's AVX-512 F(4x4, 3x3).
 * - AVX-512 builds: a direct kernel on 16-channel blocks (native/src/own_conv.cc), where oneDNN's
 *   JIT kernel is slow: CIFAR ResNet's 16-channel convs ran at 60-70 % of the FMA peak on Zen 5,
 *   this loop at about 85 %; with a bias and a ReLU in inference, where it also beat oneDNN on
 *   14x14 and 7x7 maps at batch 1 (ResNet-50's layer4, GoogLeNet's 3x3 branches). Forward,
 *   backward data and backward weights (own_conv_weights.cc).
 * - Every build with AVX2: a 1x1 inference forward of stride 1 or 2 (own_conv1x1.cc, on 16-channel
 *   blocks with AVX-512, on 8 with AVX2, with a bias and post-ops): compiled with the addon, it
 *   runs a weight's first use, where oneDNN would JIT-compile a kernel per shape (own1x1Shape).
 * - AVX2 builds: a Winograd F(2x2, 3x3) kernel on 8-channel blocks (native/src/own_winograd.cc),
 *   since oneDNN 2.6 has Winograd only for AVX-512. Forward, backward data and backward weights
 *   (own_winograd_weights.cc).
 * It runs a forward (the AVX2 kernel with a bias, an addend and a ReLU too; its inference forward
 * on weights transformed once per weight version), and a backward data as the forward of the
 * transposed conv with the weights turned (conv-transposed.ts), each measured against oneDNN's
 * like any candidate.
 */
import type { Conv2dGeometry } from '../backend.js';
import type { Storage } from '../../core/storage.js';
import type { PlanResult } from './addon.js';
import type { ForwardPlan } from './conv.js';
import { squareStride1Shape, winogradShape } from './conv-algorithm.js';
import { type TurnedWeightsPlan, transposedGeometry } from './conv-transposed.js';
import { NativeStorage, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- own_conv.cc
    /**
     * buffers [src nChw16c, weights OIhw16i16o, (bias), dst nChw16c, (addend), (guardWeights)]
     * (tile 4 on AVX-512 builds within six L2 caches: own_winograd16.cc's F(4x4, 3x3), with
     * post-ops and transformed weights of `lanes` 16), y = relu?(conv + bias) (other tile-4 plans, and builds without AVX-512: those of
     * ownWinogradPlan, which also runs 5x5 convs); an error
     * "has no own implementation" unless 3x3, stride 1 (AVX-512 builds, tile 2: or 2, a forward's),
     * undilated, ungrouped, padded by 1, and (AVX-512 builds, tile 2) without an addend; or (every
     * build with AVX2) 1x1, stride 1 or 2, unpadded (undilated, ungrouped), with them: buffers
     * [src, weights, (bias), dst, (addend)] in the blocks above (AVX2 builds: nChw8c, OIhw8i8o).
     */
    ownConvPlan(geometry: Conv2dGeometry, postOps?: OwnPostOps): OwnForwardPlanResult;
    // ---- own_winograd.cc
    /**
     * buffers [src nChw8c, weights OIhw8i8o, (bias), dst nChw8c, (addend nChw8c)]: y = conv + bias,
     * + addend, then ReLU, as conv2dPlan's post-ops. With `transformed`, `weights` are their
     * transform and one more buffer, last, `guardWeights`, holds them as OIhw8i8o (the NaN/Inf
     * scan). `tile` 4: F(4x4, 3x3), else F(2x2, 3x3); a 5x5 conv padded by 2 (stride 1...):
     * F(2x2, 5x5), tile 2 only. The AVX2 build's ownConvPlan, on every build with AVX2 and FMA;
     * otherwise the error of ownConvPlan.
     */
    ownWinogradPlan(geometry: Conv2dGeometry, postOps?: OwnPostOps): OwnForwardPlanResult;
    /**
     * buffers [weights OIhw8i8o, transformed]: the weights as a `transformed` ownWinogradPlan
     * of the same tile reads them (plain [(tile + kernel side - 1)^2 positions, outputs / 16,
     * inputs rounded up to 8, 16 outputs]); `lanes` 16 (tile 4, AVX-512 builds): from OIhw16i16o,
     * inputs rounded up to 16, as a `transformed` ownConvPlan of 16 lanes reads them.
     */
    ownWinogradWeightsTransformPlan(
      geometry: Conv2dGeometry,
      options?: { tile?: 2 | 4; lanes?: 8 | 16 },
    ): PlanResult<'weights' | 'transformed'>;
    // ---- own_winograd_weights.cc
    /**
     * buffers [src nChw8c, diffDst nChw8c, diffWeights OIhw8i8o], no bias; the 3x3 shapes and
     * builds of ownWinogradPlan.
     */
    ownWinograd3x3BackwardWeightsPlan(
      geometry: Conv2dGeometry,
      options?: { tile?: 2 | 4 },
    ): PlanResult<'src' | 'diffDst' | 'diffWeights'> & { readonly impl: string };
    // ---- own_conv_weights.cc
    /**
     * buffers [src nChw16c, diffDst nChw16c, diffWeights OIhw16i16o], no bias; tile 4 where
     * own_winograd16_weights.cc runs it (as ownConvPlan's tile 4 in training), else an error "has no
     * own4 implementation" (builds without AVX-512: those of ownWinograd3x3BackwardWeightsPlan,
     * tile 4 too); the shapes and error of ownConvPlan.
     */
    ownConv3x3BackwardWeightsPlan(
      geometry: Conv2dGeometry,
      options?: { tile?: 2 | 4 },
    ): PlanResult<'src' | 'diffDst' | 'diffWeights'> & { readonly impl: string };
  }
}

/**
 * What an own forward does after the sum (conv2dPlan's options of the same names), and whether it
 * reads its weights transformed: inference, where they stay as they are from pass to pass (the
 * AVX-512 direct kernel ignores it and refuses the others; the 16-lane F(4x4, 3x3) takes them all).
 */
export interface OwnPostOps {
  readonly bias: boolean;
  readonly relu: boolean;
  readonly sum: boolean;
  readonly transformed?: boolean;
  /** Winograd's outputs per tile side: 2 (the default) or 4 (F(4x4, 3x3)). */
  readonly tile?: 2 | 4;
}

/** The Winograd tile of an own algorithm: 'own4' F(4x4, 3x3), 'own' F(2x2, 3x3). */
export const ownTile = (algorithm: 'own' | 'own4'): 2 | 4 => (algorithm === 'own4' ? 4 : 2);
/** An own forward plan: buffers [src, weights, (bias), dst, (addend), (guardWeights)]. */
export type OwnForwardPlanResult = PlanResult<'src' | 'weights' | 'dst'> & {
  readonly bias?: number;
  readonly addend?: number;
  readonly guardWeights?: number;
  readonly impl: string;
  /** The lanes of its transformed weights where not 8 (the AVX-512 build's 16-lane F(4x4, 3x3)). */
  readonly lanes?: 16;
};
/** A forward plan that reads its weights transformed (transformedWeights), kept on the weight. */
export type TransformingPlan = ForwardPlan & {
  readonly transformed: true;
  readonly guardWeights: number;
  readonly tile: 2 | 4;
  readonly lanes: 8 | 16;
};

const paddedBy = (g: Conv2dGeometry, pad: number): boolean =>
  [g.padTop, g.padBottom, g.padLeft, g.padRight].every((p) => p === pad);

/** A 3x3 conv every own kernel runs: Winograd's shapes (3x3, stride 1...) padded by 1 on every side. */
export const own3x3Shape = (g: Conv2dGeometry): boolean => winogradShape(g) && paddedBy(g, 1);

/**
 * A conv an own kernel may run: own3x3Shape, or (the AVX2 build's F(2x2, 5x5), forward and
 * backward data) 5x5, stride 1, undilated, ungrouped, padded by 2 on every side.
 */
export const ownShape = (g: Conv2dGeometry): boolean => own3x3Shape(g) || (squareStride1Shape(g, 5) && paddedBy(g, 2));

/**
 * A 3x3 conv of stride 2 padded by 1 (ResNet's downsampling ones; undilated, ungrouped): the AVX-512
 * build's own kernel runs its inference forward (native/src/own_conv.cc, with a bias and a ReLU).
 */
export const own3x3Stride2Shape = (g: Conv2dGeometry): boolean =>
  [g.kernelH, g.kernelW, g.strideH, g.strideW].every((v, i) => v === [3, 3, 2, 2][i]) &&
  g.dilationH === 1 &&
  g.dilationW === 1 &&
  g.groups === 1 &&
  paddedBy(g, 1);

/**
 * A 1x1 conv of stride 1 or 2 (ResNet's projections), unpadded (undilated, ungrouped): the own
 * forward of builds with AVX2 (native/src/own_conv1x1.cc, with a bias and post-ops), in inference
 * (conv.ts) the first use's kernel under 'tune' (conv-algorithm.ts's `cold`: no per-shape JIT
 * compilation), and a candidate from the second on.
 */
export const own1x1Shape = (g: Conv2dGeometry): boolean =>
  [g.kernelH, g.kernelW, g.dilationH, g.dilationW, g.groups].every((v) => v === 1) &&
  g.strideH === g.strideW &&
  (g.strideH === 1 || g.strideH === 2) &&
  paddedBy(g, 0);

/**
 * The own kernel's forward plan of `g` with `postOps` (made once, then from the plan cache); an
 * error "has no own implementation" where this build's kernel has none (AVX-512: an addend).
 */
export function ownForwardPlan(rt: NativeRuntime, g: Conv2dGeometry, key: string, postOps: OwnPostOps): ForwardPlan {
  return rt.plan<ForwardPlan>(key, () => {
    const p = rt.addon.ownConvPlan(g, postOps);
    return p.guardWeights === undefined
      ? { ...p, gemm: false }
      : { ...p, gemm: false, transformed: true, tile: postOps.tile ?? 2, lanes: p.lanes ?? 8 };
  });
}

/**
 * `weight` as `plan` reads it: transformed once per weight version, the transform kept on the
 * weight as its conversions are (a write to it drops them). The caller must not release it. The
 * transform's plan is made here, not with the conv's: the tuner drops what its measurement made.
 */
export function transformedWeights(
  rt: NativeRuntime,
  weight: Storage,
  g: Conv2dGeometry,
  plan: TransformingPlan,
): Float32Array {
  const kept = weight instanceof NativeStorage ? weight.convertedTo(plan.weights) : undefined;
  if (kept !== undefined) return kept.buffer;
  const transform = rt.plan(
    `ownWinogradWeightsTransform:${g.outChannels},${g.inChannels},${g.kernelH}:${plan.tile}:${plan.lanes}`,
    () => rt.addon.ownWinogradWeightsTransformPlan(g, { tile: plan.tile, lanes: plan.lanes }),
  );
  const from = rt.input(weight, plan.guardWeights, [g.outChannels, g.inChannels, g.kernelH, g.kernelW]);
  const transformed = rt.output(plan.weights, Math.ceil(rt.descInfo(plan.weights).bytes / 4));
  rt.exec('conv2d', transform.plan, [from, transformed.buffer]);
  if (weight instanceof NativeStorage) weight.rememberConverted(plan.weights, transformed);
  return transformed.buffer;
}

/** A backward-data plan run as the own kernel's forward of the transposed conv: turned weights. */
export type OwnBackwardDataPlan = TurnedWeightsPlan & {
  readonly plan: number;
  readonly impl: string;
  readonly diffDst: number;
  readonly diffSrc: number;
};

/** The own kernel's backward-data plan of `g`: its forward (of `tile`) on the transposed conv. */
export function ownBackwardDataPlan(
  rt: NativeRuntime,
  g: Conv2dGeometry,
  key: string,
  tile: 2 | 4 = 2,
): OwnBackwardDataPlan {
  return rt.plan<OwnBackwardDataPlan>(key, () => {
    const p = rt.addon.ownConvPlan(transposedGeometry(g), { bias: false, relu: false, sum: false, tile });
    return { plan: p.plan, diffDst: p.src, weights: p.weights, diffSrc: p.dst, impl: p.impl, transposed: true };
  });
}

/**
 * The own kernel's backward-weights plan of `g` (of `tile`: F(4x4, 3x3), in the blocks the
 * forwards of its build use): oneDNN's plan's buffers, with no bias.
 */
export function ownBackwardWeightsPlan(
  rt: NativeRuntime,
  g: Conv2dGeometry,
  key: string,
  tile: 2 | 4 = 2,
): PlanResult<'src' | 'diffDst' | 'diffWeights'> & { readonly diffBias?: number; readonly impl: string } {
  return rt.plan(key, () => rt.addon.ownConv3x3BackwardWeightsPlan(g, { tile }));
}
