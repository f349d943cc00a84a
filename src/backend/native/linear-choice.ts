/**
 * Which kernel runs nn.Linear's forward for a few rows: oneDNN's inner product ('direct', weights
 * in its blocked layout) or convkit's own loop on the weights as stored ('own', native/src/
 * small_linear.cc). With 1 to 16 rows the product reads every weight once per call and does as
 * many multiply-adds with it as there are rows, so its time is the memory's: on the Zen 5 host
 * oneDNN's read AlexNet's 151 MB first layer at batch 1 in 3.04 ms, the own loop in 2.19. As for
 * convs (conv-algorithm.ts): CONVKIT_CONV_ALGORITHM 'tune' times both once per shape and host, from
 * a weight's second forward on (the first runs direct, untimed: a one-image `convkit predict`
 * pays no measurement), with the weights evicted from the caches before each run, and keeps the
 * choice in the tuning file; 'own' forces the own loop, any other setting oneDNN's.
 */
import { setting } from '../../core/config.js';
import type { Storage } from '../../core/storage.js';
import type { PlanResult } from './addon.js';
import { firstUseTracker, tuningCacheOf } from './conv-algorithm.js';
import { type Candidate, measureFastest, processCpuMs } from './conv-tuning.js';
import type { NativeRuntime } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- small_linear.cc; plain data
    /** buffers [src, weights [out, in], (bias), dst] as linearPlan's, 1 to 16 rows */
    smallLinearPlan(sizes: LinearSizes): LinearPlan;
  }
}

export interface LinearSizes {
  rows: number;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  relu: boolean;
  /** oneDNN's product reads the weights as stored, not converted: set in training, where they change at every step. */
  plainWeights: boolean;
}

export type LinearPlan = PlanResult<'src' | 'weights' | 'dst'> & { readonly bias?: number };

/** The most rows the own loop takes (its plan refuses more); beyond, the product is no longer memory-bound. */
export const SMALL_LINEAR_ROWS = 16;

/** Per runtime, whether a weight ran a linear forward before. */
const trackers = new WeakMap<NativeRuntime, (weight: Storage) => boolean>();
function usedBefore(rt: NativeRuntime, weight: Storage): boolean {
  let tracker = trackers.get(rt);
  if (tracker === undefined) {
    tracker = firstUseTracker();
    trackers.set(rt, tracker);
  }
  return tracker(weight);
}

/** The plan that runs a linear forward of `sizes` on `weight`: oneDNN's or, where chosen, the own loop's. */
export function linearPlanFor(rt: NativeRuntime, sizes: LinearSizes, weight: Storage): LinearPlan {
  const key = `${sizes.rows},${sizes.inFeatures},${sizes.outFeatures},${+sizes.bias},${+sizes.relu}${sizes.plainWeights ? ',plain' : ''}`;
  const planOf = (algorithm: 'direct' | 'own'): LinearPlan =>
    algorithm === 'own'
      ? rt.plan(`smallLinear:${key}`, () => rt.addon.smallLinearPlan(sizes))
      : rt.plan(`linear:${key}`, () => rt.addon.linearPlan(sizes));
  const wanted = setting('convAlgorithm');
  const tuned = wanted === 'tune' && sizes.rows <= SMALL_LINEAR_ROWS && usedBefore(rt, weight);
  let algorithm: 'direct' | 'own' = 'direct';
  if (sizes.rows <= SMALL_LINEAR_ROWS && wanted === 'own') algorithm = 'own';
  if (tuned) algorithm = measuredChoice(rt, `linear:${key}:t${rt.addon.getThreads()}`, planOf, weight, sizes);
  lastNotes.set(
    rt,
    `${algorithm} ${algorithm === 'own' ? 'convkit:small_linear' : "oneDNN's inner product"}${tuned ? ' (tuned)' : ''}`,
  );
  return planOf(algorithm);
}

const lastNotes = new WeakMap<NativeRuntime, string>();
/** What the runtime's last linear forward ran, as `bench --profile` shows it (null: none since the last call). */
export function takeLinearNote(rt: NativeRuntime): string | null {
  const note = lastNotes.get(rt) ?? null;
  lastNotes.delete(rt);
  return note;
}

/**
 * The faster of the two for this shape: from the tuning cache, else timed now, on the weight
 * itself (its plain values and oneDNN's converted copy, which its first forward made: VGG16's
 * first layer holds 411 MB) and scratch buffers for the rest.
 */
function measuredChoice(
  rt: NativeRuntime,
  key: string,
  planOf: (a: 'direct' | 'own') => LinearPlan,
  weight: Storage,
  sizes: LinearSizes,
): 'direct' | 'own' {
  const cache = tuningCacheOf(rt);
  const known = cache.get(key);
  if (known !== undefined) return known.algorithm === 'own' ? 'own' : 'direct';
  const scratch = (id: number): Float32Array => rt.allocate(Math.ceil(rt.descInfo(id).bytes / 4));
  const candidates: Candidate[] = (['direct', 'own'] as const).map((algorithm) => {
    const plan = planOf(algorithm);
    const weights = rt.input(weight, plan.weights, [sizes.outFeatures, sizes.inFeatures]);
    const buffers = [
      scratch(plan.src),
      weights,
      ...(plan.bias === undefined ? [] : [scratch(plan.bias)]),
      scratch(plan.dst),
    ];
    return {
      algorithm,
      prepare: () => rt.addon.evictFromCache(buffers[1]),
      run: () => {
        rt.exec('linear', plan.plan, buffers);
        rt.flushSync();
      },
    };
  });
  const { cpuShare, contended, ...choice } = measureFastest(candidates, undefined, {
    cpuMs: processCpuMs,
    threads: rt.addon.getThreads(),
  });
  // As for convs: a measurement other work disturbed is kept in memory only.
  if (contended) cache.setProvisional(key, choice);
  else cache.set(key, choice);
  return choice.algorithm === 'own' ? 'own' : 'direct';
}
