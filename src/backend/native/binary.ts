/**
 * Native elementwise add, sub, mul and div for float32 (oneDNN binary), which is where residual
 * sums and bias/scale broadcasts go. Taken when the first operand already has the output's shape
 * and the second broadcasts into it (or, for add and mul, the other way round). Other ops (max,
 * min, comparisons: their NaN rules are PyTorch's in the ref kernel), both-sided broadcasts,
 * float64 and empty tensors use the reference kernel.
 */
import type { Shape } from '../../core/shape.js';
import type { BinaryOp, KernelSpecs, Kernels } from '../backend.js';
import { callNative, type NativeAddon, type NativeBinaryOp } from './addon.js';
import { allocFloat32, float32Of } from './storage.js';

const MAX_RANK = 12; // DNNL_MAX_NDIMS

const isNative = (op: BinaryOp): op is NativeBinaryOp => op === 'add' || op === 'sub' || op === 'mul' || op === 'div';

/** shape right-aligned to `rank` axes with leading 1s (a scalar becomes [1, ..., 1]). */
function padded(shape: Shape, rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}

const same = (a: readonly number[], b: readonly number[]): boolean => a.every((v, i) => v === b[i]);

export function nativeBinaryKernel(addon: NativeAddon, ref: Kernels): Pick<Kernels, 'binary'> {
  return {
    binary(args: KernelSpecs['binary']['args']) {
      const { op } = args;
      const a = float32Of(args.a);
      const b = float32Of(args.b);
      const rank = Math.max(args.outShape.length, 1);
      const out = padded(args.outShape, rank);
      const size = out.reduce((p, d) => p * d, 1);
      if (!isNative(op) || !a || !b || size === 0 || rank > MAX_RANK) return ref.binary(args);
      const aDims = padded(args.aShape, rank);
      const bDims = padded(args.bShape, rank);
      // oneDNN broadcasts only its second source; add and mul may swap their operands.
      const swap = !same(aDims, out);
      if (swap && !(same(bDims, out) && (op === 'add' || op === 'mul'))) return ref.binary(args);
      const c = allocFloat32(size);
      const [first, second, secondDims] = swap ? [b, a, aDims] : [a, b, bDims];
      callNative(op, () => addon.binary(op, first, second, c.values, out, secondDims));
      return c.storage;
    },
  };
}
