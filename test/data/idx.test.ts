import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataFormatError } from '../../src/core/errors.js';
import { loadIdxDataset, parseIdx, readIdx } from '../../src/data/idx.js';

const dir = mkdtempSync(join(tmpdir(), 'convkit-idx-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TYPE_CODES = { ubyte: 0x08, byte: 0x09, short: 0x0b, int: 0x0c, float: 0x0d, double: 0x0e } as const;
const SIZES = { ubyte: 1, byte: 1, short: 2, int: 4, float: 4, double: 8 } as const;

/** An IDX file's bytes, big-endian as the format says. */
function idx(type: keyof typeof TYPE_CODES, dims: number[], values: number[]): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + values.length * SIZES[type]);
  const v = new DataView(out.buffer);
  out[2] = TYPE_CODES[type];
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  values.forEach((x, i) => {
    const at = header + i * SIZES[type];
    if (type === 'ubyte') v.setUint8(at, x);
    else if (type === 'byte') v.setInt8(at, x);
    else if (type === 'short') v.setInt16(at, x, false);
    else if (type === 'int') v.setInt32(at, x, false);
    else if (type === 'float') v.setFloat32(at, x, false);
    else v.setFloat64(at, x, false);
  });
  return out;
}

let counter = 0;
function file(bytes: Uint8Array, gz = false): string {
  const path = join(dir, `f${counter++}${gz ? '.gz' : ''}`);
  writeFileSync(path, gz ? gzipSync(bytes) : bytes);
  return path;
}

/** Asserts a DataFormatError whose message names the file and the byte offset. */
function refused(fn: () => unknown, path: string, offset: number | null, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataFormatError, `expected DataFormatError, got ${String(e)}`);
    assert.ok(e.message.includes(path), `message does not name ${path}: ${e.message}`);
    if (offset !== null) assert.match(e.message, new RegExp(`byte ${offset}:`), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

/** A tiny MNIST-layout split: `count` images of rows x cols, pixel (n, i) = (n * 7 + i) % 256. */
function writeSplit(
  folder: string,
  prefix: 'train' | 't10k',
  count: number,
  labels: number[],
  gz: boolean,
  rows = 4,
  cols = 3,
): number[] {
  const pixels = Array.from({ length: count * rows * cols }, (_, i) => (i * 7) % 256);
  const sfx = gz ? '.gz' : '';
  const write = (name: string, bytes: Uint8Array): void =>
    writeFileSync(join(folder, name), gz ? gzipSync(bytes) : bytes);
  write(`${prefix}-images-idx3-ubyte${sfx}`, idx('ubyte', [count, rows, cols], pixels));
  write(`${prefix}-labels-idx1-ubyte${sfx}`, idx('ubyte', [labels.length], labels));
  return pixels;
}

describe('readIdx', () => {
  for (const gz of [false, true]) {
    it(`reads every element type${gz ? ' (gzipped)' : ''}`, () => {
      const cases: [keyof typeof TYPE_CODES, number[], ArrayLike<number>][] = [
        ['ubyte', [0, 1, 255, 128], Uint8Array.of(0, 1, 255, 128)],
        ['byte', [-128, -1, 0, 127], Int8Array.of(-128, -1, 0, 127)],
        ['short', [-32768, -2, 258, 32767], Int16Array.of(-32768, -2, 258, 32767)],
        ['int', [-(2 ** 31), -5, 65536 + 3, 2 ** 31 - 1], Int32Array.of(-(2 ** 31), -5, 65539, 2 ** 31 - 1)],
        ['float', [1.5, -0.25, 3e38, Number.POSITIVE_INFINITY], Float32Array.of(1.5, -0.25, 3e38, Infinity)],
        ['double', [Math.PI, -1e300, 0, 2 ** -1074], Float64Array.of(Math.PI, -1e300, 0, 2 ** -1074)],
      ];
      for (const [type, values, expected] of cases) {
        const got = readIdx(file(idx(type, [2, 2], values), gz));
        assert.equal(got.dtype, type);
        assert.deepEqual(got.dims, [2, 2]);
        assert.equal(got.data.constructor, (expected as Uint8Array).constructor, type);
        assert.deepEqual([...got.data], Array.from(expected), type);
      }
    });
  }

  it('detects gzip by its magic bytes, not the name', () => {
    const bytes = idx('ubyte', [3], [1, 2, 3]);
    const path = join(dir, 'no-suffix');
    writeFileSync(path, gzipSync(bytes));
    assert.deepEqual([...readIdx(path).data], [1, 2, 3]);
  });

  it('parses bytes in memory', () => {
    assert.deepEqual(parseIdx(idx('ubyte', [1, 2], [9, 8])).dims, [1, 2]);
  });

  for (const gz of [false, true]) {
    const d = gz ? 'decompressed byte' : 'byte';
    describe(`corrupt files are refused with the file and the offset${gz ? ' (gzipped)' : ''}`, () => {
      it('wrong magic', () => {
        const bytes = idx('ubyte', [2], [1, 2]);
        bytes[1] = 7;
        const path = file(bytes, gz);
        refused(() => readIdx(path), path, 0, /wrong magic/);
        if (gz) assert.throws(() => readIdx(path), new RegExp(`${d} 0`));
      });
      it('unknown element type', () => {
        const bytes = idx('ubyte', [2], [1, 2]);
        bytes[2] = 0x0a;
        const path = file(bytes, gz);
        refused(() => readIdx(path), path, 2, /unknown IDX element type 0x0a/);
      });
      it('zero dimensions', () => {
        const path = file(Uint8Array.of(0, 0, 8, 0), gz);
        refused(() => readIdx(path), path, 3, /0 dimensions/);
      });
      it('shorter than the magic', () => {
        const path = file(Uint8Array.of(0, 0), gz);
        refused(() => readIdx(path), path, 2, /inside the 4-byte IDX magic/);
      });
      it('ends inside the header', () => {
        const path = file(idx('ubyte', [2, 3, 4], []).subarray(0, 10), gz);
        refused(() => readIdx(path), path, 10, /ends inside the header/);
      });
      it('dims say more than the file has', () => {
        const path = file(idx('ubyte', [10, 28, 28], [1, 2, 3]), gz);
        refused(() => readIdx(path), path, gz ? null : 19, /truncated/);
      });
      it('trailing bytes after the data', () => {
        const bytes = new Uint8Array(20);
        bytes.set(idx('ubyte', [2, 2], [1, 2, 3, 4]));
        const path = file(bytes, gz);
        refused(() => readIdx(path), path, 16, gz ? /data continues after the 16 bytes/ : /4 bytes follow/);
      });
      it('absurd dims do not allocate', () => {
        // 4 billion x 4 billion doubles: refused from the header alone.
        const path = file(idx('double', [0xffffffff, 0xffffffff], []), gz);
        refused(() => readIdx(path), path, gz ? 0 : 12, gz ? /more than a \d+-byte gzip file can hold/ : /truncated/);
      });
    });
  }

  it('a gzip stream cut short says how much of the data is there', () => {
    const bytes = idx(
      'ubyte',
      [200, 50],
      Array.from({ length: 10000 }, (_, i) => (i * 2654435761) % 251),
    );
    const gz = gzipSync(bytes);
    const path = join(dir, 'cut.gz');
    writeFileSync(path, gz.subarray(0, gz.length - 200));
    refused(() => readIdx(path), path, null, /gzip stream ends after \d+ of the 10012 bytes|corrupt gzip/);
  });

  it('corrupt gzip data is refused naming the file', () => {
    const gz = gzipSync(
      idx(
        'ubyte',
        [100],
        Array.from({ length: 100 }, (_, i) => i),
      ),
    );
    gz[gz.length - 6] ^= 0xff; // the CRC
    const path = join(dir, 'crc.gz');
    writeFileSync(path, gz);
    refused(() => readIdx(path), path, null, /corrupt gzip data/);
    const garbage = join(dir, 'garbage.gz');
    writeFileSync(garbage, Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff));
    refused(() => readIdx(garbage), garbage, null, /corrupt gzip data/);
  });

  it('a missing file is named', () => {
    const path = join(dir, 'nope');
    refused(() => readIdx(path), path, null, /cannot be read \(ENOENT\)/);
  });
});

