/**
 * Native elementwise add, sub, mul and div (oneDNN binary), where residual sums and bias/scale
 * broadcasts go. oneDNN broadcasts only its second source, so the first operand must have the
 * output's shape (add and mul swap their operands when only the second has it). Two same-shape
 * operands work in the layout of a blocked one (the other is reordered to it: a ResNet backward
 * adds gradients of different layouts); a broadcast operand is given plain. max, min and
 * comparisons (PyTorch's NaN rules live in the ref kernel), two-sided broadcasts, float64 and
 * empty tensors run the reference kernel.
 */
import { type Shape, sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { BinaryOp, KernelSpecs, Kernels } from '../backend.js';
import type { NativeBinaryOp } from './addon.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, MAX_RANK, PLAIN, NativeStorage, type NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- binary.cc: a has the output dims; b the same rank, each dim 1 or equal; buffers [a, b, dst]
    binaryPlan(kind: NativeBinaryOp, a: number, b: number): PlanResult<'a' | 'b' | 'dst'>;
    /** buffers [a, b, dst], all in `desc`: dst = relu(a + b), NaN kept (a loop of its own) */
    addReluPlan(desc: number): PlanResult<'desc'>;
  }
}

const isNative = (op: BinaryOp): op is NativeBinaryOp => op === 'add' || op === 'sub' || op === 'mul' || op === 'div';

/** shape right-aligned to `rank` axes with leading 1s (a scalar becomes [1, ..., 1]). */
const padded = (shape: Shape, rank: number): number[] => [...new Array<number>(rank - shape.length).fill(1), ...shape];

const same = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

const isBlocked = (s: Storage): boolean => s instanceof NativeStorage && s.desc !== PLAIN;

/**
 * Row-major `out` and `b` (b's dims equal or 1) with the axes of size 1 dropped and neighbouring
 * axes merged where b is full on both or broadcast on both: the same elementwise problem on fewer
 * axes. oneDNN 2.6 runs a broadcast it has no JIT pattern for on `ref:any`, about 100x slower:
 * folding a batch norm into a conv's weights ([O, I, kh, kw] * [O, 1, 1, 1]) took 170 ms for one
 * 512x512x3x3 weight there, and 0.6-2.6 ms as [O, I*kh*kw] * [O, 1] (jit:uni). Fewer distinct dims
 * also means fewer plans.
 */
export function mergedAxes(out: readonly number[], b: readonly number[]): { out: number[]; b: number[] } {
  const merged = { out: [] as number[], b: [] as number[] };
  let last: boolean | null = null; // whether the previous kept axis broadcasts b
  out.forEach((n, i) => {
    if (n === 1) return;
    const broadcast = b[i] === 1;
    const end = merged.out.length - 1;
    if (broadcast === last) {
      merged.out[end] *= n;
      merged.b[end] *= b[i];
    } else {
      merged.out.push(n);
      merged.b.push(b[i]);
    }
    last = broadcast;
  });
  return merged.out.length > 0 ? merged : { out: [1], b: [1] };
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const BINARY_RUNS: readonly NativeRun[] = [
  {
    kernels: ['binary'],
    name: 'binary add / sub / mul / div',
    native:
      'same shapes in any layouts; one-sided broadcasts (plain operand, on merged axes); plain problems up to 16384 floats as a serial loop',
    fallback: 'two-sided broadcasts, max/min/comparisons',
  },
  {
    kernels: ['addRelu'],
    name: "relu(a + b) (a residual block's end in training)",
    native: "any layout (the second operand is reordered to the first's), one loop, bit-identical to the reference",
    fallback: 'float64, empty tensors',
  },
];

export function nativeBinaryKernel(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'binary' | 'addRelu'> {
  return {
    addRelu(args: KernelSpecs['addRelu']['args']) {
      const { a, b, shape } = args;
      if (!isFloat32(a) || !isFloat32(b)) return refFallback(rt, ref, 'addRelu', 'not float32', args);
      if (a.size === 0) return refFallback(rt, ref, 'addRelu', 'empty tensor', args);
      if (shape.length > MAX_RANK) return refFallback(rt, ref, 'addRelu', `rank above ${MAX_RANK}`, args);
      const dims = shape.length === 0 ? [1] : shape;
      // The layout of a blocked operand (a residual sum's are the convs' and batch norms' outputs).
      const desc = rt.descOf(isBlocked(a) || !isBlocked(b) ? a : b, dims);
      const plan = rt.plan(`addRelu:${desc}`, () => rt.addon.addReluPlan(desc));
      const x = rt.input(a, plan.desc, dims);
      const y = rt.input(b, plan.desc, dims);
      const out = rt.output(plan.desc, a.size);
      rt.exec('addRelu', plan.plan, [x, y, out.buffer]);
      return out;
    },
    binary(args: KernelSpecs['binary']['args']) {
      const { op } = args;
      const rank = Math.max(args.outShape.length, 1);
      let out = padded(args.outShape, rank);
      const size = sizeOf(out);
      if (!isNative(op)) return refFallback(rt, ref, 'binary', `no native '${op}'`, args);
      if (!isFloat32(args.a) || !isFloat32(args.b)) return refFallback(rt, ref, 'binary', 'not float32', args);
      if (size === 0) return refFallback(rt, ref, 'binary', 'empty tensor', args);
      if (rank > MAX_RANK) return refFallback(rt, ref, 'binary', `rank above ${MAX_RANK}`, args);
      const aFull = same(padded(args.aShape, rank), out);
      const bFull = same(padded(args.bShape, rank), out);
      if (!aFull && !(bFull && (op === 'add' || op === 'mul'))) {
        return refFallback(
          rt,
          ref,
          'binary',
          bFull ? `first operand of '${op}' broadcasts` : 'both operands broadcast',
          args,
        );
      }
      const [first, second, secondShape] = aFull ? [args.a, args.b, args.bShape] : [args.b, args.a, args.aShape];
      let desc: number;
      let secondDesc: number;
      let secondDims = padded(secondShape, rank);
      if (!isBlocked(first) && !isBlocked(second)) {
        // Plain row-major operands: the same problem on merged axes (see mergedAxes).
        const merged = mergedAxes(out, secondDims);
        desc = rt.plainDesc(merged.out);
        secondDesc = rt.plainDesc(merged.b);
        secondDims = merged.b;
        out = merged.out;
      } else if (bFull && aFull) {
        desc = rt.descOf(isBlocked(first) || !isBlocked(second) ? first : second, out);
        secondDesc = desc;
      } else {
        desc = rt.descOf(first, out);
        secondDesc = rt.plainDesc(secondDims);
      }
      const plan = rt.plan(`binary:${op}:${desc}:${secondDesc}`, () => rt.addon.binaryPlan(op, desc, secondDesc));
      const a = rt.input(first, plan.a, out);
      const b = rt.input(second, plan.b, secondDims);
      const y = rt.output(plan.dst, size);
      rt.exec(op, plan.plan, [a, b, y.buffer]);
      return y;
    },
  };
}
