/**
 * Channel joins written in place, in a recorded inference pass (recording.ts). Where a concat's
 * output is its sources laid end to end (batch 1 in plain or whole-block layouts: concat.cc's
 * `endToEnd`), and every source is a tensor the pass made that nothing reads after the join, the
 * commands that write and read each source use its part of the output instead, and the join's
 * copy goes: GoogLeNet's nine inception joins at batch 1 in blocked maps.
 *
 * A pooled memory holds one tensor after another. The recorder notes each take, so the commands
 * between a memory's take and its next are one tensor's life: only that stretch moves, to a new
 * memory made for the join (the output and its sources, live from the first source's first
 * command to the output's last), which the program's slabs then place like any other.
 */
import type { ExecBuffer } from './addon.js';
import type { RecordedCommand } from './recording.js';

/** What joinsInPlace works from: the recorder's notes, and which memories may move. */
export interface JoinNotes {
  commands: readonly RecordedCommand[];
  /** Concat plans whose output is their sources end to end: each source's length in floats. */
  joins: ReadonlyMap<number, readonly number[]>;
  /** Per memory, the command count at each take (ascending). */
  takes: ReadonlyMap<ArrayBufferLike, readonly number[]>;
  /** Memories the pass made (not the program's input or output, not shared with the model). */
  movable: (memory: ArrayBufferLike) => boolean;
  /** Bytes from a memory's start to its first 64-byte boundary (addon.alignmentGap). */
  gap: (memory: ArrayBufferLike) => number;
}

/** The commands with the joins written in place left out, and the memories made for them (private to the program). */
export function joinsInPlace(notes: JoinNotes): { commands: RecordedCommand[]; memories: ArrayBuffer[] } {
  const commands = notes.commands.map((c) => ({ ...c, buffers: [...c.buffers] }));
  const removed = new Set<number>();
  const made = new Set<ArrayBufferLike>();
  const movable = (m: ArrayBufferLike): boolean => made.has(m) || notes.movable(m);
  // The commands of the tensor memory m holds at command k: [start, end), between its takes.
  const life = (m: ArrayBufferLike, k: number): [number, number] => {
    let [start, end] = [0, commands.length];
    for (const t of notes.takes.get(m) ?? []) {
      if (t <= k) start = t;
      else {
        end = t;
        break;
      }
    }
    return [start, end];
  };
  const usesIn = (m: ArrayBufferLike, from: number, to: number): number[] => {
    const at: number[] = [];
    for (let i = from; i < to; i++)
      if (!removed.has(i) && commands[i].buffers.some((a) => a !== null && a.buffer === m)) at.push(i);
    return at;
  };
  commands.forEach((join, k) => {
    const parts = notes.joins.get(join.plan);
    if (join.op !== 'concat' || parts === undefined || join.buffers.length !== parts.length + 1) return;
    const views = join.buffers;
    if (!views.every((a): a is Float32Array => a !== null && movable(a.buffer))) return;
    const [dst, srcs] = [views[parts.length], views.slice(0, parts.length)];
    if (new Set(views.map((a) => a.buffer)).size !== views.length) return; // a source twice, or in place
    const offsets: number[] = [];
    let floats = 0;
    for (const [i, part] of parts.entries()) {
      if (srcs[i].length !== part || (floats * 4) % 64 !== 0) return; // each part as aligned as the output
      offsets.push(floats);
      floats += part;
    }
    if (dst.length !== floats) return;
    // Every view the tensor's commands use lies within the tensor (so it fits its part).
    const within = (uses: readonly number[], t: Float32Array): boolean =>
      uses.every((i) =>
        commands[i].buffers.every(
          (a: ExecBuffer) =>
            a === null ||
            a.buffer !== t.buffer ||
            (a.byteOffset >= t.byteOffset && a.byteOffset + a.byteLength <= t.byteOffset + t.byteLength),
        ),
      );
    // The output is first written by the join, and each source last read by it.
    const [dstStart, dstEnd] = life(dst.buffer, k);
    const dstUses = usesIn(dst.buffer, k + 1, dstEnd);
    if (usesIn(dst.buffer, dstStart, k).length > 0 || !within(dstUses, dst)) return;
    const sourceUses: number[][] = [];
    for (const src of srcs) {
      const [start, end] = life(src.buffer, k);
      const uses = usesIn(src.buffer, start, k);
      if (usesIn(src.buffer, k + 1, end).length > 0 || !within(uses, src)) return;
      sourceUses.push(uses);
    }
    // The new memory keeps the output's distance from a 64-byte boundary (onSlabs keeps it too).
    const memory = new ArrayBuffer(dst.buffer.byteLength + 128);
    const base = dst.byteOffset - notes.gap(dst.buffer) + notes.gap(memory) + 64;
    const moved = new Map<Float32Array, Float32Array>();
    const move = (uses: readonly number[], from: Float32Array, to: number): void => {
      for (const i of uses) {
        commands[i].buffers = commands[i].buffers.map((a) => {
          if (a === null || a.buffer !== from.buffer) return a;
          let v = moved.get(a);
          if (v === undefined) {
            v = new Float32Array(memory, to + a.byteOffset - from.byteOffset, a.length);
            moved.set(a, v);
          }
          return v;
        });
      }
    };
    removed.add(k);
    move(dstUses, dst, base);
    srcs.forEach((src, i) => move(sourceUses[i], src, base + offsets[i] * 4));
    made.add(memory);
  });
  return {
    commands: commands.filter((_, i) => !removed.has(i)),
    memories: [...made] as ArrayBuffer[],
  };
}