describe('loadIdxDataset', () => {
  for (const gz of [false, true]) {
    it(`round-trips a small split${gz ? ' (gzipped)' : ''}`, () => {
      const folder = mkdtempSync(join(dir, 'split-'));
      const pixels = writeSplit(folder, 't10k', 3, [2, 0, 9], gz);
      const d = loadIdxDataset(folder, 'test');
      assert.deepEqual(d.sampleShape, [1, 4, 3]);
      assert.deepEqual([...d.labels], [2, 0, 9]);
      assert.ok(d.labels instanceof Int32Array);
      assert.ok(d.inputs instanceof Float32Array);
      assert.deepEqual([...d.inputs], [...Float32Array.from(pixels, (p) => p / 255)]);
      assert.equal(d.classes.length, 10);
    });
  }

  it('takes the class names from the caller', () => {
    const folder = mkdtempSync(join(dir, 'names-'));
    writeSplit(folder, 'train', 2, [1, 0], false);
    const d = loadIdxDataset(folder, 'train', { classes: ['cat', 'dog'] });
    assert.deepEqual(d.classes, ['cat', 'dog']);
  });

  it('labels outside the class list are refused at their byte', () => {
    const folder = mkdtempSync(join(dir, 'range-'));
    writeSplit(folder, 'train', 3, [0, 1, 2], false);
    const labels = join(folder, 'train-labels-idx1-ubyte');
    refused(() => loadIdxDataset(folder, 'train', { classes: ['a', 'b'] }), labels, 10, /label 2 of sample 2/);
  });

  it('image and label counts must agree', () => {
    const folder = mkdtempSync(join(dir, 'count-'));
    writeSplit(folder, 'train', 3, [0, 1], true);
    refused(() => loadIdxDataset(folder, 'train'), join(folder, 'train-labels-idx1-ubyte.gz'), 4, /2 labels.*3 images/);
  });

  it('images must be ubyte with three dims', () => {
    const folder = mkdtempSync(join(dir, 'rank-'));
    writeFileSync(join(folder, 'train-images-idx3-ubyte'), idx('ubyte', [2, 4], [0, 0, 0, 0, 0, 0, 0, 0]));
    writeFileSync(join(folder, 'train-labels-idx1-ubyte'), idx('ubyte', [2], [0, 0]));
    refused(() => loadIdxDataset(folder, 'train'), join(folder, 'train-images-idx3-ubyte'), 2, /3 dims/);
  });

  it('a missing file names what was looked for and where', () => {
    const folder = mkdtempSync(join(dir, 'missing-'));
    writeSplit(folder, 'train', 1, [0], false);
    assert.throws(
      () => loadIdxDataset(folder, 'test'),
      (e: unknown) =>
        e instanceof DataFormatError &&
        e.message.includes('t10k-images-idx3-ubyte.gz') &&
        e.message.includes(folder) &&
        /no test images/.test(e.message),
    );
    assert.throws(() => loadIdxDataset(join(folder, 'absent'), 'train'), /folder does not exist/);
  });
});
