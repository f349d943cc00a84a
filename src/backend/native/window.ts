/**
 * Native slice and constant pad (float32), one queued copy loop each (window.cc). Channel slices
 * and pads by whole blocks keep a blocked input's layout (ResNet option A's zero channels,
 * concat's backward); other windows run on plain data. float64, empty tensors, ranks above 12
 * and non-finite pad values run the reference kernels.
 */
import { BackendError } from '../../core/errors.js';
import { sizeOf } from '../../core/shape.js';
import type { Storage } from '../../core/storage.js';
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback, type NativeRun } from './fallback.js';
import { isFloat32, MAX_RANK, type NativeRuntime, type NativeStorage } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- window.cc; buffers [src (in the plan's src desc), dst]: dst (outDims) is `value` except
    // src's elements from srcBegin, placed from dstBegin (slice and pad); one entry per axis of src
    windowPlan(src: number, window: WindowCopy): PlanResult<'src' | 'dst'>;
    /**
     * buffers [src0, ..., srcK-1, dst]: dst = the sum in order of the boxes [begin, begin + outDims)
     * of the sources (begins: rank entries per source); null when the sources are neither all plain
     * nor all nChw8c / nChw16c with boxes along channels only.
     */
    sumSlicesPlan(
      srcs: readonly number[],
      begins: readonly number[],
      outDims: readonly number[],
    ): PlanResult<'dst'> | null;
  }
}

interface WindowCopy {
  readonly srcBegin: readonly number[];
  readonly dstBegin: readonly number[];
  readonly outDims: readonly number[];
  readonly value: number;
}

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const WINDOW_RUNS: readonly NativeRun[] = [
  {
    kernels: ['slice', 'pad'],
    name: 'slice, constant pad',
    native:
      'all (a queued copy loop); nChw8c/nChw16c stay blocked when only channels move, as whole blocks or lane by lane (ResNet option A, concat backward), else plain',
    fallback: 'float64, empty, non-finite pad values',
  },
  {
    kernels: ['sumSlices'],
    name: "sum of boxes (concat's backward gathering an input's gradients)",
    native:
      'boxes along channels of nChw8c/nChw16c sources, lane by lane into their layout, one destination block at a time; whole tensors as adds (any layouts); else plain boxes',
    fallback: 'float64, empty',
  },
];

export function nativeWindowKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'slice' | 'pad'> {
  /** Why this window cannot run natively, or null. */
  const unsupported = (x: Storage, shape: readonly number[], outShape: readonly number[]): string | null => {
    if (!isFloat32(x)) return 'not float32';
    if (shape.length === 0 || shape.length > MAX_RANK) return `rank ${shape.length}`;
    return [...shape, ...outShape].includes(0) ? 'empty tensor' : null;
  };
  const window = (op: 'slice' | 'pad', x: Storage, shape: readonly number[], copy: WindowCopy): NativeStorage => {
    const src = rt.descOf(x, shape);
    const { srcBegin, dstBegin, outDims, value } = copy;
    const key = `window:${src}:${srcBegin}:${dstBegin}:${outDims}:${value}`;
    const plan = rt.plan(key, () => rt.addon.windowPlan(src, copy));
    const input = rt.input(x, plan.src, shape);
    const y = rt.output(
      plan.dst,
      outDims.reduce((n, d) => n * d, 1),
    );
    rt.exec(op, plan.plan, [input, y.buffer]);
    return y;
  };
  return {
    slice(args: KernelSpecs['slice']['args']) {
      const { x, shape, begin, size } = args;
      const why = unsupported(x, shape, size);
      if (why) return refFallback(rt, ref, 'slice', why, args);
      return window('slice', x, shape, { srcBegin: begin, dstBegin: shape.map(() => 0), outDims: size, value: 0 });
    },
    pad(args: KernelSpecs['pad']['args']) {
      const { x, shape, pads, value } = args;
      const outDims = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
      const why = unsupported(x, shape, outDims) ?? (Number.isFinite(value) ? null : 'a non-finite value');
      if (why) return refFallback(rt, ref, 'pad', why, args);
      const copy = { srcBegin: shape.map(() => 0), dstBegin: pads.map((p) => p[0]), outDims, value };
      return window('pad', x, shape, copy);
    },
  };
}

/**
 * The sum of boxes: whole tensors as a chain of native adds (which work in any layouts), boxes by
 * one queued loop on the sources' blocked layout where they share one, else on plain data.
 */
export function nativeSumSlicesKernel(
  rt: NativeRuntime,
  ref: Kernels,
  native: Pick<Kernels, 'binary'>,
): Pick<Kernels, 'sumSlices'> {
  return {
    sumSlices(args: KernelSpecs['sumSlices']['args']) {
      const { xs, shapes, begins, size } = args;
      if (!xs.every(isFloat32)) return refFallback(rt, ref, 'sumSlices', 'not float32', args);
      if (size.length === 0 || size.length > MAX_RANK)
        return refFallback(rt, ref, 'sumSlices', `rank ${size.length}`, args);
      if (size.includes(0)) return refFallback(rt, ref, 'sumSlices', 'empty tensor', args);
      const whole = xs.every((_, i) => begins[i].every((b) => b === 0) && shapes[i].every((d, a) => d === size[a]));
      if (whole && xs.length > 1) {
        let total = native.binary({ op: 'add', a: xs[0], aShape: size, b: xs[1], bShape: size, outShape: size });
        for (const x of xs.slice(2)) {
          const next = native.binary({ op: 'add', a: total, aShape: size, b: x, bShape: size, outShape: size });
          total.release();
          total = next;
        }
        return total;
      }
      const planFor = (descs: readonly number[]) =>
        rt.plan(`sumSlices:${descs}:${begins.join(';')}:${size}`, () =>
          rt.addon.sumSlicesPlan(descs, begins.flat(), size),
        );
      const plain = shapes.map((s) => rt.plainDesc(s));
      let descs = size.length === 4 ? xs.map((x, i) => rt.descOf(x, shapes[i])) : plain;
      let plan = planFor(descs);
      if (plan === null) {
        descs = plain;
        plan = planFor(descs);
      }
      if (plan === null) throw new BackendError('sumSlices', 'the addon refused plain sources'); // it never does
      const inputs = xs.map((x, i) => rt.input(x, descs[i], shapes[i]));
      const y = rt.output(plan.dst, sizeOf(size));
      rt.exec('sumSlices', plan.plan, [...inputs, y.buffer]);
      return y;
    },
  };
}
