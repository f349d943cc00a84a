/**
 * The convkit side of `npm run bench`, in one module: how a user runs convkit fast. The native
 * backend queues work on its worker thread, so every timed run ends with `await synchronize()`;
 * inference in eval mode under noGrad takes the fused path (BN folded, ReLU and sums as post-ops).
 */
import { setThreads, synchronize } from '../../src/backend/registry.js';
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { loadNativeAddon, nativeRuntime } from '../../src/backend/native/index.js';
import { takeLinearNote } from '../../src/backend/native/linear-choice.js';
import { setting } from '../../src/core/config.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { traceOps } from '../../src/core/trace.js';
import { buildModel } from '../../src/models/registry.js';
import { describeFusion, type FusedGroup, fusedGroups, inferenceFusionEnabled } from '../../src/nn/fuse.js';
import type { TensorModule } from '../../src/nn/module.js';
import { type RecordedInference, recordInference } from '../../src/nn/record.js';
import { conv2d } from '../../src/ops/conv2d.js';
import { normal, randn, zeros } from '../../src/ops/creation.js';
import { recordTrainingStep, stepOpByOp } from '../../src/train/record-step.js';
import { SGD } from '../../src/train/sgd.js';
import { median } from './timing.js';

/** Something to time: `run` does one batch; `dispose` frees what the workload holds. */
export interface Workload {
  run(): Promise<void>;
  dispose(): void;
}

/** One op kind at one module path, per forward pass (a module called 3 times counts 3 calls). */
export interface LayerTime {
  path: string;
  op: string;
  calls: number;
  ms: number;
  macs: number;
  /** The conv's algorithm and oneDNN kernel, e.g. `winograd jit_fp32_wino_2x3:avx512_core (tuned)`; absent for other ops. */
  kernel?: string;
}

const BACKEND = 'native';

/** Why convkit cannot be benchmarked here (the native addon is missing), or null. */
export function unavailable(): string | null {
  const addon = loadNativeAddon();
  return 'error' in addon ? addon.error : null;
}

export function configure(threads: number): void {
  if (unavailable() === null) setThreads(threads);
}

/** The engine in words; `recorded`: whether inference passes and training steps are recorded (default: unless CONVKIT_BENCH_RECORD=0). */
export function describe(threads: number, recorded = process.env.CONVKIT_BENCH_RECORD !== '0'): string {
  const addon = loadNativeAddon();
  const onednn = 'error' in addon ? '?' : addon.version();
  const passes = recorded
    ? 'recorded (nn.recordInference, and training steps by recordTrainingStep)'
    : 'built op by op';
  return `convkit ${BACKEND} backend (oneDNN ${onednn}, blocked layouts, fused inference, conv algorithm ${setting('convAlgorithm')}, passes ${passes}, ${threads} threads on a worker queue)`;
}

function disposeModel(model: TensorModule): void {
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
}

/** Forward multiply-adds per image (conv and linear, as torchvision counts), traced on shapes alone. */
export function macsPerImage(
  name: string,
  input: readonly [number, number, number] = [3, 224, 224],
  classes?: number,
): number {
  const model = buildModel(name, { backend: 'meta', classes });
  let macs = 0;
  traceOps(
    (e) => (macs += e.macs),
    () => model.call(zeros([1, ...input], { backend: 'meta' })),
  );
  return macs;
}

/** Inference: eval mode, no graph, every intermediate freed by the scope. */
function syncInference(
  name: string,
  batch: number,
): { model: TensorModule; input: Tensor; forward: () => void; dispose: () => void } {
  const model = buildModel(name, { backend: BACKEND });
  model.eval();
  const x = randn([batch, 3, 224, 224], { backend: BACKEND });
  return {
    model,
    input: x,
    forward: () => scope(() => noGrad(() => void model.call(x))),
    dispose: () => {
      disposeModel(model);
      x.dispose();
    },
  };
}

/**
 * Inference as a server runs it: the pass recorded once (nn.recordInference, after two warm-up
 * passes) and replayed with one native call per batch. CONVKIT_BENCH_RECORD=0 times the pass
 * built op by op instead.
 */
export function inference(name: string, batch: number): Workload {
  const { model, forward, dispose, input } = syncInference(name, batch);
  if (process.env.CONVKIT_BENCH_RECORD === '0')
    return {
      run: () => {
        forward();
        return synchronize();
      },
      dispose,
    };
  const recorded = recordInference(model, input.shape);
  return {
    run: () => {
      scope(() => void recorded.run(input));
      return synchronize();
    },
    dispose: () => {
      recorded.dispose();
      dispose();
    },
  };
}

