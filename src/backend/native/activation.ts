/**
 * Native ReLU, sigmoid and tanh (oneDNN eltwise) forward and backward, and sqrt forward (a queued
 * loop, exactly the reference kernel's), on the input's own layout: a blocked conv output stays
 * blocked; and the scalar ops that are an affine map (x + c, x * c,
 * c - x) on plain data, as a queued loop exactly like the reference kernel's. The other unary and
 * scalar ops (exp, log, pow, ...), blocked scalar inputs (their padding lanes must stay zero),
 * float64 and empty tensors run the reference kernels.
 */
import type { Storage } from '../../core/storage.js';
import type { KernelSpecs, Kernels, ScalarOp, UnaryOp } from '../backend.js';
import type { ActivationKind } from './addon.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- eltwise.cc: the layout of `desc` is kept; buffers [src, dst] / [diffDst, saved, diffSrc]
    eltwisePlan(kind: ActivationKind | 'sqrt', desc: number): PlanResult<'src' | 'dst'>;
    /** Plain buffers [src, dst], scalars { alpha, beta }: dst = alpha * src + beta, in double as the ref kernel. */
    scalarPlan(size: number): PlanResult<'src' | 'dst'>;
    /** saved is the forward input for relu, the forward output for sigmoid and tanh. */
    eltwiseBackwardPlan(kind: ActivationKind, desc: number): PlanResult<'diffDst' | 'saved' | 'diffSrc'>;
    /** buffers [g0, ..., g(parts-1), saved, diffSrc] (parts 1 to 4): relu's gradient of the parts' sum. */
    reluBackwardOfSumPlan(parts: number, desc: number): PlanResult<'saved' | 'diffSrc'>;
  }
}

/** The most gradient parts one reluBackwardOfSum plan adds (eltwise.cc's kMaxParts). */
const MAX_SUMMED_PARTS = 4;

/** The unary ops with a native forward: the activations, and sqrt (a batch-norm fold takes one). */
const isNativeUnary = (op: UnaryOp): op is ActivationKind | 'sqrt' =>
  op === 'relu' || op === 'sigmoid' || op === 'tanh' || op === 'sqrt';

const isBlocked = (s: Storage): s is NativeStorage & { dims: readonly number[] } =>
  s instanceof NativeStorage && s.desc !== PLAIN && s.dims !== null;

/** The dims an elementwise kernel works over: a blocked storage's own, else the flat size. */
const layoutDims = (s: Storage): readonly number[] => (isBlocked(s) ? s.dims : [s.size]);

/**
 * alpha and beta of the scalar ops that are y = alpha * x + beta, or null. x * c adds -0, not +0:
 * -0 + -0 is -0, so the sign of a zero product survives (c * x + 0 turned -0 into +0, and sqrt's
 * gradient at -0 into the wrong infinity); for every other value adding -0 changes nothing.
 */
