/**
 * `nn.recordInference(model, shape)`: a model's inference pass at one input shape, recorded once
 * and replayed with one native call per batch (on the native backend), for servers and batch-1
 * latency. A pass built op by op in JavaScript costs 1-8 ms of main-thread work per batch, and
 * on a 2-core machine that work also takes a core from the kernels (docs/native-backend.md, "Recorded inference").
 *
 * The recording shares the model's weights and their converted copies, so a change to any
 * parameter or buffer (an optimiser step, loadStateDict, assign), or to the thread count, is
 * noticed at the next run and the pass is recorded again. Other backends, and passes that read values in JavaScript midway (a
 * reference fallback), run the model as usual; `replaying` says which and why.
 */
import { nativeRuntime } from '../backend/native/index.js';
import { nhwcConvsAvailable } from '../backend/native/conv.js';
import { type ConvTiming, nhwcCandidates } from '../backend/native/inference-layout.js';
import { NativeProgram, timePrograms } from '../backend/native/recording.js';
import type { NativeRuntime, NativeStorage } from '../backend/native/runtime.js';
import { setting } from '../core/config.js';
import { ArgumentError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import { formatShape } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { zeros } from '../ops/creation.js';
import type { TensorModule } from './module.js';
import { prepare } from './prepare.js';

/** How recordInference records. */
export interface RecordOptions {
  /**
   * The layout the pass keeps its maps in: 'measure' (the default) keeps the maps up to some size
   * in nhwc where the CPU has brgemm convs and that measured faster (docs/native-backend.md#activation-layout);
   * 'blocked' runs the kernels a pass op by op runs (so the same values, bit for bit); 'nhwc'
   * keeps every map in nhwc that it can.
   */
  layout?: 'measure' | 'blocked' | 'nhwc';
  /**
   * Instead of `layout`: keep maps of at most this many pixels (H * W) in nhwc, as a 'measure'
   * recording reported in `layout.nhwcUpTo` (0: all blocked).
   */
  nhwcUpTo?: number;
}

/** A model's recorded inference pass (see recordInference). */
export interface RecordedInference {
  /** What `model.call(x)` gives in eval mode under noGrad, for x of the recorded shape. */
  run(x: Tensor): Tensor;
  /** true while passes replay a recording; otherwise why they run the model op by op. */
  readonly replaying: true | string;
  /**
   * What 'measure' found (none tried: the convs' times favoured blocked at every size); null where
   * it measured nothing (a layout asked for, no brgemm convs on this CPU, or not replaying).
   */
  readonly layout: {
    /** The maps of at most this many pixels (H * W) the kept pass holds in nhwc (0: none). */
    nhwcUpTo: number;
    /** Each map size tried, in order: its ms per pass against the one kept so far, in alternating runs. */
    trials: {
      nhwcUpTo: number;
      ms: number;
      against: { nhwcUpTo: number; ms: number };
      /** Whether other work held the cores while they were timed (then the one kept so far stays). */
      contended: boolean;
      /** Whether it was kept: 2 % faster by the median and by the fastest run, uncontended. */
      kept: boolean;
    }[];
  } | null;
  /** Frees the recording (its private buffers go to the garbage collector). */
  dispose(): void;
}

/** Each parameter and buffer with its version when the pass was recorded. */
function versionsOf(model: TensorModule): [Tensor, number][] {
  return [...model.parameters(), ...model.buffers()].map((t) => [t, t.version]);
}

/**
 * Records `model`'s inference pass at `inputShape` (batch included). Two passes on zeros come
 * first, so plans exist, weights are converted and algorithms chosen (nn.prepare), then a third
 * is recorded; with `layout: 'measure'` (the default) that happens per layout and the faster
 * recording is kept (RecordOptions). The model's training mode and the grad mode are left as they were.
 */
export function recordInference(
  model: TensorModule,
  inputShape: readonly number[],
  options: RecordOptions = {},
): RecordedInference {
  const where = 'nn.recordInference';
  const wanted = options.layout ?? 'measure';
  if (!['measure', 'blocked', 'nhwc'].includes(wanted))
    throw new ArgumentError(where, `options.layout must be 'measure', 'blocked' or 'nhwc', got '${wanted}'`);
  const fixedUpTo = options.nhwcUpTo;
  if (fixedUpTo !== undefined && !(fixedUpTo >= 0))
    throw new ArgumentError(where, `options.nhwcUpTo must be a number of pixels >= 0, got ${fixedUpTo}`);
  if (inputShape.length === 0 || !inputShape.every((n) => Number.isInteger(n) && n > 0))
    throw new ArgumentError(where, `inputShape must be positive integers, got [${inputShape.join(', ')}]`);
  const shape = [...inputShape];
  const first = model.parameters()[0] ?? model.buffers()[0];
  const backend = first?.backend;
  const inEval = <T>(f: () => T): T => {
    const wasTraining = model.training;
    model.eval();
    try {
      return noGrad(f);
    } finally {
      model.train(wasTraining);
    }
  };
  const opByOp = (x: Tensor): Tensor => inEval(() => model.call(x));

  let program: NativeProgram | null = null;
  let outShape: readonly number[] = [];
  let versions: [Tensor, number][] = [];
  let threads = 0; // plans are sized for the thread count they were made with (setThreads makes new ones)
  let replaying: true | string = 'not recorded yet';
  let layout: RecordedInference['layout'] = null;
  /** Runs `f` with maps of up to `nhwcUpTo` pixels in nhwc (NativeRuntime.nhwcUpTo), then puts the runtime back. */
  const inLayout = <T>(rt: NativeRuntime, nhwcUpTo: number, f: () => T): T => {
    const before = rt.nhwcUpTo;
    rt.nhwcUpTo = nhwcUpTo;
    try {
      return f();
    } finally {
      rt.nhwcUpTo = before;
      rt.convTimings = null;
    }
  };
  /**
   * The pass recorded with maps of up to `nhwcUpTo` pixels in nhwc, after `warm` passes: under
   * CONVKIT_CONV_ALGORITHM=tune a weight's first use runs direct and its second converts it for
   * Winograd where that measured faster (a recorded conversion would be replayed on every run).
   * The convs' tuned times of the last warm pass go to `timings` when given.
   */
  const recordWith = (
    rt: NativeRuntime,
    nhwcUpTo: number,
    warm: number,
    timings?: ConvTiming[],
  ): NativeProgram | { reason: string } =>
    inLayout(rt, nhwcUpTo, () => {
      const x = zeros(shape, { backend: 'native' });
      let y: Tensor | null = null;
      try {
        for (let pass = 0; pass < warm; pass++) {
          rt.convTimings = pass === warm - 1 && timings !== undefined ? timings : null;
          prepare(model, shape);
        }
        rt.convTimings = null;
        return inEval(() =>
          NativeProgram.record(rt, x.storage as NativeStorage, shape, () => {
            y = scope(() => model.call(x));
            outShape = y.shape;
            return y.storage;
          }),
        );
      } finally {
        x.dispose();
        (y as Tensor | null)?.dispose(); // the program has its own copy of the output's buffer
      }
    });
  /**
   * 'measure': the pass blocked; then, where oneDNN has brgemm convs (AVX-512), one more warm pass
   * with every map in nhwc, for the convs' tuned times in each layout. The map sizes up to which
   * nhwc saved conv time (nhwcCandidates) are recorded in turn, each timed against the fastest so
   * far and kept when 2 % faster on cores no other work held (docs/native-backend.md#activation-layout).
   */
  const recordMeasured = (rt: NativeRuntime): NativeProgram | { reason: string } => {
    const [blockedTimes, nhwcTimes]: ConvTiming[][] = [[], []];
    let best = recordWith(rt, 0, 2, blockedTimes);
    if (!(best instanceof NativeProgram) || !nhwcConvsAvailable(rt)) return best;
    inLayout(rt, Number.POSITIVE_INFINITY, () => {
      rt.convTimings = nhwcTimes;
      prepare(model, shape);
    });
    const found: NonNullable<RecordedInference['layout']> = { nhwcUpTo: 0, trials: [] };
    const what = (upTo: number): string => (upTo === 0 ? 'all blocked' : `nhwc up to ${upTo} pixels`);
    const x = zeros(shape, { backend: 'native' });
    try {
      for (const nhwcUpTo of nhwcCandidates(blockedTimes, nhwcTimes)) {
        const tried = recordWith(rt, nhwcUpTo, 1);
        if (!(tried instanceof NativeProgram)) continue;
        const { ms, fastest, contended } = timePrograms(rt, [best, tried], x.storage);
        // 2 % on the median and on the fastest run: within the noise of a few runs the one kept so
        // far stays (blocked first: what every other path uses). One criterion alone kept ResNet-50
        // at batch 1 with its 7x7 maps in nhwc (2.7 % faster there, 1 % slower over 160 runs).
        const kept = !contended && ms[1] < 0.98 * ms[0] && fastest[1] < 0.98 * fastest[0];
        const against = { nhwcUpTo: found.nhwcUpTo, ms: ms[0] };
        found.trials.push({ nhwcUpTo, ms: ms[1], against, contended, kept });
        if (setting('debug').has('native'))
          process.stderr.write(
            `[convkit native] recordInference: ${what(nhwcUpTo)} ${ms[1].toFixed(2)} ms a pass against ${what(against.nhwcUpTo)} ${ms[0].toFixed(2)}${contended ? ' (cores contended)' : ''}: ${kept ? 'kept' : 'dropped'}\n`,
          );
        (kept ? best : tried).dispose();
        if (kept) [best, found.nhwcUpTo] = [tried, nhwcUpTo];
      }
    } finally {
      x.dispose();
    }
    layout = found;
    return best;
  };
  const warmAndRecord = (): void => {
    program?.dispose();
    program = null;
    layout = null;
    if (backend?.name !== 'native') {
      replaying = `the model is on the ${backend?.name ?? 'unknown'} backend; recording needs the native backend`;
      return;
    }
    const rt = nativeRuntime();
    versions = versionsOf(model);
    threads = rt.getThreads();
    const upTo = fixedUpTo ?? (wanted === 'nhwc' ? Number.POSITIVE_INFINITY : 0);
    const recorded = fixedUpTo === undefined && wanted === 'measure' ? recordMeasured(rt) : recordWith(rt, upTo, 2);
    if (recorded instanceof NativeProgram) {
      program = recorded;
      replaying = true;
      rt.releasePooled(); // the warm passes' buffers: replays run on the program's own slabs
    } else {
      replaying = recorded.reason;
      layout = null;
    }
  };
  warmAndRecord();
  return {
    get replaying() {
      return replaying;
    },
    get layout() {
      return layout;
    },
    run(x: Tensor): Tensor {
      if (x.shape.length !== shape.length || x.shape.some((d, i) => d !== shape[i]))
        throw new ArgumentError(where, `input has shape ${formatShape(x.shape)}, recorded for ${formatShape(shape)}`);
      // Only a live recording is renewed: a pass that could not be recorded runs op by op anyway.
      if (program !== null && (versions.some(([t, v]) => t.version !== v) || nativeRuntime().getThreads() !== threads))
        warmAndRecord();
      if (program === null || backend === undefined || x.dtype !== 'float32') return opByOp(x);
      return new Tensor(program.run(x.storage), outShape, backend);
    },
    dispose(): void {
      program?.dispose();
      program = null;
      replaying = 'disposed';
    },
  };
}
