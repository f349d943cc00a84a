/**
 * A checkpoint read whole (readPth, loadWeights: `openPth(path, { whole: true })`): its float
 * tensors share the file's bytes instead of copies where they are most of the file
 * (WHOLE_FILE_SHARE); a storage two tensors hold is shared with the first only; a checkpoint whose
 * other contents are most of the file gives copies, so its tensors keep no more than themselves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NativeStorage } from '../../src/backend/native/runtime.js';
import { RefStorage } from '../../src/backend/ref/storage.js';
import type { FloatArray } from '../../src/core/dtype.js';
import type { Tensor } from '../../src/core/tensor.js';
import { loadWeights } from '../../src/io/load-weights.js';
import { readPth, WHOLE_FILE_SHARE } from '../../src/io/pth.js';
import { writePth } from '../../src/io/pth-write.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { BatchNorm2d } from '../../src/nn/batch-norm2d.js';
import { Sequential } from '../../src/nn/containers.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'pth');
const dir = mkdtempSync(join(tmpdir(), 'convkit-pth-whole-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The array a storage holds (ref or native). */
function memoryOf(t: Tensor): FloatArray {
  const s = t.storage;
  if (s instanceof RefStorage) return s.data;
  if (s instanceof NativeStorage) return s.buffer;
  throw new Error(`unexpected storage ${s.constructor.name}`);
}

describe('readPth: a checkpoint read whole', () => {
  it("shares the file's bytes with the first tensor of a storage; the others get their own copies (tied.pth)", () => {
    const path = join(GOLDEN, 'tied.pth');
    const { tensors } = readPth(path);
    const [a, b, c] = ['a', 'b', 'c'].map((k) => tensors.get(k) as Tensor);
    assert.deepEqual([a.shape, b.shape, c.shape], [[4], [4], [2, 2]]);
    for (const t of [a, b, c]) assert.deepEqual([...t.toArray()], [1, 2, 3, 4]);
    const [ma, mb, mc] = [a, b, c].map(memoryOf);
    assert.equal(ma.buffer.byteLength, statSync(path).size, "a is a view of the file's bytes");
    assert.ok(mb.buffer !== ma.buffer && mc.buffer !== ma.buffer && mb.buffer !== mc.buffer, 'b and c are copies');
    // Written in place (as an optimiser step writes a parameter), each keeps its own values.
    ma[0] = 10;
    mb[1] = 20;
    assert.deepEqual(
      [a, b, c].map((t) => [...t.toArray()]),
      [
        [10, 2, 3, 4],
        [1, 20, 3, 4],
        [1, 2, 3, 4],
      ],
    );
  });

  it("copies where the state dict is not most of the file (nested.pth: the optimizer's state beside it)", () => {
    const { tensors } = readPth(join(GOLDEN, 'nested.pth'));
    assert.ok(WHOLE_FILE_SHARE >= 0.5 && WHOLE_FILE_SHARE < 1);
    const buffers = [...tensors.values()].map((t) => memoryOf(t).buffer);
    assert.equal(new Set(buffers).size, buffers.length, 'every tensor holds an array of its own');
  });

  it("gives a loaded model's float parameters and buffers the file's bytes, on the native backend", {
    skip: nativeSkipReason('pth-whole'),
  }, () => {
    const net = (): Sequential =>
      new Sequential(new Conv2d(3, 8, 3, { backend: 'native' }), new BatchNorm2d(8, { backend: 'native' }));
    const saved = net();
    const file = join(dir, 'net.pth');
    writePth(file, saved.stateDict());
    const model = net();
    loadWeights(model, file);
    const floats = [...model.stateDict({ keepVars: true })].filter(([k]) => !k.endsWith('num_batches_tracked'));
    const buffers = new Set(floats.map(([, t]) => memoryOf(t).buffer));
    assert.equal(buffers.size, 1, 'one read, shared');
    assert.equal([...buffers][0].byteLength, statSync(file).size);
    const want = saved.stateDict();
    for (const [k, t] of floats) assert.deepEqual([...t.toArray()], [...(want.get(k) as Tensor).toArray()], k);
  });
});
