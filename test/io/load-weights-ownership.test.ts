/**
 * Who owns the memory after a load (docs/benchmarks.md#time-to-first-result): loadWeights hands
 * the arrays its readers made straight to the module (no copy), so the values must still be the
 * file's, bit for bit, and two models loaded from one file must not share memory; a caller's own
 * state dict is still copied, so the caller's tensor never aliases the module's parameter.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NativeStorage } from '../../src/backend/native/runtime.js';
import { RefStorage } from '../../src/backend/ref/storage.js';
import type { FloatArray } from '../../src/core/dtype.js';
import type { Tensor } from '../../src/core/tensor.js';
import { loadWeights } from '../../src/io/load-weights.js';
import { encodePth, writePth } from '../../src/io/pth-write.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { openZip, writeStoredZip } from '../../src/io/zip.js';
import { BatchNorm2d } from '../../src/nn/batch-norm2d.js';
import { Sequential } from '../../src/nn/containers.js';
import { Linear } from '../../src/nn/linear.js';
import { fromArray } from '../../src/ops/creation.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-own-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const skipNative = nativeSkipReason('load-weights-ownership');

/** Values with the awkward cases a copy could change: -0, subnormals, infinities, NaN with a payload. */
function awkward(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(seed * 7.3 + i * 1.7) * 10 ** ((i % 7) - 3);
  const bits = new Uint32Array(out.buffer);
  bits[0] = 0x80000000; // -0
  if (n > 1) bits[1] = 0x00000001; // the smallest subnormal
  if (n > 2) bits[2] = 0xff800000; // -Infinity
  if (n > 3) bits[3] = 0x7fc01234; // NaN with a payload
  return out;
}

function model(backend: string, dtype: 'float32' | 'float64' = 'float32'): Sequential {
  return new Sequential(new Linear(4, 3, { backend, dtype }), new BatchNorm2d(3, { backend, dtype }));
}

/** The same bits (float32) or the same float64 values. */
function sameBits(actual: FloatArray, expected: FloatArray, what: string): void {
  assert.equal(actual.length, expected.length, what);
  if (actual instanceof Float32Array && expected instanceof Float32Array) {
    assert.deepEqual(
      new Uint32Array(actual.buffer, actual.byteOffset, actual.length),
      new Uint32Array(expected.buffer),
      what,
    );
  } else {
    for (let i = 0; i < actual.length; i++) assert.ok(Object.is(actual[i], expected[i]), `${what}[${i}]`);
  }
}

/** The array a storage holds (ref or native), to see whether two tensors share memory. */
function memoryOf(t: Tensor): FloatArray {
  const s = t.storage;
  if (s instanceof RefStorage) return s.data;
  if (s instanceof NativeStorage) return s.buffer;
  throw new Error(`unexpected storage ${s.constructor.name}`);
}

function stateOf(m: Sequential): Map<string, Tensor> {
  return m.stateDict({ keepVars: true });
}

for (const backend of ['ref', 'native']) {
  const skip = backend === 'native' ? skipNative : false;
  describe(`loadWeights ownership on ${backend}`, { skip }, () => {
    const values = new Map(
      [...stateOf(model('ref'))].map(([k, t], i) => [k, awkward(t.size, i + 1)] as [string, Float32Array]),
    );
    const source = (): Map<string, Tensor> => {
      const shapes = stateOf(model('ref'));
      return new Map([...values].map(([k, v]) => [k, fromArray(v, shapes.get(k)?.shape ?? [], { backend: 'ref' })]));
    };
    const files = {
      safetensors: join(dir, `${backend}.safetensors`),
      pth: join(dir, `${backend}.pth`),
    };
    writeSafetensors(files.safetensors, source());
    writePth(files.pth, source());

    for (const [format, path] of Object.entries(files)) {
      it(`keeps the ${format} file's values bit for bit, in memory no other model shares`, () => {
        const a = model(backend);
        const b = model(backend);
        loadWeights(a, path);
        loadWeights(b, path);
        for (const [key, t] of stateOf(a)) {
          const expected = values.get(key) as Float32Array;
          // num_batches_tracked is an int64 count in a .pth file: the awkward bits become 0 there.
          if (format === 'pth' && key.endsWith('num_batches_tracked')) continue;
          sameBits(t.toArray(), expected, `${format} ${key}`);
          const other = stateOf(b).get(key) as Tensor;
          assert.notEqual(memoryOf(t).buffer, memoryOf(other).buffer, `${key} is shared by two loaded models`);
        }
        // A parameter changed in place (as an optimiser step does) leaves the other model alone.
        const w = stateOf(a).get('0.weight') as Tensor;
        memoryOf(w)[5] = 1234.5;
        assert.equal(w.toArray()[5], 1234.5);
        assert.equal((stateOf(b).get('0.weight') as Tensor).toArray()[5], values.get('0.weight')?.[5]);
      });
    }

    it('reads a .pth whose records come in another order (found by its central directory) by ranges', () => {
      const zip = openZip(encodePth(source()), 'reordered');
      const records = [...zip.entries.keys()].reverse().map((name) => ({ name, data: zip.read(name) }));
      const parts: Uint8Array[] = [];
      writeStoredZip(records, (b) => parts.push(b.slice()), 'reordered');
      const path = join(dir, `${backend}-reordered.pth`);
      writeFileSync(path, Buffer.concat(parts));
      assert.doesNotMatch(records[0].name, /data\.pkl$/);
      const m = model(backend);
      assert.equal(loadWeights(m, path).format, 'pth');
      sameBits((stateOf(m).get('0.weight') as Tensor).toArray(), values.get('0.weight') as Float32Array, '0.weight');
    });

    it('reads float64 values into a float64 model as they are', () => {
      const m = model(backend, 'float64');
      const wide = join(dir, `${backend}-f64.safetensors`);
      const f64 = new Map(
        [...source()].map(([k, t]) => [
          k,
          fromArray(
            Float64Array.from(t.toArray(), (x, i) => x + i * 2 ** -40),
            t.shape,
            { dtype: 'float64', backend: 'ref' },
          ),
        ]),
      );
      writeSafetensors(wide, f64);
      loadWeights(m, wide);
      for (const [key, t] of stateOf(m)) sameBits(t.toArray(), (f64.get(key) as Tensor).toArray(), key);
    });

    it("copies a caller's state dict: the caller's tensor never aliases the parameter", () => {
      const m = model(backend);
      const given = new Map(
        [...source()].map(([k, t]) => [k, backend === 'ref' ? t : fromArray(t.toArray(), t.shape, { backend })]),
      );
      m.loadStateDict(given);
      for (const [key, t] of stateOf(m)) {
        const mine = given.get(key) as Tensor;
        assert.notEqual(t.storage, mine.storage, key);
        assert.notEqual(memoryOf(t).buffer, memoryOf(mine).buffer, key);
        sameBits(t.toArray(), mine.toArray(), key);
      }
      // Writing the caller's memory after the load does not reach the module, nor the other way round.
      const w = stateOf(m).get('0.weight') as Tensor;
      const callers = given.get('0.weight') as Tensor;
      memoryOf(callers)[0] = 99;
      memoryOf(w)[1] = -99;
      assert.ok(Object.is(w.toArray()[0], -0));
      assert.equal(callers.toArray()[1], values.get('0.weight')?.[1]);
    });
  });
}
