/**
 * Which forward algorithm a native conv runs (docs/native-backend.md#algorithm-choice): direct,
 * or for an eligible conv (3x3, stride 1, undilated, ungrouped, inference) what
 * CONVKIT_CONV_ALGORITHM says: Winograd, oneDNN's own choice, or ('tune') the faster of direct and
 * Winograd as measured on this host (conv-tuning.ts keeps the measurements). Each conv also leaves
 * a note of what ran, which `bench --profile` reads.
 */
import { setting } from '../../core/config.js';
import type { Conv2dGeometry } from '../backend.js';
import { addonBuildId } from './addon.js';
import type { ForwardPlan } from './conv.js';
import {
  type Candidate,
  type ConvAlgorithm,
  cpuIdentity,
  defaultCacheFile,
  hostKey,
  measureFastest,
  TuningCache,
} from './conv-tuning.js';
import type { NativeRuntime } from './runtime.js';

/** A conv Winograd may run: 3x3, stride 1, undilated, ungrouped (and, checked by the caller, inference). */
export const winogradShape = (g: Conv2dGeometry): boolean =>
  g.kernelH === 3 &&
  g.kernelW === 3 &&
  g.strideH === 1 &&
  g.strideW === 1 &&
  g.dilationH === 1 &&
  g.dilationW === 1 &&
  g.groups === 1;

/** What the last forward conv ran: its algorithm and oneDNN's kernel name (for `bench --profile`). */
export interface ConvAlgorithmNote {
  algorithm: ConvAlgorithm;
  impl: string;
  /** Whether it was measured ('tune'), not fixed by CONVKIT_CONV_ALGORITHM or ineligible. */
  tuned: boolean;
}
const lastNotes = new WeakMap<NativeRuntime, ConvAlgorithmNote>();
/** What the runtime's last forward conv ran, forgotten once read (null: no conv since). */
export function takeConvAlgorithmNote(rt: NativeRuntime): ConvAlgorithmNote | null {
  const note = lastNotes.get(rt) ?? null;
  lastNotes.delete(rt);
  return note;
}

const debugNote = (message: string): void => {
  if (setting('debug').has('native')) process.stderr.write(`[convkit native] conv tuning: ${message}\n`);
};

const tuningCaches = new WeakMap<NativeRuntime, TuningCache>();
/** The runtime's tuning cache, made on first use (CONVKIT_TUNING_CACHE, else the per-host default file). */
function tuningCacheOf(rt: NativeRuntime): TuningCache {
  let cache = tuningCaches.get(rt);
  if (cache === undefined) {
    const host = hostKey({ cpu: cpuIdentity(), onednn: rt.addon.version(), addon: addonBuildId() });
    const configured = setting('tuningCache');
    const file = configured === 'off' ? null : (configured ?? defaultCacheFile(host));
    cache = new TuningCache(file, host, debugNote);
    tuningCaches.set(rt, cache);
  }
  return cache;
}

/** The plan of one forward algorithm for the conv at hand (made once, then from the plan cache). */
type PlanOf = (algorithm: ConvAlgorithm) => ForwardPlan;

/** Picks and makes the forward plan of each conv of one runtime. */
export function convAlgorithmChooser(rt: NativeRuntime): {
  plan(shape: string, planOf: PlanOf, eligible: boolean): ForwardPlan;
} {
  /** Shape and algorithm pairs oneDNN has no kernel for (so a forced Winograd asks once, not per call). */
  const missing = new Set<string>();
  /** The plan of `algorithm` for this shape, or null where oneDNN has no kernel for it. */
  function planIfAvailable(shape: string, planOf: PlanOf, algorithm: ConvAlgorithm): ForwardPlan | null {
    if (missing.has(`${shape}:${algorithm}`)) return null;
    try {
      return planOf(algorithm);
    } catch (e) {
      if (!(e instanceof Error && e.message.includes('implementation for this'))) throw e;
      missing.add(`${shape}:${algorithm}`);
      debugNote(`${shape}: ${e.message}`);
      return null;
    }
  }

  /**
   * The plan of an eligible conv: CONVKIT_CONV_ALGORITHM's fixed algorithm, or ('tune') the one
   * measured fastest for this shape (cached). An algorithm oneDNN has no kernel for runs direct.
   */
  function chosenPlan(shape: string, planOf: PlanOf): ForwardPlan {
    const wanted = setting('convAlgorithm');
    let algorithm: ConvAlgorithm = wanted === 'tune' ? tunedAlgorithm(shape, planOf) : wanted;
    let plan = planIfAvailable(shape, planOf, algorithm);
    if (plan === null) {
      algorithm = 'direct';
      plan = planOf(algorithm);
    }
    lastNotes.set(rt, { algorithm, impl: plan.impl, tuned: wanted === 'tune' });
    return plan;
  }

  /**
   * The algorithm measured fastest for this shape (and conv layout setting): from the tuning cache,
   * else timed now. The candidates run on scratch buffers in their own layouts, shared where two
   * plans agree on one (src and dst usually do; Winograd's weights never).
   */
  function tunedAlgorithm(shape: string, planOf: PlanOf): ConvAlgorithm {
    // Timings hold for the thread count they were taken with (setThreads may change it).
    const key = `${shape}:${setting('convLayout')}:t${rt.addon.getThreads()}`;
    const cache = tuningCacheOf(rt);
    const known = cache.get(key);
    if (known !== undefined) return known.algorithm;
    const scratch = new Map<string, Float32Array>(); // by slot and desc: never two slots of one plan

    const candidates: Candidate[] = [];
    for (const algorithm of ['direct', 'winograd'] as const) {
      const plan = planIfAvailable(shape, planOf, algorithm);
      if (plan === null) continue;
      const descs = [plan.src, plan.weights, plan.bias, plan.dst, plan.addend, plan.guardWeights];
      const buffers = descs.flatMap((id, slot) => {
        if (id === undefined) return [];
        let buffer = scratch.get(`${slot}:${id}`);
        if (buffer === undefined) {
          buffer = new Float32Array(Math.ceil(rt.descInfo(id).bytes / 4));
          scratch.set(`${slot}:${id}`, buffer);
        }
        return [buffer];
      });
      candidates.push({
        algorithm,
        run: () => {
          rt.exec('conv2d', plan.plan, buffers);
          rt.flushSync();
        },
      });
    }
    const choice = measureFastest(candidates);
    cache.set(key, choice);
    return choice.algorithm;
  }

  return {
    plan(shape, planOf, eligible) {
      if (eligible) return chosenPlan(shape, planOf);
      const plan = planOf('direct');
      lastNotes.set(rt, { algorithm: 'direct', impl: plan.impl, tuned: false });
      return plan;
    },
  };
}
