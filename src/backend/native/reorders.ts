/**
 * Reorders between layouts where oneDNN may have none, for the runtime's conversions
 * (runtime.ts): into its Winograd weight layout (`wino_wei_*`) it reorders only from plain
 * layouts and without scales, and never back out of it. Each plan is cached under its layouts
 * (null where oneDNN has none); docs/native-backend.md's oneDNN notes say how this was found.
 */
import { sizeOf } from '../../core/shape.js';
import type { NativeRuntime } from './runtime.js';

/** Where a storage's values are and how they are laid out, for a native kernel to use. */
export interface NativeInput {
  buffer: Float32Array;
  desc: number;
}

/** The plan of a reorder from layout `src` to layout `dst` (same dims), or null where oneDNN has none. */
export function reorderPlanOrNull(rt: NativeRuntime, src: number, dst: number): number | null {
  return rt.plan(`reorder:${src}:${dst}`, () => {
    const plan = rt.addon.reorderPlan(src, dst);
    return plan < 0 ? null : plan;
  });
}

/**
 * Whether oneDNN reorders layout `desc` back to plain: a storage may hold its values in such a
 * layout only. Winograd's weight layout is one way (its transform is not inverted).
 */
export function readableBack(rt: NativeRuntime, desc: number, dims: readonly number[]): boolean {
  return reorderPlanOrNull(rt, desc, rt.plainDesc(dims)) !== null;
}

/**
 * Queues a copy of `source` into `to` (layout `dst` over `dims`): one reorder, or two through a
 * plain copy where oneDNN has no direct one (a weight held in another conv's blocked layout, as a
 * folded weight adopts its first conversion, on its way into Winograd's layout).
 */
export function reorderInto(
  rt: NativeRuntime,
  source: NativeInput,
  to: Float32Array,
  dst: number,
  dims: readonly number[],
): void {
  const direct = reorderPlanOrNull(rt, source.desc, dst);
  if (direct !== null) {
    rt.exec('reorder', direct, [source.buffer, to]);
    return;
  }
  const plain = rt.plainDesc(dims);
  const between = rt.output(plain, sizeOf(dims));
  rt.exec('reorder', rt.reorderPlan(source.desc, plain), [source.buffer, between.buffer]);
  rt.exec('reorder', rt.reorderPlan(plain, dst), [between.buffer, to]);
  between.release();
}

/**
 * The plan of a scaled reorder (dst = src * scales[i] along the first dim) from layout `src` into
 * `desc` over `dims` (null: plain), and the layout it writes: plain where oneDNN has no scaled
 * reorder into `desc` or could not read `desc` back.
 */
export function scaledReorderPlan(
  rt: NativeRuntime,
  src: number,
  desc: number | null,
  dims: readonly number[],
): { plan: number; to: number } {
  const scaledInto = (to: number): number | null =>
    rt.plan(`scaledReorder:${src}:${to}`, () => {
      const plan = rt.addon.scaledReorderPlan(src, to);
      return plan < 0 ? null : plan;
    });
  if (desc !== null && readableBack(rt, desc, dims)) {
    const plan = scaledInto(desc);
    if (plan !== null) return { plan, to: desc };
  }
  const plain = rt.plainDesc(dims);
  const plan = scaledInto(plain);
  if (plan === null) throw new Error(`reorder: oneDNN has no scaled reorder from layout ${src} to plain`);
  return { plan, to: plain };
}
