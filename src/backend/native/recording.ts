/**
 * An inference pass recorded once and replayed with one addon call (nn.recordInference): no
 * JavaScript per op, so at batch 1 the worker starts at once instead of waiting for (and sharing
 * the cores with) the main thread building the pass layer by layer.
 *
 * While recording, the runtime notes every command it queues and every buffer it takes. The
 * buffers taken during the pass (its intermediates, its output, the input's conversions) and
 * the input's own buffer get private copies that only the program uses; the others (weights,
 * their converted and folded copies, constants) are shared with the model. So a recording
 * holds as long as those stay: the caller records again when a parameter or buffer changes.
 */
import { setting } from '../../core/config.js';
import type { Storage } from '../../core/storage.js';
import type { ExecBuffer, ExecScalars } from './addon.js';
import { CONTENDED_CPU_SHARE, processCpuMs } from './conv-tuning.js';
import { joinsInPlace } from './joins-in-place.js';
import { type NativeRuntime, NativeStorage, PLAIN } from './runtime.js';

declare module './addon.js' {
  interface NativeAddon {
    // ---- queue.cc
    /**
     * Checks each [plan, buffers, scalars?] as exec does and keeps them, plans and arrays, as one
     * program. `steady`: arrays that stay as they are while the program does, so the NaN/Inf
     * scans of its guards are kept from run to run (native/src/finite_memo.h).
     */
    programCreate(
      commands: readonly (readonly [number, readonly ExecBuffer[], ExecScalars?])[],
      steady?: readonly Float32Array[],
    ): number;
    /**
     * Queues the program's commands, in order, with one call. `patches`: [command index, scalars]
     * by increasing index, the scalars those commands run with this time (as exec reads them).
     */
    programRun(program: number, patches?: readonly (readonly [number, ExecScalars])[]): void;
    /** Drops a program (false for an unknown id); runs already queued keep what they use. */
    programRelease(program: number): boolean;
  }
}

/** One queued command as the runtime saw it. */
export interface RecordedCommand {
  op: string;
  plan: number;
  buffers: ExecBuffer[];
  scalars?: ExecScalars;
}

/** What the runtime notes while a pass is recorded. */
export interface Recorder {
  commands: RecordedCommand[];
  /** The memory of every buffer taken from the pool (or allocated for it) during the pass. */
  taken: Set<ArrayBufferLike>;
  /** Why the pass cannot be replayed (it read values in JavaScript), or null. */
  impure: string | null;
  /** Arrays the kernels made from JavaScript values during the pass (a loss's class targets). */
  targets: Float32Array[];
  /** Per memory taken, the command count at each take: from there on it holds another tensor. */
  takes: Map<ArrayBufferLike, number[]>;
  /** Concat plans whose output is their sources laid end to end, with each source's length in floats (joins-in-place.ts). */
  joins: Map<number, readonly number[]>;
  /** Notes that `buffer` holds a new tensor from the next command on (in `taken` and `takes`). */
  noteTake(buffer: Float32Array): void;
}

/** A recorder with nothing noted yet. */
export function newRecorder(): Recorder {
  const recorder: Recorder = {
    commands: [],
    taken: new Set(),
    impure: null,
    targets: [],
    takes: new Map(),
    joins: new Map(),
    noteTake(buffer) {
      recorder.taken.add(buffer.buffer);
      const at = recorder.takes.get(buffer.buffer);
      if (at === undefined) recorder.takes.set(buffer.buffer, [recorder.commands.length]);
      else at.push(recorder.commands.length);
    },
  };
  return recorder;
}

/**
 * The commands with every view of a private memory moved to the same view of its slab, as far
 * from a 64-byte boundary as the original (oneDNN's kernels want it); `ownView` maps one array
 * (each original keeps one view, so identity holds).
 */