function affineOf(op: ScalarOp, value: number): { alpha: number; beta: number } | null {
  if (op === 'add') return { alpha: 1, beta: value };
  if (op === 'mul') return { alpha: value, beta: -0 };
  if (op === 'rsub') return { alpha: -1, beta: value };
  return null;
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const ACTIVATION_RUNS: readonly NativeRun[] = [
  {
    kernels: ['unary', 'activationBackward', 'reluBackwardOfSum'],
    name: "relu / sigmoid / tanh, forward and backward (relu's of a gradient in parts too: summed and masked in one loop); sqrt forward",
    native: 'all, any layout',
    fallback: 'other unary ops',
  },
  {
    kernels: ['scalar'],
    name: 'scalar x + c, x * c, c - x',
    native: "plain data (a queued loop, exactly the reference kernel's arithmetic)",
    fallback: 'blocked inputs, pow/max/min/division',
  },
];

export function nativeActivationKernels(
  rt: NativeRuntime,
  ref: Kernels,
): Pick<Kernels, 'unary' | 'activationBackward' | 'reluBackwardOfSum' | 'scalar'> {
  /** gy's layout for an activation's gradient: saved's when it is blocked, else gy's. */
  const gradientLayout = (gy: Storage, saved: Storage) => {
    const dims = layoutDims(isBlocked(saved) ? saved : gy);
    return { dims, desc: rt.descOf(isBlocked(saved) ? saved : gy, dims) };
  };
  return {
    scalar(args: KernelSpecs['scalar']['args']) {
      const { op, x, value } = args;
      const affine = affineOf(op, value);
      if (affine === null) return refFallback(rt, ref, 'scalar', `no native '${op}'`, args);
      if (!isFloat32(x)) return refFallback(rt, ref, 'scalar', 'not float32', args);
      if (x.size === 0 || !Number.isFinite(value))
        return refFallback(rt, ref, 'scalar', 'empty tensor or non-finite value', args);
      if (isBlocked(x)) return refFallback(rt, ref, 'scalar', 'blocked input', args);
      const plan = rt.plan(`scalar:${x.size}`, () => rt.addon.scalarPlan(x.size));
      const src = rt.plainInput(x, [x.size]);
      const y = rt.output(plan.dst, x.size);
      rt.exec(`scalar ${op}`, plan.plan, [src, y.buffer], affine);
      return y;
    },
    unary(args: KernelSpecs['unary']['args']) {
      const { op, x } = args;
      if (!isNativeUnary(op)) return refFallback(rt, ref, 'unary', `no native '${op}'`, args);
      if (!isFloat32(x)) return refFallback(rt, ref, 'unary', 'not float32', args);
      if (x.size === 0) return refFallback(rt, ref, 'unary', 'empty tensor', args);
      const dims = layoutDims(x);
      const desc = rt.descOf(x, dims);
      const plan = rt.plan(`eltwise:${op}:${desc}`, () => rt.addon.eltwisePlan(op, desc));
      const src = rt.input(x, plan.src, dims);
      const y = rt.output(plan.dst, x.size);
      rt.exec(op, plan.plan, [src, y.buffer]);
      return y;
    },
    activationBackward(args: KernelSpecs['activationBackward']['args']) {
      const { op, gy, saved } = args;
      if (!isFloat32(gy) || !isFloat32(saved)) return refFallback(rt, ref, 'activationBackward', 'not float32', args);
      if (gy.size === 0) return refFallback(rt, ref, 'activationBackward', 'empty tensor', args);
      const { dims, desc } = gradientLayout(gy, saved);
      const plan = rt.plan(`eltwiseBackward:${op}:${desc}`, () => rt.addon.eltwiseBackwardPlan(op, desc));
      const diffDst = rt.input(gy, plan.diffDst, dims);
      const s = rt.input(saved, plan.saved, dims);
      const gx = rt.output(plan.diffSrc, gy.size);
      rt.exec(`${op}Backward`, plan.plan, [diffDst, s, gx.buffer]);
      return gx;
    },
    reluBackwardOfSum(args: KernelSpecs['reluBackwardOfSum']['args']) {
      const { gys, saved } = args;
      if (![...gys, saved].every(isFloat32)) return refFallback(rt, ref, 'reluBackwardOfSum', 'not float32', args);
      if (saved.size === 0) return refFallback(rt, ref, 'reluBackwardOfSum', 'empty tensor', args);
      if (gys.length > MAX_SUMMED_PARTS)
        return refFallback(rt, ref, 'reluBackwardOfSum', `more than ${MAX_SUMMED_PARTS} parts`, args);
      // Parts in another layout are converted to this one (a residual join's come alike).
      const { dims, desc } = gradientLayout(gys[0], saved);
      const plan = rt.plan(`reluBackwardOfSum:${gys.length}:${desc}`, () =>
        rt.addon.reluBackwardOfSumPlan(gys.length, desc),
      );
      const buffers = [...gys, saved].map((s) => rt.input(s, desc, dims));
      const gx = rt.output(plan.diffSrc, saved.size);
      rt.exec('reluBackwardOfSum', plan.plan, [...buffers, gx.buffer]);
      return gx;
    },
  };
}
