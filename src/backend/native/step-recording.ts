/**
 * A training step recorded once and replayed with one addon call (train/record-step.ts): the
 * forward pass, the loss, the backward pass and the optimiser's update as one program, so no
 * JavaScript runs per op. On a 2-core machine the main thread building a step op by op takes a
 * core from the kernels: ResNet-20's step (batch 128) ran 101 ms built op by op and 90 ms replayed.
 *
 * As for inference (recording.ts), the buffers the step takes from the pool get private slabs;
 * the others are shared with the model and the optimiser: parameters, momentum and running
 * statistics, which the step updates in place, so each replay carries them on. The batch comes
 * in through two queued copies per run: the input into its slab, the class targets into the
 * arrays the loss kernels read.
 */
import { setting } from '../../core/config.js';
import type { Storage } from '../../core/storage.js';
import type { ExecScalars } from './addon.js';
import { newRecorder, onSlabs, privateMemories, steadyArrays } from './recording.js';
import { type NativeRuntime, NativeStorage, PLAIN } from './runtime.js';

/** The kernels of optimiser updates, whose scalars change from step to step. */
const OPTIMIZER_OPS: ReadonlySet<string> = new Set(['sgdStep', 'adamStep']);

function sameScalars(a: ExecScalars, b: ExecScalars): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.is(a[k], b[k]));
}

/** A recorded step: copy the batch in, run the commands, copy the outputs (the loss, the logits) out. */
export class NativeStepProgram {
  private id: number | null;

  private constructor(
    private readonly rt: NativeRuntime,
    id: number,
    private readonly input: { buffer: Float32Array; desc: number; dims: readonly number[] },
    private readonly targets: readonly Float32Array[],
    private readonly outputs: readonly { buffer: Float32Array; desc: number; size: number }[],
    /** The optimiser's commands (sgdStep, adamStep), in order, with the scalars recorded in them. */
    private readonly steps: readonly { index: number; scalars: ExecScalars }[],
  ) {
    this.id = id;
  }

  /** How many optimiser updates (one per parameter stepped) the program makes. */
  get optimizerSteps(): number {
    return this.steps.length;
  }

  /** The number of class targets a batch has (0 when the loss reads none). */
  get batchTargets(): number {
    return this.targets[0]?.length ?? 0;
  }

  /**
   * Records what `step` queues (one training step on `input`; it returns the storages to copy
   * out of each run: the loss, the logits). Returns the program, or why the step cannot be replayed.
   */
  static record(
    rt: NativeRuntime,
    input: NativeStorage,
    inputDims: readonly number[],
    step: () => readonly Storage[],
  ): NativeStepProgram | { reason: string } {
    if (rt.recorder !== null) return { reason: 'another pass is being recorded' };
    rt.flushSync();
    const recorder = newRecorder();
    rt.recorder = recorder;
    let outs: readonly Storage[];
    try {
      outs = step();
    } finally {
      rt.recorder = null;
    }
    if (recorder.impure !== null) return { reason: recorder.impure };
    const foreign = outs.find((s) => !(s instanceof NativeStorage));
    if (foreign) return { reason: `an output is a ${foreign.backendName} storage` };
    const outputs = outs as readonly NativeStorage[];
    if (recorder.commands.length === 0) return { reason: 'the step queued no native work' };
    const { targets } = recorder;
    if (targets.some((t) => t.length !== targets[0].length))
      return { reason: 'the loss read class targets of different lengths' };
    const outMemory = new Set(outputs.map((s) => s.buffer.buffer));
    const isPrivate = (m: ArrayBufferLike): boolean =>
      recorder.taken.has(m) || m === input.buffer.buffer || outMemory.has(m);
    // Each output stays live to the end (run() copies out of it): the loss is the last one written.
    const privates = privateMemories(
      [...recorder.commands, ...outputs.map((s) => ({ op: 'output', plan: -1, buffers: [s.buffer] }))],
      isPrivate,
      input.buffer.buffer,
      outputs[0].buffer.buffer,
      (bytes) => rt.arrayBuffer(bytes),
    );
    const { commands, ownView } = onSlabs(rt, recorder.commands, privates);
    // The shared arrays the step only reads stay as they are while the program does (their NaN/Inf
    // scans are kept); the targets change with every batch.
    const steady = steadyArrays(recorder.commands, isPrivate).filter((a) => !targets.includes(a));
    const id = rt.addon.programCreate(commands, steady);
    if (setting('debug').has('native')) {
      const slabs = new Set(privates.values());
      const mib = [...slabs].reduce((n, b) => n + b.byteLength, 0) / 2 ** 20;
      process.stderr.write(
        `[convkit native] recorded a training step: ${commands.length} commands, ${privates.size} private buffers in ${slabs.size} slabs (${mib.toFixed(1)} MiB)\n`,
      );
    }
    const steps = recorder.commands.flatMap(({ op, scalars }, index) =>
      OPTIMIZER_OPS.has(op) && scalars !== undefined ? [{ index, scalars }] : [],
    );
    const layout = (s: NativeStorage, dims: readonly number[]) => (s.desc === PLAIN ? rt.plainDesc(dims) : s.desc);
    return new NativeStepProgram(
      rt,
      id,
      { buffer: ownView(input.buffer) as Float32Array, desc: layout(input, inputDims), dims: inputDims },
      targets,
      outputs.map((s) => ({ buffer: ownView(s.buffer) as Float32Array, desc: layout(s, [s.size]), size: s.size })),
      steps,
    );
  }

  /**
   * Queues a step on `x` (of the recorded dims) with these class targets, each optimiser update
   * with its scalars in `stepScalars` (a learning rate, Adam's bias corrections: those that
   * differ from the recorded ones are passed anew); returns the outputs' storages.
   */
  run(x: Storage, targets: Float32Array, stepScalars: readonly ExecScalars[]): NativeStorage[] {
    if (this.id === null) throw new Error('a recorded training step used after dispose()');
    if (stepScalars.length !== this.steps.length)
      throw new Error(`a recorded training step makes ${this.steps.length} updates, given ${stepScalars.length}`);
    const patches = this.steps.flatMap(({ index, scalars }, k) =>
      sameScalars(scalars, stepScalars[k]) ? [] : [[index, stepScalars[k]] as const],
    );
    const { rt, input } = this;
    const source = rt.input(x, input.desc, input.dims);
    rt.exec('recorded input', rt.reorderPlan(input.desc, input.desc), [source, input.buffer]);
    if (this.targets.length > 0) {
      const plain = rt.plainDesc([targets.length]);
      for (const t of this.targets) rt.exec('recorded targets', rt.reorderPlan(plain, plain), [targets, t]);
    }
    rt.addon.programRun(this.id, patches);
    return this.outputs.map(({ buffer, desc, size }) => {
      const out = rt.output(desc, size);
      rt.exec('recorded output', rt.reorderPlan(desc, desc), [buffer, out.buffer]);
      return out;
    });
  }

  dispose(): void {
    if (this.id !== null) this.rt.addon.programRelease(this.id);
    this.id = null;
  }
}