export function onSlabs(
  rt: NativeRuntime,
  commands: readonly RecordedCommand[],
  privates: Map<ArrayBufferLike, ArrayBuffer>,
): {
  commands: (readonly [number, ExecBuffer[]] | readonly [number, ExecBuffer[], ExecScalars])[];
  ownView: (a: ExecBuffer) => ExecBuffer;
} {
  const gap = (buffer: ArrayBufferLike): number => rt.addon.alignmentGap(buffer as ArrayBuffer);
  const views = new Map<Float32Array, Float32Array>();
  const ownView = (a: ExecBuffer): ExecBuffer => {
    if (a === null) return null;
    const slab = privates.get(a.buffer);
    if (slab === undefined) return a;
    let v = views.get(a);
    if (v === undefined) {
      v = new Float32Array(slab, a.byteOffset - gap(a.buffer) + gap(slab) + 64, a.length);
      views.set(a, v);
    }
    return v;
  };
  return {
    commands: commands.map((c) =>
      c.scalars === undefined
        ? ([c.plan, c.buffers.map(ownView)] as const)
        : ([c.plan, c.buffers.map(ownView), c.scalars] as const),
    ),
    ownView,
  };
}

/** The arrays the commands read that are not private: they must stay as they are while the program does. */
export function steadyArrays(
  commands: readonly RecordedCommand[],
  isPrivate: (m: ArrayBufferLike) => boolean,
): Float32Array[] {
  const steady = new Set<Float32Array>();
  for (const c of commands) for (const a of c.buffers) if (a !== null && !isPrivate(a.buffer)) steady.add(a);
  return [...steady];
}

/**
 * A private slab for each private memory the commands use, shared between memories whose uses do
 * not overlap (from the first command that uses one to the last): the pass's live set, not its
 * sum. The input's memory is live from before the first command (run() copies into it), the
 * output's until after the last (run() copies out of it).
 */
export function privateMemories(
  commands: readonly RecordedCommand[],
  isPrivate: (m: ArrayBufferLike) => boolean,
  input: ArrayBufferLike,
  output: ArrayBufferLike,
  makeSlab: (bytes: number) => ArrayBuffer = (bytes) => new ArrayBuffer(bytes),
): Map<ArrayBufferLike, ArrayBuffer> {
  const spans = new Map<ArrayBufferLike, { first: number; last: number }>();
  commands.forEach((c, i) => {
    for (const a of c.buffers) {
      if (a === null || !isPrivate(a.buffer)) continue;
      const span = spans.get(a.buffer);
      if (span === undefined) spans.set(a.buffer, { first: i, last: i });
      else span.last = i;
    }
  });
  // run() copies into the input and out of the output even where no command uses them.
  spans.set(input, { first: -1, last: spans.get(input)?.last ?? -1 });
  const out0 = spans.get(output);
  spans.set(output, { first: out0?.first ?? commands.length, last: commands.length });
  const slabs: { memory: ArrayBuffer; freeAfter: number }[] = [];
  const out = new Map<ArrayBufferLike, ArrayBuffer>();
  if (input === output) spans.set(input, { first: -1, last: commands.length });
  for (const [m, span] of [...spans].sort((a, b) => a[1].first - b[1].first)) {
    const bytes = m.byteLength + 128; // room to place views as far from a 64-byte boundary as before
    let best: (typeof slabs)[number] | undefined;
    for (const slab of slabs)
      if (slab.freeAfter < span.first && slab.memory.byteLength >= bytes)
        if (best === undefined || slab.memory.byteLength < best.memory.byteLength) best = slab;
    if (best === undefined) {
      best = { memory: makeSlab(bytes), freeAfter: span.last };
      slabs.push(best);
    }
    best.freeAfter = span.last;
    out.set(m, best.memory);
  }
  return out;
}

/** A storage's layout as a desc id (plain storages: the plain desc over their dims). */
function layoutOf(rt: NativeRuntime, s: NativeStorage, dims: readonly number[]): number {
  return s.desc === PLAIN ? rt.plainDesc(dims) : s.desc;
}

/** A recorded pass: copy the input in, run the commands, copy the output out. */
export class NativeProgram {
  private id: number | null;

  private constructor(
    private readonly rt: NativeRuntime,
    id: number,
    private readonly input: { buffer: Float32Array; desc: number; dims: readonly number[] },
    private readonly output: { buffer: Float32Array; desc: number; size: number },
  ) {
    this.id = id;
  }

