/**
 * Which algorithm a native conv kernel runs (docs/native-backend.md#algorithm-choice): direct, or
 * for a call with candidates (Winograd for 3x3, stride 1, undilated, ungrouped convs, forward,
 * backward data or backward weights; brgemm for forwards without an addend; transposed for training
 * forwards, conv-transposed.ts; own, convkit's 3x3 kernel, conv-own.ts) what CONVKIT_CONV_ALGORITHM
 * says: ('tune', the default) the fastest as measured on this host (conv-tuning.ts keeps the
 * measurements), from a weight's second forward on; or one of them, or oneDNN's own choice.
 * Each call also leaves a note of what ran, which `bench --profile` and the tests read.
 */
import { setting } from '../../core/config.js';
import type { Storage } from '../../core/storage.js';
import type { Conv2dGeometry } from '../backend.js';
import { addonBuildId } from './addon.js';
import {
  type Candidate,
  type ConvAlgorithm,
  cpuIdentity,
  defaultCacheFile,
  hostKey,
  measureFastest,
  processCpuMs,
  SAME_ROUNDING_MARGIN,
  sameRoundingKernel,
  TuningCache,
} from './conv-tuning.js';
import { NativeStorage, type NativeRuntime } from './runtime.js';

/** A `side` x `side` conv of stride 1, undilated, ungrouped. */
export const squareStride1Shape = (g: Conv2dGeometry, side: number): boolean =>
  g.kernelH === side &&
  g.kernelW === side &&
  g.strideH === 1 &&
  g.strideW === 1 &&
  g.dilationH === 1 &&
  g.dilationW === 1 &&
  g.groups === 1;

/** A conv Winograd may run: 3x3, stride 1, undilated, ungrouped. */
export const winogradShape = (g: Conv2dGeometry): boolean => squareStride1Shape(g, 3);

/** The conv kernels an algorithm is chosen for. */
export type ConvKernel = 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight';

/** What a conv kernel last ran: its algorithm and oneDNN's kernel name (for `bench --profile`). */
export interface ConvAlgorithmNote {
  algorithm: ConvAlgorithm;
  impl: string;
  /** Whether it was measured ('tune'), not fixed by CONVKIT_CONV_ALGORITHM or ineligible. */
  tuned: boolean;
  /** When this call measured: whether the file kept the choice (false: other work held the cores). */
  saved?: boolean;
  /** When this call measured: each candidate's best time (ms). */
  measured?: Partial<Record<ConvAlgorithm, number>>;
}
const lastNotes = new WeakMap<NativeRuntime, Map<ConvKernel, ConvAlgorithmNote>>();
/** What the runtime's last `kernel` call ran (default: the forward conv), forgotten once read (null: none since). */
export function takeConvAlgorithmNote(rt: NativeRuntime, kernel: ConvKernel = 'conv2d'): ConvAlgorithmNote | null {
  const notes = lastNotes.get(rt);
  const note = notes?.get(kernel) ?? null;
  notes?.delete(kernel);
  return note;
}
function leaveNote(rt: NativeRuntime, kernel: ConvKernel, note: ConvAlgorithmNote): void {
  const notes = lastNotes.get(rt) ?? new Map<ConvKernel, ConvAlgorithmNote>();
  lastNotes.set(rt, notes);
  notes.set(kernel, note);
}

const debugNote = (message: string): void => {
  if (setting('debug').has('native')) process.stderr.write(`[convkit native] conv tuning: ${message}\n`);
};

