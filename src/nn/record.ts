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
import { NativeProgram, timePrograms } from '../backend/native/recording.js';
import type { InferenceLayout, NativeRuntime, NativeStorage } from '../backend/native/runtime.js';
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
   * The layout the pass keeps its maps in: 'measure' (the default) records it blocked and, where
   * the CPU has brgemm convs, in nhwc, and keeps the faster; 'blocked' runs the kernels a pass op
   * by op runs (so the same values, bit for bit); 'nhwc' keeps maps in nhwc where it can.
   */
  layout?: 'measure' | InferenceLayout;
}

/** A model's recorded inference pass (see recordInference). */
export interface RecordedInference {
  /** What `model.call(x)` gives in eval mode under noGrad, for x of the recorded shape. */
  run(x: Tensor): Tensor;
  /** true while passes replay a recording; otherwise why they run the model op by op. */
  readonly replaying: true | string;
  /**
   * The layout the recorded pass keeps its maps in, each one's measured time per pass (ms), and
   * whether other work held the cores meanwhile (then blocked is kept); null where only one was
   * recorded (no brgemm convs on this CPU, a layout asked for, or not replaying).
   */
  readonly layout: { chosen: InferenceLayout; ms: Record<InferenceLayout, number>; contended: boolean } | null;
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
  /** The pass recorded with the maps in `inferenceLayout`, after two warm passes (see below). */
  const recordIn = (rt: NativeRuntime, inferenceLayout: InferenceLayout): NativeProgram | { reason: string } => {
    const before = rt.inferenceLayout;
    rt.inferenceLayout = inferenceLayout;
    const x = zeros(shape, { backend: 'native' });
    let y: Tensor | null = null;
    try {
      // Two passes first: under CONVKIT_CONV_ALGORITHM=tune a weight's first use runs direct and
      // its second converts it for Winograd where that measured faster; a recorded conversion
      // would be replayed on every run.
      prepare(model, shape);
      prepare(model, shape);
      return inEval(() =>
        NativeProgram.record(rt, x.storage as NativeStorage, shape, () => {
          y = scope(() => model.call(x));
          outShape = y.shape;
          return y.storage;
        }),
      );
    } finally {
      rt.inferenceLayout = before;
      x.dispose();
      (y as Tensor | null)?.dispose(); // the program has its own copy of the output's buffer
    }
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
    // Where oneDNN has brgemm convs (AVX-512), the pass is recorded with its maps blocked and in
    // nhwc, and the faster kept: which wins depends on the model, the batch and the CPU
    // (docs/native-backend.md#activation-layout).
    const layouts: InferenceLayout[] =
      wanted !== 'measure' ? [wanted] : nhwcConvsAvailable(rt) ? ['blocked', 'nhwc'] : ['blocked'];
    const programs: NativeProgram[] = [];
    for (const inferenceLayout of layouts) {
      const recorded = recordIn(rt, inferenceLayout);
      if (!(recorded instanceof NativeProgram)) {
        for (const p of programs) p.dispose();
        replaying = recorded.reason;
        return;
      }
      programs.push(recorded);
    }
    replaying = true;
    if (programs.length === 1) {
      program = programs[0];
      return;
    }
    const x = zeros(shape, { backend: 'native' });
    const { ms, contended } = timePrograms(rt, programs, x.storage);
    x.dispose();
    // nhwc must win by 2 % (within the noise of a few runs blocked stays: what every other path
    // uses), and on cores no other work held.
    const best = !contended && ms[1] < 0.98 * ms[0] ? 1 : 0;
    program = programs[best];
    programs[1 - best].dispose();
    layout = { chosen: layouts[best], ms: { blocked: ms[0], nhwc: ms[1] }, contended };
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
