/**
 * Native fill, reductions and the negative log-likelihood (float32, plain data), so that a
 * training step's loss and a linear layer's bias gradient do not stop the queue for a reference
 * kernel. fill writes a fresh array at once (no queued work can hold it); the others are queued
 * loops (reduce.cc). float64 and empty tensors run the reference kernels.
 */
import { BackendError } from '../../core/errors.js';
import type { KernelSpecs, Kernels, ReduceOp, Reduction } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, MAX_RANK, type NativeRuntime } from './runtime.js';

/** A negative log-likelihood over n rows of c log-probabilities, as the loss plans take it. */
interface NllLoss {
  readonly n: number;
  readonly c: number;
  readonly reduction: Reduction;
  readonly labelSmoothing: number;
}

declare module './addon.js' {
  interface NativeAddon {
    // ---- reduce.cc; plain data
    /** buffers [src, dst]: sum/mean/max/min over `axes` (dst keeps the other dims, reduced ones are 1) */
    reducePlan(op: ReduceOp, dims: readonly number[], axes: readonly number[]): PlanResult<'dst'>;
    /** buffers [logp [n, c], target [n] (class indices as floats), out ([n] for 'none', else [1])] */
    nllLossPlan(loss: NllLoss): PlanResult<'out'>;
    /** buffers [gy ([n] for 'none', else [1]), target [n], dx [n, c]] */
    nllLossBackwardPlan(loss: NllLoss): PlanResult<'dx'>;
  }
}

/** Class indices as the float buffer the loop reads, after checking them (the loop trusts them). */
function targetBuffer(rt: NativeRuntime, op: string, target: Int32Array, n: number, c: number): Float32Array {
  if (target.length !== n) throw new BackendError(op, `target has ${target.length} entries, expected ${n}`);
  for (const t of target)
    if (!(t >= 0 && t < c)) throw new BackendError(op, `target ${t} is out of range for ${c} classes`);
  const values = Float32Array.from(target);
  rt.recorder?.targets.push(values); // a recorded training step takes each batch's targets here
  return values;
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const REDUCE_RUNS: readonly NativeRun[] = [
  {
    kernels: ['reduce'],
    name: 'sum / mean / max / min over any axes',
    native: 'plain data (a queued loop, double accumulators)',
    fallback: 'float64, empty, rank > 12',
  },
  {
    kernels: ['nllLoss', 'nllLossBackward'],
    name: "negative log-likelihood (cross-entropy's loss), forward and backward",
    native: "all reductions, label smoothing (a queued loop, the reference kernel's arithmetic)",
    fallback: 'float64',
  },
  {
    kernels: ['fill'],
    name: 'fill',
    native: 'a fresh array, written at once',
    fallback: 'float64',
  },
];

export function nativeReduceKernels(
  rt: NativeRuntime,
  ref: Kernels,
): Pick<Kernels, 'fill' | 'reduce' | 'nllLoss' | 'nllLossBackward'> {
  return {
    fill(args: KernelSpecs['fill']['args']) {
      return args.dtype === 'float32'
        ? rt.filled(args.size, args.value)
        : refFallback(rt, ref, 'fill', 'not float32', args);
    },
    reduce(args: KernelSpecs['reduce']['args']) {
      const { op, x, shape, axes } = args;
      if (!isFloat32(x)) return refFallback(rt, ref, 'reduce', 'not float32', args);
      if (shape.length === 0 || shape.length > MAX_RANK || x.size === 0)
        return refFallback(rt, ref, 'reduce', `rank ${shape.length} or empty`, args);
      const plan = rt.plan(`reduce:${op}:${shape}:${axes}`, () => rt.addon.reducePlan(op, shape, axes));
      const kept = shape.reduce((n, d, i) => (axes.includes(i) ? n : n * d), 1);
      const y = rt.output(plan.dst, kept);
      rt.exec('reduce', plan.plan, [rt.plainInput(x, shape), y.buffer]);
      return y;
    },
    nllLoss(args: KernelSpecs['nllLoss']['args']) {
      const { logp, target, n, c, reduction, labelSmoothing } = args;
      if (!isFloat32(logp)) return refFallback(rt, ref, 'nllLoss', 'not float32', args);
      if (n === 0 || c === 0) return refFallback(rt, ref, 'nllLoss', 'empty batch', args);
      const plan = rt.plan(`nllLoss:${n}:${c}:${reduction}:${labelSmoothing}`, () =>
        rt.addon.nllLossPlan({ n, c, reduction, labelSmoothing }),
      );
      const y = rt.output(plan.out, reduction === 'none' ? n : 1);
      rt.exec('nllLoss', plan.plan, [rt.plainInput(logp, [n, c]), targetBuffer(rt, 'nllLoss', target, n, c), y.buffer]);
      return y;
    },
    nllLossBackward(args: KernelSpecs['nllLossBackward']['args']) {
      const { gy, target, n, c, reduction, labelSmoothing, dtype } = args;
      if (!isFloat32(gy) || dtype !== 'float32') return refFallback(rt, ref, 'nllLossBackward', 'not float32', args);
      if (n === 0 || c === 0) return refFallback(rt, ref, 'nllLossBackward', 'empty batch', args);
      const plan = rt.plan(`nllLossBackward:${n}:${c}:${reduction}:${labelSmoothing}`, () =>
        rt.addon.nllLossBackwardPlan({ n, c, reduction, labelSmoothing }),
      );
      const dx = rt.output(plan.dx, n * c);
      rt.exec('nllLossBackward', plan.plan, [
        rt.plainInput(gy, [reduction === 'none' ? n : 1]),
        targetBuffer(rt, 'nllLossBackward', target, n, c),
        dx.buffer,
      ]);
      return dx;
    },
  };
}