const tuningCaches = new WeakMap<NativeRuntime, TuningCache>();
/** The runtime's tuning cache, made on first use (CONVKIT_TUNING_CACHE, else the per-host default file). */
export function tuningCacheOf(rt: NativeRuntime): TuningCache {
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

/** A conv plan as the chooser needs it: its id and oneDNN's kernel name. */
interface ConvPlan {
  readonly plan: number;
  readonly impl: string;
}

/** One call's request for a plan (see the chooser's `plan`). */
export interface PlanRequest<P extends ConvPlan> {
  kernel: ConvKernel;
  /** The kernel's geometry and options: the key of its measurements (the thread count is added). */
  shape: string;
  /** The plan of one algorithm for this call (made once, then from the plan cache). */
  planOf: (algorithm: ConvAlgorithm) => P;
  /** The algorithms besides direct that may run this call (none: direct, untimed). */
  candidates: readonly ConvAlgorithm[];
  /** The forward's weights, whose first use runs direct under 'tune' (null: no such rule). */
  weight: Storage | null;
  /** The plan's buffers in exec order as desc ids (undefined: absent), for the measurement. */
  buffers: (plan: P) => readonly (number | undefined)[];
  /**
   * The index in `buffers` of the weights (or their gradient): the one buffer a model reads from
   * memory at each use, not from cache, so the measurement evicts it before each timed run.
   */
  weightSlot: number;
  /**
   * Forward calls: the slots of src and dst. A candidate whose layouts there differ from
   * direct's is timed with the conversions in and out, as the kernel runs it.
   */
  layoutSlots?: { src: number; dst: number };
  /** The algorithm whose src and dst layouts the conv's neighbours use (default: direct). */
  home?: ConvAlgorithm;
  /**
   * What a weight's first use runs under 'tune' where it has a plan (default: direct): convkit's own
   * 1x1 kernel, compiled with the addon, where oneDNN would JIT-compile a kernel for the shape.
   */
  cold?: ConvAlgorithm;
  /** Forward calls: the output's pixels per map, under which NativeRuntime.convTimings notes the choice's time. */
  mapArea?: number;
  /**
   * Commands a plan runs before its conv at each call, timed with it (the 'transposed' weight
   * turn): each reads the previous one's output, the first the weight as it is held, the last
   * writes the plan's weights (empty: none).
   */
  prologue?: (plan: P) => readonly { plan: number; from: number; to: number }[];
}

/** A call's algorithm; when it measured, whether the file kept it and every candidate's time. */
interface Tuned {
  algorithm: ConvAlgorithm;
  saved?: boolean;
  measured?: Partial<Record<ConvAlgorithm, number>>;
  /** The chosen algorithm's time where known (NativeRuntime.convTimings). */
  ms?: number;
}

/**
 * A check "has this weight been used before?" that says no once per weight: a tuned kernel runs
 * oneDNN's default untimed at a weight's first use and measures from its second (here, and for
 * linear layers in linear-choice.ts). null (no weight to track) counts as used; a reference
 * storage keeps no converted copies, so it never does.
 */
export function firstUseTracker(): (weight: Storage | null) => boolean {
  const seen = new WeakSet<Storage>();
  return (weight) => {
    if (weight === null) return true;
    if (!(weight instanceof NativeStorage)) return false;
    if (seen.has(weight)) return true;
    seen.add(weight);
    return false;
  };
}

/** Picks and makes the plan of each conv kernel call of one runtime. */
export function convAlgorithmChooser(rt: NativeRuntime): {
  plan<P extends ConvPlan>(request: PlanRequest<P>): P;
  homePlan<P extends ConvPlan>(request: PlanRequest<P>): P;
} {
  /** Shape and algorithm pairs oneDNN has no kernel for (so a forced Winograd asks once, not per call). */
  const missing = new Set<string>();
  /** The plan of `algorithm`, or null where oneDNN has no kernel for it. */
  function planIfAvailable<P extends ConvPlan>(request: PlanRequest<P>, algorithm: ConvAlgorithm): P | null {
    const key = `${request.kernel}:${request.shape}:${algorithm}`;
    if (missing.has(key)) return null;
    try {
      return request.planOf(algorithm);
    } catch (e) {
      if (!(e instanceof Error && e.message.includes('implementation for this'))) throw e;
      missing.add(key);
      debugNote(`${key}: ${e.message}`);
      return null;
    }
  }

  /** The plan whose layouts the neighbours use: the home algorithm's where oneDNN has it, else direct's. */
  function homePlan<P extends ConvPlan>(request: PlanRequest<P>): P {
    const home = request.home ?? 'direct';
    return (home === 'direct' ? null : planIfAvailable(request, home)) ?? request.planOf('direct');
  }

  /**
   * The plan of an eligible call: CONVKIT_CONV_ALGORITHM's fixed algorithm, or ('tune') the one
   * measured fastest for this shape (cached). An algorithm oneDNN has no kernel for runs direct.
   */
  function chosenPlan<P extends ConvPlan>(request: PlanRequest<P>): P {
    const wanted = setting('convAlgorithm');
    // A fixed algorithm this call cannot run (brgemm in a backward kernel, transposed in inference) runs direct.
    const fixed =
      wanted === 'tune' || wanted === 'auto' || request.candidates.includes(wanted as ConvAlgorithm)
        ? wanted
        : 'direct';
    const choice: Tuned = fixed === 'tune' ? tunedAlgorithm(request) : { algorithm: fixed };
    if (rt.convTimings !== null && request.mapArea !== undefined && choice.ms !== undefined)
      rt.convTimings.push({ mapArea: request.mapArea, ms: choice.ms });
    let algorithm = choice.algorithm;
    let plan = planIfAvailable(request, algorithm);
    if (plan === null) {
      algorithm = 'direct';
      plan = request.planOf(algorithm);
    }
    leaveNote(rt, request.kernel, {
      algorithm,
      impl: plan.impl,
      tuned: wanted === 'tune',
      ...(choice.saved === undefined ? {} : { saved: choice.saved, measured: choice.measured }),
    });
    return plan;
  }

  /**
   * The algorithm measured fastest for this kernel and shape (and conv layout setting): from the
   * tuning cache, else timed now. The candidates run on scratch buffers in their own layouts,
   * shared where two plans agree on one (src and dst usually do; Winograd's weights never), with
   * the weights evicted from the caches before each timed run, as a model meets them.
   */
  function tunedAlgorithm<P extends ConvPlan>(request: PlanRequest<P>): Tuned {
    // Timings hold for the thread count they were taken with (setThreads may change it). Forward
    // keys keep their earlier form, so cache files stay valid.
    const kernel = request.kernel === 'conv2d' ? '' : `${request.kernel}:`;
    const home = homePlan(request);
    const homeTag = home === request.planOf('direct') ? '' : `:home-${request.home}`;
    const key = `${kernel}${request.shape}:${setting('convLayout')}:t${rt.addon.getThreads()}${homeTag}`;
    const cache = tuningCacheOf(rt);
    const known = cache.get(key);
    if (known !== undefined) return { algorithm: known.algorithm, ms: known.ms[known.algorithm] };
    const scratch = new Map<string, Float32Array>(); // by slot and desc: never two slots of one plan

    const candidates: Candidate[] = [];
    const bufferOf = (slot: number, id: number): Float32Array => {
      let buffer = scratch.get(`${slot}:${id}`);
      if (buffer === undefined) {
        buffer = rt.allocate(Math.ceil(rt.descInfo(id).bytes / 4));
        scratch.set(`${slot}:${id}`, buffer);
      }
      return buffer;
    };
    const homeIds = request.buffers(home);
    const plansBefore = rt.planKeys();
    /** Per algorithm, the plan ids its measurement ran (the conv's and its conversions'). */
    const ran = new Map<ConvAlgorithm, number[]>();
    for (const algorithm of ['direct', ...request.candidates] as const) {
      const plan = planIfAvailable(request, algorithm);
      if (plan === null) continue;
      const ids = request.buffers(plan);
      const buffers: Float32Array[] = [];
      let weights: Float32Array | undefined;
      ids.forEach((id, slot) => {
        if (id === undefined) return;
        buffers.push(bufferOf(slot, id));
        if (slot === request.weightSlot) weights = buffers[buffers.length - 1];
      });
      // Conversions from and to the home plan's layouts, as the kernel runs them (conv.ts).
      const before: [number, Float32Array[]][] = [];
      const after: [number, Float32Array[]][] = [];
      const slots = request.layoutSlots;
      if (slots !== undefined) {
        const [src, dst] = [ids[slots.src], ids[slots.dst]];
        const [homeSrc, homeDst] = [homeIds[slots.src], homeIds[slots.dst]];
        if (src !== undefined && homeSrc !== undefined && src !== homeSrc)
          before.push([rt.reorderPlan(homeSrc, src), [bufferOf(slots.src, homeSrc), bufferOf(slots.src, src)]]);
        if (dst !== undefined && homeDst !== undefined && dst !== homeDst)
          after.push([rt.reorderPlan(dst, homeDst), [bufferOf(slots.dst, dst), bufferOf(slots.dst, homeDst)]]);
      }
      // The plan's own work before the conv, from a buffer in the weight's layout into its weights.
      const prologue = (request.prologue?.(plan) ?? []).map((step, i, all): [number, Float32Array[]] => [
        step.plan,
        [bufferOf(-1 - i, step.from), i === all.length - 1 && weights ? weights : bufferOf(-2 - i, step.to)],
      ]);
      const read = prologue[0]?.[1][0] ?? weights;
      ran.set(algorithm, [plan.plan, ...[...prologue, ...before, ...after].map(([p]) => p)]);
      candidates.push({
        algorithm,
        // Faster than direct by DIRECT_MARGIN, or by the noise where it rounds as direct does.
        margin: sameRoundingKernel(plan.impl) ? SAME_ROUNDING_MARGIN : undefined,
        prepare: () => {
          if (read !== undefined) rt.addon.evictFromCache(read);
        },
        run: () => {
          for (const [p, b] of [...prologue, ...before]) rt.exec(request.kernel, p, b);
          rt.exec(request.kernel, plan.plan, buffers);
          for (const [p, b] of after) rt.exec(request.kernel, p, b);
          rt.flushSync();
        },
      });
    }
    const { cpuShare, contended, ...choice } = measureFastest(candidates, undefined, {
      cpuMs: processCpuMs,
      threads: rt.addon.getThreads(),
    });
    if (contended) {
      // Other work held the cores: the times are noise (3-30x too slow), so no file keeps them.
      debugNote(`${key}: measured at ${cpuShare?.toFixed(2)} of the threads' CPU time (other work running): not saved`);
      cache.setProvisional(key, choice);
    } else {
      cache.set(key, choice);
    }
    // What only the slower candidates ran will not run again: released now, so that a model's
    // plans fit the cache (DenseNet-BC-100's training step uses some 750) instead of pushing
    // them out. Direct's and the home plan stay: every call reads them.
    const keep = new Set([home.plan, ...(ran.get('direct') ?? []), ...(ran.get(choice.algorithm) ?? [])]);
    rt.dropPlansMadeSince(plansBefore, keep);
    return { algorithm: choice.algorithm, saved: !contended, measured: choice.ms, ms: choice.ms[choice.algorithm] };
  }

  // Under 'tune' a weight's first forward conv runs direct (or its `cold` algorithm), untimed.
  // Winograd's inference weight transform is slow (oneDNN's wino_reorder, serial: 55 ms for a
  // 512x512x3x3 weight, more than the conv), so it is worth paying, and timing, only for weights
  // used again; a one-image `convkit predict` pays neither. oneDNN compiles a kernel per shape
  // when one first runs (0.4 ms for each of DenseNet-121's 61 distinct 1x1 convs on a Zen 5
  // host), so a first use runs a cold kernel compiled with the addon where there is one.
  const usedBefore = firstUseTracker();

  return {
    homePlan,
    plan(request) {
      const tune = setting('convAlgorithm') === 'tune';
      if (request.candidates.length > 0 && (!tune || usedBefore(request.weight))) return chosenPlan(request);
      const cold = tune && request.cold !== undefined ? planIfAvailable(request, request.cold) : null;
      const plan = cold ?? request.planOf('direct');
      const algorithm = cold === null ? 'direct' : (request.cold ?? 'direct');
      leaveNote(rt, request.kernel, { algorithm, impl: plan.impl, tuned: false });
      return plan;
    },
  };
}
