/**
 * Native concatenation (oneDNN concat) for float32. Along the channels of 4-D tensors the inputs
 * keep their layouts (DenseNet and Inception join blocked conv outputs) and oneDNN picks the
 * output's: blocked when the channel offsets fit its blocks, else plain. Every other axis works
 * on plain inputs. float64, empty inputs and ranks above 12 run the reference kernel.
 */
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback } from './fallback.js';
import { isFloat32, MAX_RANK, type NativeRuntime } from './runtime.js';

export function nativeConcatKernel(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'concat'> {
  return {
    concat(args: KernelSpecs['concat']['args']) {
      const { xs, shapes, axis } = args;
      if (!xs.every(isFloat32)) return refFallback(rt, ref, 'concat', 'not float32', args);
      const rank = shapes[0]?.length ?? 0;
      if (rank === 0 || rank > MAX_RANK) return refFallback(rt, ref, 'concat', `rank ${rank}`, args);
      if (xs.some((x) => x.size === 0)) return refFallback(rt, ref, 'concat', 'empty input', args);
      const descs = axis === 1 && rank === 4 ? xs.map((x, i) => rt.descOf(x, shapes[i])) : shapes.map((s) => rt.plainDesc(s));
      const plan = rt.plan(`concat:${axis}:${descs}`, () => rt.addon.concatPlan(axis, descs));
      const inputs = xs.map((x, i) => rt.input(x, descs[i], shapes[i]));
      const size = xs.reduce((n, x) => n + x.size, 0);
      const y = rt.output(plan.dst, size);
      rt.exec('concat', plan.plan, [...inputs, y.buffer]);
      return y;
    },
  };
}
