/**
 * Native slice and constant pad (float32), one queued copy loop each (window.cc). Channel slices
 * and pads by whole blocks keep a blocked input's layout (ResNet option A's zero channels,
 * concat's backward); other windows run on plain data. float64, empty tensors, ranks above 12
 * and non-finite pad values run the reference kernels.
 */
import type { Storage } from '../../core/storage.js';
import type { KernelSpecs, Kernels } from '../backend.js';
import { refFallback } from './fallback.js';
import { isFloat32, MAX_RANK, type NativeRuntime, type NativeStorage } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- window.cc; buffers [src (in the plan's src desc), dst]: dst is `value` except src's
    // elements from srcBegin, placed from dstBegin (slice and pad)
    windowPlan(
      src: number,
      srcBegin: readonly number[],
      dstBegin: readonly number[],
      outDims: readonly number[],
      value: number,
    ): PlanResult<'src' | 'dst'>;
  }
}

export function nativeWindowKernels(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'slice' | 'pad'> {
  /** Why this window cannot run natively, or null. */
  const unsupported = (x: Storage, shape: readonly number[], outShape: readonly number[]): string | null => {
    if (!isFloat32(x)) return 'not float32';
    if (shape.length === 0 || shape.length > MAX_RANK) return `rank ${shape.length}`;
    return [...shape, ...outShape].includes(0) ? 'empty tensor' : null;
  };
  const window = (
    op: 'slice' | 'pad',
    x: Storage,
    shape: readonly number[],
    srcBegin: readonly number[],
    dstBegin: readonly number[],
    outShape: readonly number[],
    value: number,
  ): NativeStorage => {
    const src = rt.descOf(x, shape);
    const key = `window:${src}:${srcBegin}:${dstBegin}:${outShape}:${value}`;
    const plan = rt.plan(key, () => rt.addon.windowPlan(src, srcBegin, dstBegin, outShape, value));
    const input = rt.input(x, plan.src, shape);
    const y = rt.output(
      plan.dst,
      outShape.reduce((n, d) => n * d, 1),
    );
    rt.exec(op, plan.plan, [input, y.buffer]);
    return y;
  };
  return {
    slice(args: KernelSpecs['slice']['args']) {
      const { x, shape, begin, size } = args;
      const why = unsupported(x, shape, size);
      if (why) return refFallback(rt, ref, 'slice', why, args);
      return window(
        'slice',
        x,
        shape,
        begin,
        shape.map(() => 0),
        size,
        0,
      );
    },
    pad(args: KernelSpecs['pad']['args']) {
      const { x, shape, pads, value } = args;
      const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
      const why = unsupported(x, shape, outShape) ?? (Number.isFinite(value) ? null : 'a non-finite value');
      if (why) return refFallback(rt, ref, 'pad', why, args);
      return window(
        'pad',
        x,
        shape,
        shape.map(() => 0),
        pads.map((p) => p[0]),
        outShape,
        value,
      );
    },
  };
}