  /**
   * Records what `pass` queues (it runs the model on `input` and returns the output storage).
   * Returns the program, or why the pass cannot be replayed.
   */
  static record(
    rt: NativeRuntime,
    input: NativeStorage,
    inputDims: readonly number[],
    pass: () => Storage,
  ): NativeProgram | { reason: string } {
    if (rt.recorder !== null) return { reason: 'another pass is being recorded' };
    rt.flushSync();
    const recorder = newRecorder();
    rt.recorder = recorder;
    let out: Storage;
    try {
      out = pass();
    } finally {
      rt.recorder = null;
    }
    if (recorder.impure !== null) return { reason: recorder.impure };
    if (!(out instanceof NativeStorage)) return { reason: `the output is a ${out.backendName} storage` };
    if (recorder.commands.length === 0) return { reason: 'the pass queued no native work' };
    const [inMemory, outMemory] = [input.buffer.buffer, out.buffer.buffer];
    const joined = joinsInPlace({
      ...recorder,
      movable: (m) => recorder.taken.has(m) && m !== inMemory && m !== outMemory,
      gap: (m) => rt.addon.alignmentGap(m as ArrayBuffer),
    });
    const madeForJoins = new Set<ArrayBufferLike>(joined.memories);
    const isPrivate = (m: ArrayBufferLike): boolean =>
      recorder.taken.has(m) || madeForJoins.has(m) || m === inMemory || m === outMemory;
    const privates = privateMemories(joined.commands, isPrivate, inMemory, outMemory, (bytes) => rt.arrayBuffer(bytes));
    const { commands, ownView } = onSlabs(rt, joined.commands, privates);
    // The arrays shared with the model (weights and their converted copies) stay while the
    // program does: the caller records again when one changes.
    const id = rt.addon.programCreate(commands, steadyArrays(joined.commands, isPrivate));
    if (setting('debug').has('native')) {
      const slabs = new Set(privates.values());
      const mib = [...slabs].reduce((n, b) => n + b.byteLength, 0) / 2 ** 20;
      const joins = recorder.commands.length - commands.length;
      process.stderr.write(
        `[convkit native] recorded a pass: ${commands.length} commands (${joins} joins written in place), ${privates.size} private buffers in ${slabs.size} slabs (${mib.toFixed(1)} MiB)\n`,
      );
    }
    return new NativeProgram(
      rt,
      id,
      { buffer: ownView(input.buffer) as Float32Array, desc: layoutOf(rt, input, inputDims), dims: inputDims },
      { buffer: ownView(out.buffer) as Float32Array, desc: layoutOf(rt, out, [out.size]), size: out.size },
    );
  }

  /** Queues a pass on `x` (of the recorded dims) and returns its output storage. */
  run(x: Storage): NativeStorage {
    if (this.id === null) throw new Error('a recorded program used after dispose()');
    const { rt, input, output } = this;
    const source = rt.input(x, input.desc, input.dims);
    rt.exec('recorded input', rt.reorderPlan(input.desc, input.desc), [source, input.buffer]);
    rt.addon.programRun(this.id);
    const y = rt.output(output.desc, output.size);
    rt.exec('recorded output', rt.reorderPlan(output.desc, output.desc), [output.buffer, y.buffer]);
    return y;
  }

  dispose(): void {
    if (this.id !== null) this.rt.addon.programRelease(this.id);
    this.id = null;
  }
}

/**
 * The median and fastest time (ms) of each program on `x`, from alternating runs after one untimed run each:
 * at least 3 rounds, then more until 9 or about a second has gone (a pass of VGG16 at batch 8
 * takes half of one). `contended`: the runs had less than CONTENDED_CPU_SHARE of the threads'
 * CPU time (other work held the cores, as the tuner checks), so the times say little.
 */
export function timePrograms(
  rt: NativeRuntime,
  programs: readonly NativeProgram[],
  x: Storage,
): { ms: number[]; fastest: number[]; contended: boolean } {
  const runOnce = (p: NativeProgram): number => {
    const start = performance.now();
    const y = p.run(x);
    rt.flushSync();
    y.release();
    return performance.now() - start;
  };
  for (const p of programs) runOnce(p);
  const times: number[][] = programs.map(() => []);
  const [start, cpuStart] = [performance.now(), processCpuMs()];
  for (let round = 0; round < 9 && (round < 3 || performance.now() - start < 1000); round++)
    programs.forEach((p, i) => times[i].push(runOnce(p)));
  const cpuShare = (processCpuMs() - cpuStart) / ((performance.now() - start) * rt.getThreads());
  return {
    ms: times.map((t) => [...t].sort((a, b) => a - b)[t.length >> 1]),
    fastest: times.map((t) => Math.min(...t)),
    contended: cpuShare < CONTENDED_CPU_SHARE,
  };
}