/** One training step as the training loop does it: zeroGrad, forward, cross-entropy, backward, SGD step. */
export function training(
  name: string,
  batch: number,
  size: number,
  classes: number,
  recorded = process.env.CONVKIT_BENCH_RECORD !== '0',
): Workload {
  const model = buildModel(name, { backend: BACKEND, classes });
  model.train();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = randn([batch, 3, size, size], { backend: BACKEND });
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7919) % classes);
  // As the training loop runs steps: recorded once the kernels are chosen, then replayed.
  const steps = recorded ? recordTrainingStep(model, optimizer) : null;
  const once = async (): Promise<void> => {
    const { loss, logits } = steps?.step(x, labels) ?? stepOpByOp(model, optimizer, x, labels);
    await synchronize(); // as the training loop does: the step runs while the event loop is free
    loss.item();
    loss.dispose();
    logits.dispose();
  };
  let first = true;
  return {
    run: async () => {
      // The first run (the bench's warm-up) steps on until steps replay: one or two op by op while
      // the kernels are chosen, then the one recorded (it first-touches the recording's memory).
      for (let i = 0; first && steps !== null && steps.replaying !== true && i < 4; i++) await once();
      first = false;
      await once();
    },
    dispose: () => {
      steps?.dispose();
      disposeModel(model);
      x.dispose();
    },
  };
}

/** The 3x3 convolutions of a model's `features` (VGG16's 13), as traced at batch 1. */
function convShapes(name: string): { x: readonly number[]; w: readonly number[]; macs: number }[] {
  const model = buildModel(name, { backend: 'meta' });
  const convs: { x: readonly number[]; w: readonly number[]; macs: number }[] = [];
  traceOps(
    (e) => {
      const [x, w] = e.inputs;
      if (e.op === 'conv2d' && x && w && w.shape[2] === 3 && w.shape[3] === 3)
        convs.push({ x: x.shape, w: w.shape, macs: e.macs });
    },
    () => model.call(zeros([1, 3, 224, 224], { backend: 'meta' })),
  );
  return convs;
}

/** A model's 3x3 convolutions (padding 1, bias) as separate conv2d calls on pre-made inputs. */
export function convLayers(name: string, batch: number): Workload & { macs: number; layers: number } {
  const shapes = convShapes(name);
  const made = shapes.map((s) => ({
    x: randn([batch, ...s.x.slice(1)], { backend: BACKEND }),
    w: normal([...s.w], 0, 0.05, { backend: BACKEND }),
    b: randn([s.w[0]], { backend: BACKEND }),
  }));
  return {
    macs: batch * shapes.reduce((sum, s) => sum + s.macs, 0),
    layers: shapes.length,
    run: () => {
      scope(() => noGrad(() => made.forEach((m) => conv2d(m.x, m.w, m.b, { padding: 1 }))));
      return synchronize();
    },
    dispose: () => made.forEach((m) => [m.x, m.w, m.b].forEach((t: Tensor) => t.dispose())),
  };
}

/**
 * Where inference time goes: the worker thread times every command it runs (the addon's queue
 * timing), and each command is charged to the op that queued it, at the module path it ran in.
 * The pass runs as the bench's inference rows run it: recorded (nn.recordInference, whose two
 * warm-up passes also tune the convs: docs/native-backend.md#algorithm-choice) with the op trace
 * on, then replayed `runs` times, each command charged its median time and `wallMs` the median
 * pass; the copies in and out of the recording are rows of their own.
 * `wallMs` against the sum of op times is what the queue itself costs (waking the worker, and
 * JavaScript once the last command is done). CONVKIT_BENCH_RECORD=0 profiles the pass built op
 * by op instead (averaged over `runs` passes after two warm-ups). Also what ran fused: the
 * inference groups, none when fusion is off (CONVKIT_FUSE=0).
 */
export function profile(
  name: string,
  batch: number,
  runs: number,
): {
  layers: LayerTime[];
  groups: FusedGroup[];
  fusion: string;
  wallMs: number;
  recorded: boolean;
  layout?: RecordedInference['layout'];
} {
  const work = syncInference(name, batch);
  const recordedRun = process.env.CONVKIT_BENCH_RECORD === '0' ? null : recordedTimes(work, runs);
  const timed = recordedRun ?? opByOpTimes(work, runs);
  const fused = inferenceFusionEnabled();
  const groups = fused ? fusedGroups(work.model, 'inference') : [];
  const fusion = fused ? describeFusion(work.model) : 'off (CONVKIT_FUSE=0): every layer ran unfused';
  work.dispose();
  return { ...timed, groups, fusion, recorded: recordedRun !== null };
}

type InferenceWork = ReturnType<typeof syncInference>;
/** The row of `op` at module path `path` (the top level when undefined), made empty on first use. */
function layerRow(totals: Map<string, LayerTime>, path: string | undefined, op: string): LayerTime {
  const key = `${path ?? ''}\u0000${op}`;
  const row = totals.get(key) ?? { path: path ?? '(top level)', op, calls: 0, ms: 0, macs: 0 };
  totals.set(key, row);
  return row;
}
/** The kernel a conv or linear op ran; both notes are taken, so none is left for a later op (a pooling row). */
function kernelOf(runtime: ReturnType<typeof nativeRuntime>, op: string): string | undefined {
  const conv = takeConvAlgorithmNote(runtime);
  const linear = takeLinearNote(runtime);
  if (op === 'linear') return linear ?? undefined;
  return conv === null ? undefined : `${conv.algorithm} ${conv.impl}${conv.tuned ? ' (tuned)' : ''}`;
}

