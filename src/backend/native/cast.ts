/**
 * Native cast to float32 (the copy `loadStateDict` makes of every tensor of a caller's dict): a copy in the
 * input's own layout (plain: a memcpy after the queue is flushed; blocked: a queued reorder). It used to run the reference kernel, so every loaded parameter became a
 * reference storage, and a reference storage's conversions are not cached: each pass reordered
 * every conv and linear weight into its blocked layout again. Casts to float64 and from float64
 * run the reference kernel.
 */
import type { KernelSpecs, Kernels } from '../backend.js';
import { RefStorage } from '../ref/storage.js';
import { refFallback, type NativeRun } from './fallback.js';
import { NativeStorage, PLAIN, type NativeRuntime } from './runtime.js';

/** This file's rows of "What runs natively" in docs/native-backend.md. */
export const CAST_RUNS: readonly NativeRun[] = [
  {
    kernels: ['cast'],
    name: 'cast',
    native: 'float32 to float32 (a copy in the input layout)',
    fallback: 'to or from float64',
  },
];

export function nativeCastKernel(rt: NativeRuntime, ref: Kernels): Pick<Kernels, 'cast'> {
  return {
    cast(args: KernelSpecs['cast']['args']) {
      const { x, dtype } = args;
      if (dtype !== 'float32') return refFallback(rt, ref, 'cast', `to ${dtype}`, args);
      // Queued work only ever reads a reference storage, so copying its values here is safe.
      if (x instanceof RefStorage && x.data instanceof Float32Array) return rt.fromValues(x.data);
      if (!(x instanceof NativeStorage)) return refFallback(rt, ref, 'cast', `from ${x.dtype}`, args);
      if (x.desc === PLAIN) {
        // A memcpy: oneDNN's plain-to-plain reorder is its generic `simple:any` kernel (index
        // arithmetic per element). Loading queues nothing, so the flush costs nothing there.
        rt.flushSync();
        return rt.fromValues(x.buffer.subarray(0, x.size));
      }
      const y = rt.output(x.desc, x.size);
      rt.exec('cast', rt.reorderPlan(x.desc, x.desc), [x.buffer, y.buffer]);
      return y;
    },
  };
}
