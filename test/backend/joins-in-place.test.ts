/**
 * joinsInPlace on made-up recordings (no addon): which joins go, where their sources' and
 * output's commands then write, and which joins stay (a source read after the join, a memory
 * another tensor holds meanwhile, a part off a 64-byte boundary, a source that may not move).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type JoinNotes, joinsInPlace } from '../../src/backend/native/joins-in-place.js';
import type { RecordedCommand } from '../../src/backend/native/recording.js';

const JOIN = 7; // the concat plan's id
const tensor = (floats: number): Float32Array => new Float32Array(new ArrayBuffer(floats * 4 + 64), 0, floats);
const run = (plan: number, ...buffers: Float32Array[]): RecordedCommand => ({ op: `op${plan}`, plan, buffers });
const join = (...buffers: Float32Array[]): RecordedCommand => ({ op: 'concat', plan: JOIN, buffers });

/** Notes where every tensor but `fixed` was taken right before its first command, and the join's parts are `parts`. */
function notes(
  commands: RecordedCommand[],
  parts: number[],
  fixed: Float32Array[] = [],
  takes = new Map<ArrayBufferLike, number[]>(),
): JoinNotes {
  commands.forEach((c, i) => {
    for (const a of c.buffers)
      if (a !== null && !fixed.some((f) => f.buffer === a.buffer) && !takes.has(a.buffer)) takes.set(a.buffer, [i]);
  });
  return {
    commands,
    joins: new Map([[JOIN, parts]]),
    takes,
    movable: (m) => !fixed.some((f) => f.buffer === m),
    gap: () => 0,
  };
}

describe('joins written in place', () => {
  it('moves each source into its part of the output and drops the join', () => {
    const [x, a, b, y, out] = [tensor(16), tensor(32), tensor(16), tensor(48), tensor(8)];
    const commands = [run(1, x, a), run(2, x, b), run(3, a, b), join(a, b, y), run(4, y, out)];
    const { commands: kept, memories } = joinsInPlace(notes(commands, [32, 16], [x, out]));
    assert.equal(kept.length, 4);
    assert.deepEqual(
      kept.map((c) => c.plan),
      [1, 2, 3, 4],
    );
    assert.equal(memories.length, 1);
    const [memory] = memories;
    const [aIn, bIn, yIn] = [kept[0].buffers[1], kept[1].buffers[1], kept[3].buffers[0]] as Float32Array[];
    for (const v of [aIn, bIn, yIn]) assert.equal(v.buffer, memory);
    assert.equal(bIn.byteOffset - aIn.byteOffset, 32 * 4, 'b right after a');
    assert.equal(yIn.byteOffset, aIn.byteOffset, 'the output starts where a does');
    assert.equal(yIn.length, 48);
    assert.equal(kept[2].buffers[0], aIn, 'a reader of a source reads it in place too');
    assert.equal(kept[0].buffers[0], x, 'the input stays');
    assert.equal(kept[3].buffers[1], out);
    assert.equal(commands[0].buffers[1], a, 'the commands given are left as they were');
  });

  it('keeps a join whose source is read after it', () => {
    const [x, a, b, y] = [tensor(16), tensor(16), tensor(16), tensor(32)];
    const commands = [run(1, x, a), run(2, x, b), join(a, b, y), run(3, y, a, x)];
    const { commands: kept, memories } = joinsInPlace(notes(commands, [16, 16], [x]));
    assert.equal(kept.length, 4);
    assert.equal(memories.length, 0);
  });

  it('moves only the stretch of a memory that holds the joined tensor', () => {
    const [x, a, b, out] = [tensor(16), tensor(16), tensor(16), tensor(16)];
    const y = tensor(32);
    const t = new Float32Array(y.buffer, 0, 16); // y's memory held t before the join's output
    // t lives in y's memory over commands 0-1; a's memory is taken again at command 4 for another tensor
    const commands = [run(1, x, t), run(2, t, a), run(3, x, b), join(a, b, y), run(4, y, a), run(5, a, out)];
    const takes = new Map<ArrayBufferLike, number[]>([
      [y.buffer, [0, 3]],
      [a.buffer, [1, 4]],
      [b.buffer, [2]],
    ]);
    const { commands: kept, memories } = joinsInPlace(notes(commands, [16, 16], [x, out], takes));
    assert.equal(kept.length, 5);
    const [memory] = memories;
    assert.equal(kept[0].buffers[1], t, "the tensor before the join's output stays in the memory");
    assert.equal(kept[1].buffers[0], t);
    assert.equal(kept[1].buffers[1]?.buffer, memory, 'a moves where it is the join source');
    assert.equal(kept[3].buffers[0]?.buffer, memory);
    assert.equal(kept[3].buffers[1], a, "the later tensor in a's memory stays");
    assert.equal(kept[4].buffers[0], a);
  });

  it('keeps a join whose output memory holds another tensor until the join, or whose parts are off 64 bytes', () => {
    const [x, a, b, y] = [tensor(16), tensor(16), tensor(16), tensor(32)];
    const early = [run(1, x, a), run(2, x, b), run(3, a, y), join(a, b, y), run(4, y, x)];
    assert.equal(joinsInPlace(notes(early, [16, 16], [x])).commands.length, 5, 'y is written before the join');
    const [c, d, z] = [tensor(4), tensor(12), tensor(16)]; // 4 floats: the second part is 16 bytes in
    const odd = [run(1, x, c), run(2, x, d), join(c, d, z), run(3, z, x)];
    assert.equal(joinsInPlace(notes(odd, [4, 12], [x])).commands.length, 4);
    const fixedSource = [run(1, x, a), join(x, a, y), run(2, y, b)];
    assert.equal(joinsInPlace(notes(fixedSource, [16, 16], [x])).commands.length, 3, 'the input may not move');
    const twice = [run(1, x, a), join(a, a, y), run(2, y, b)];
    assert.equal(joinsInPlace(notes(twice, [16, 16], [x])).commands.length, 3, 'one source twice');
    const wider = [run(1, x, a), run(2, x, b), join(a, b, y), run(3, y, x)];
    assert.equal(joinsInPlace(notes(wider, [16, 8], [x])).commands.length, 4, 'parts that are not the sources');
  });

  it('writes nested joins into one memory', () => {
    const [x, a, b, c, ab, abc] = [tensor(16), tensor(16), tensor(16), tensor(32), tensor(32), tensor(64)];
    const commands: RecordedCommand[] = [
      run(1, x, a),
      run(2, x, b),
      join(a, b, ab),
      run(3, x, c),
      { op: 'concat', plan: 8, buffers: [ab, c, abc] },
      run(4, abc, x),
    ];
    const base = notes(commands, [16, 16], [x]);
    const both = { ...base, joins: new Map([...base.joins, [8, [32, 32]]]) };
    const { commands: kept, memories } = joinsInPlace(both);
    assert.deepEqual(
      kept.map((c) => c.plan),
      [1, 2, 3, 4],
    );
    const [aIn, bIn, cIn, abcIn] = [kept[0].buffers[1], kept[1].buffers[1], kept[2].buffers[1], kept[3].buffers[0]];
    assert.ok(memories.includes(abcIn?.buffer as ArrayBuffer));
    for (const v of [aIn, bIn, cIn]) assert.equal(v?.buffer, abcIn?.buffer);
    assert.deepEqual(
      [aIn, bIn, cIn].map((v) => (v?.byteOffset ?? 0) - (abcIn?.byteOffset ?? 0)),
      [0, 64, 128],
    );
  });
});