/** The recorded pass's commands, each charged to the op that queued it while recording; null (and a line on stderr) when the pass cannot be recorded. */
function recordedTimes(
  work: InferenceWork,
  runs: number,
): { layers: LayerTime[]; wallMs: number; layout: RecordedInference['layout'] } | null {
  const runtime = nativeRuntime();
  // The layout the bench's rows would keep (measured), then that pass alone traced: a traced
  // 'measure' would charge both recordings' commands.
  const measured = recordInference(work.model, work.input.shape);
  const layout = measured.layout;
  measured.dispose();
  const { addon } = runtime;
  const totals = new Map<string, LayerTime>();
  const ops: { row: LayerTime; end: number }[] = []; // the commands [previous end, end) are the op's
  const recorded = traceOps(
    (e) => {
      const recorder = runtime.recorder;
      if (recorder === null) return; // a warm-up pass
      const r = layerRow(totals, e.path, e.op);
      r.calls += 1;
      r.macs += e.macs;
      r.kernel = kernelOf(runtime, e.op) ?? r.kernel;
      ops.push({ row: r, end: recorder.commands.length });
    },
    () => recordInference(work.model, work.input.shape, { nhwcUpTo: layout?.nhwcUpTo ?? 0 }),
  );
  if (recorded.replaying !== true) {
    process.stderr.write(`[bench] the pass cannot be recorded (${recorded.replaying}): profiling it op by op\n`);
    return null;
  }
  const [copyIn, copyOut] = [layerRow(totals, '(recording)', 'copy in'), layerRow(totals, '(recording)', 'copy out')];
  copyIn.calls = copyOut.calls = 1;
  const commands = ops.at(-1)?.end ?? 0;
  const replay = (): void => {
    scope(() => void recorded.run(work.input));
    runtime.flushSync();
  };
  replay();
  replay();
  // Per command, the median of the runs: one slow run (a preempted vCPU, a woken team) moved a
  // mean of three by milliseconds and made the copy in look like a quarter of the pass.
  const walls: number[] = [];
  const perCommand: number[][] = [];
  for (let run = 0; run < runs; run++) {
    runtime.flushSync();
    addon.setQueueTiming(true);
    const start = performance.now();
    replay();
    walls.push(performance.now() - start);
    const times = addon.takeQueueTimes();
    addon.setQueueTiming(false);
    for (let i = 0; i < times.length; i += 2) {
      perCommand[i / 2] = perCommand[i / 2] ?? [];
      perCommand[i / 2].push(times[i + 1]);
    }
  }
  // The copy in, the program's commands in order, the copy out.
  let op = 0;
  perCommand.forEach((times, i) => {
    const k = i - 1;
    const ms = median(times);
    if (k < 0) copyIn.ms += ms;
    else if (k >= commands) copyOut.ms += ms;
    else {
      while (ops[op].end <= k) op++;
      ops[op].row.ms += ms;
    }
  });
  recorded.dispose();
  return { layers: [...totals.values()].filter((l) => l.calls > 0), wallMs: median(walls), layout };
}

/** The pass built op by op: each op's commands as queued, the pass's ops traced as they run. */
function opByOpTimes(work: InferenceWork, runs: number): { layers: LayerTime[]; wallMs: number } {
  const totals = new Map<string, LayerTime>();
  const runtime = nativeRuntime();
  const { addon } = runtime;
  let wallMs = 0;
  const pass = (record: boolean): void => {
    runtime.flushSync();
    kernelOf(runtime, ''); // only this pass's notes
    const ops: { row: LayerTime; lastCommand: number }[] = [];
    addon.setQueueTiming(true);
    const start = performance.now();
    traceOps((e) => {
      const row = layerRow(totals, e.path, e.op);
      ops.push({ row, lastCommand: addon.submitted() });
      if (!record) return;
      row.calls += 1 / runs;
      row.macs += e.macs / runs;
      row.kernel = kernelOf(runtime, e.op) ?? row.kernel;
    }, work.forward);
    runtime.flushSync();
    if (record) wallMs += (performance.now() - start) / runs;
    const times = addon.takeQueueTimes();
    addon.setQueueTiming(false);
    if (!record) return;
    let op = 0;
    for (let i = 0; i < times.length; i += 2) {
      while (op < ops.length - 1 && times[i] > ops[op].lastCommand) op++;
      if (times[i] <= ops[op].lastCommand) ops[op].row.ms += times[i + 1] / runs;
    }
  };
  pass(false);
  pass(false);
  for (let i = 0; i < runs; i++) pass(true);
  return { layers: [...totals.values()].filter((l) => l.calls > 0), wallMs };
}
