/**
 * The 'transposed' forward algorithm: a stride-1 training conv run as oneDNN's backward-data
 * primitive of its transposed conv (native/src/transposed_conv.cc has the algebra). Same sums,
 * another kernel: on Zen 5 oneDNN's backward-data kernel ran ResNet-20's 16-channel 3x3 convs at
 * batch 128 in 1.9 ms where its forward kernel took 2.4, and DenseNet-BC's 48 -> 12 ones in 3.0
 * against 3.9. The conv tuner measures it like any candidate, with the weight turn (three small
 * commands, paid at every step since the weights change at every step). Training only: the
 * backward-data primitive has no bias or post-ops, and inference would pay the turn per pass.
 */
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { Conv2dGeometry } from '../backend.js';
import type { PlanResult } from './addon.js';
import type { ForwardPlan } from './conv.js';
import type { NativeRuntime, NativeStorage } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- transposed_conv.cc; plain data
    /** buffers [w [O, C, KH, KW], dst [C, O, KH, KW]]: channels swapped, each kernel turned by 180 degrees */
    flipTransposeWeightsPlan(
      sizes: Pick<Conv2dGeometry, 'outChannels' | 'inChannels' | 'kernelH' | 'kernelW'>,
    ): PlanResult<'dst'>;
  }
}

/** The padding the transposed conv needs on a side with padding `pad`: dilation * (kernel - 1) - pad. */
const transposedPad = (pad: number, kernel: number, dilation: number): number => dilation * (kernel - 1) - pad;

/** A conv the 'transposed' algorithm may run: stride 1, ungrouped, no padding past the kernel's reach. */
export function transposable(g: Conv2dGeometry): boolean {
  const pads: [number, number, number][] = [
    [g.padTop, g.kernelH, g.dilationH],
    [g.padBottom, g.kernelH, g.dilationH],
    [g.padLeft, g.kernelW, g.dilationW],
    [g.padRight, g.kernelW, g.dilationW],
  ];
  return g.strideH === 1 && g.strideW === 1 && g.groups === 1 && pads.every((p) => transposedPad(...p) >= 0);
}

/** The conv whose backward data computes `g`'s forward: y-shaped maps in, x-shaped out. */
export function transposedGeometry(g: Conv2dGeometry): Conv2dGeometry {
  return {
    ...g,
    inChannels: g.outChannels,
    outChannels: g.inChannels,
    inH: g.outH,
    inW: g.outW,
    outH: g.inH,
    outW: g.inW,
    padTop: transposedPad(g.padTop, g.kernelH, g.dilationH),
    padBottom: transposedPad(g.padBottom, g.kernelH, g.dilationH),
    padLeft: transposedPad(g.padLeft, g.kernelW, g.dilationW),
    padRight: transposedPad(g.padRight, g.kernelW, g.dilationW),
  };
}

/** A plan that reads its weights turned (channels swapped, kernels by 180 degrees). */
export interface TurnedWeightsPlan {
  readonly weights: number;
  readonly transposed: true;
}

/** A forward plan that is a backward-data plan of the transposed conv: buffers [x, turned weights, y]. */
export type TransposedPlan = ForwardPlan & TurnedWeightsPlan;

/** The 'transposed' plan of `g` in the shape of a forward plan (made once, then from the plan cache). */
export function transposedPlan(rt: NativeRuntime, g: Conv2dGeometry, key: string): TransposedPlan {
  return rt.plan<TransposedPlan>(key, () => {
    const p = rt.addon.conv2dBackwardDataPlan(transposedGeometry(g));
    return {
      plan: p.plan,
      src: p.diffDst,
      weights: p.weights,
      dst: p.diffSrc,
      gemm: false,
      impl: p.impl,
      transposed: true,
    };
  });
}

/** One command of a weight's turn: `plan` reads a buffer in layout `from`, writes one in `to`. */
export interface TurnStep {
  plan: number;
  from: number;
  to: number;
}

/**
 * The commands that turn a weight held in layout `weightDesc` into `plan`'s weights: to plain
 * where it is blocked, turned, then into the plan's layout. The tuner times them with the conv.
 */
export function turnSteps(
  rt: NativeRuntime,
  weightDesc: number,
  g: Conv2dGeometry,
  plan: TurnedWeightsPlan,
): TurnStep[] {
  const { outChannels, inChannels, kernelH, kernelW } = g;
  const sizes = { outChannels, inChannels, kernelH, kernelW };
  const flip = rt.plan(`flipTransposeWeights:${Object.values(sizes)}`, () => rt.addon.flipTransposeWeightsPlan(sizes));
  const plain = rt.plainDesc([outChannels, inChannels, kernelH, kernelW]);
  const steps: TurnStep[] = [];
  if (weightDesc !== plain) steps.push({ plan: rt.reorderPlan(weightDesc, plain), from: weightDesc, to: plain });
  steps.push({ plan: flip.plan, from: plain, to: flip.dst });
  if (plan.weights !== flip.dst)
    steps.push({ plan: rt.reorderPlan(flip.dst, plan.weights), from: flip.dst, to: plan.weights });
  return steps;
}

/**
 * `weight` ([O, C, KH, KW], any layout) turned for `plan`, in the plan's weights layout. The
 * caller releases the returned storage after its conv.
 */
export function turnedWeights(
  rt: NativeRuntime,
  weight: Storage,
  g: Conv2dGeometry,
  plan: TurnedWeightsPlan,
): NativeStorage {
  const dims = [g.outChannels, g.inChannels, g.kernelH, g.kernelW];
  const steps = turnSteps(rt, rt.descOf(weight, dims), g, plan);
  let from = rt.input(weight, steps[0].from, dims);
  let held: NativeStorage | null = null;
  for (const step of steps) {
    const to = rt.output(step.to, sizeOf(dims));
    rt.exec('conv2d', step.plan, [from, to.buffer]);
    held?.release();
    held = to;
    from = to.buffer;
  }
  return held as NativeStorage;
}
