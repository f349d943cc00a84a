import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DataFormatError } from '../../src/core/errors.js';
import {
  CIFAR10_CLASSES,
  CIFAR100_COARSE_CLASSES,
  CIFAR100_FINE_CLASSES,
  loadCifar10,
  loadCifar100,
} from '../../src/data/cifar.js';

const root = mkdtempSync(join(tmpdir(), 'convkit-cifar-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PIXELS = 3072;

/** Records of `labels` (one array of label bytes per record); pixel i of record r is (r * 13 + i) % 256. */
function records(labels: number[][], first = 0): Uint8Array {
  const size = labels[0].length + PIXELS;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((ls, r) => {
    out.set(ls, r * size);
    for (let i = 0; i < PIXELS; i++) out[r * size + ls.length + i] = ((first + r) * 13 + i) % 256;
  });
  return out;
}

function pixel(record: number, i: number): number {
  return ((record * 13 + i) % 256) / 255;
}

function refused(fn: () => unknown, path: string, offset: number | null, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataFormatError, `expected DataFormatError, got ${String(e)}`);
    assert.ok(e.message.includes(path), `message does not name ${path}: ${e.message}`);
    if (offset !== null) assert.match(e.message, new RegExp(`byte ${offset}:`), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

function cifar10Folder(): string {
  const dir = mkdtempSync(join(root, 'c10-'));
  for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), records([[b], [b + 1]], (b - 1) * 2));
  writeFileSync(join(dir, 'test_batch.bin'), records([[9], [0], [3]]));
  return dir;
}

describe('CIFAR-10 binary', () => {
  it('reads the five training batches in order as [3, 32, 32] in [0, 1]', () => {
    const dir = cifar10Folder();
    const d = loadCifar10(dir, 'train');
    assert.deepEqual(d.sampleShape, [3, 32, 32]);
    assert.deepEqual([...d.labels], [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert.equal(d.inputs.length, 10 * PIXELS);
    for (const [r, i] of [
      [0, 0],
      [3, 1023],
      [9, 3071],
    ]) {
      assert.equal(d.inputs[r * PIXELS + i], Math.fround(pixel(r, i)));
    }
    assert.deepEqual(d.classes, CIFAR10_CLASSES);
  });

  it('reads the test batch, names from batches.meta.txt, and finds cifar-10-batches-bin/ inside the folder', () => {
    const top = mkdtempSync(join(root, 'c10top-'));
    const dir = join(top, 'cifar-10-batches-bin');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test_batch.bin'), records([[9], [0], [3]]));
    writeFileSync(
      join(dir, 'batches.meta.txt'),
      `${['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n')}\n\n`,
    );
    const d = loadCifar10(top, 'test');
    assert.deepEqual([...d.labels], [9, 0, 3]);
    assert.equal(d.classes[9], 'j');
  });

  it('a file whose size is not a multiple of 3,073 bytes is refused at the partial record', () => {
    const dir = cifar10Folder();
    const path = join(dir, 'test_batch.bin');
    writeFileSync(path, records([[1], [2]]).subarray(0, 3073 + 100));
    refused(() => loadCifar10(dir, 'test'), path, 3073, /not a multiple of the 3073-byte record/);
    writeFileSync(path, new Uint8Array(0));
    refused(() => loadCifar10(dir, 'test'), path, 0, /empty/);
  });

  it('a label outside the class list is refused at its byte', () => {
    const dir = cifar10Folder();
    const path = join(dir, 'data_batch_3.bin');
    writeFileSync(path, records([[1], [10]]));
    refused(() => loadCifar10(dir, 'train'), path, 3073, /label 10 of record 1 is outside the 10 classes/);
  });

  it('a missing batch names the file and the folder', () => {
    const dir = cifar10Folder();
    rmSync(join(dir, 'data_batch_4.bin'));
    refused(() => loadCifar10(dir, 'train'), dir, null, /no CIFAR-10 train batch: looked for data_batch_4\.bin/);
  });
});

describe('CIFAR-100 binary', () => {
  it('reads fine labels by default and coarse labels on request', () => {
    const dir = mkdtempSync(join(root, 'c100-'));
    writeFileSync(
      join(dir, 'train.bin'),
      records([
        [4, 30],
        [19, 99],
      ]),
    );
    const fine = loadCifar100(dir, 'train');
    assert.deepEqual([...fine.labels], [30, 99]);
    assert.equal(fine.classes, CIFAR100_FINE_CLASSES);
    assert.equal(fine.inputs[PIXELS + 5], Math.fround(pixel(1, 5)));
    const coarse = loadCifar100(dir, 'train', { labels: 'coarse' });
    assert.deepEqual([...coarse.labels], [4, 19]);
    assert.equal(coarse.classes, CIFAR100_COARSE_CLASSES);
  });

  it('the built-in names are 100 fine and 20 coarse, all distinct', () => {
    assert.equal(new Set(CIFAR100_FINE_CLASSES).size, 100);
    assert.equal(new Set(CIFAR100_COARSE_CLASSES).size, 20);
    assert.equal(CIFAR100_FINE_CLASSES[0], 'apple');
    assert.equal(CIFAR100_FINE_CLASSES[99], 'worm');
  });

  it('reads names from fine_label_names.txt inside cifar-100-binary/', () => {
    const top = mkdtempSync(join(root, 'c100top-'));
    const dir = join(top, 'cifar-100-binary');
    mkdirSync(dir);
    writeFileSync(join(dir, 'test.bin'), records([[0, 1]]));
    writeFileSync(join(dir, 'fine_label_names.txt'), 'x\ny\n');
    writeFileSync(join(dir, 'coarse_label_names.txt'), 'p\n');
    assert.deepEqual(loadCifar100(top, 'test').classes, ['x', 'y']);
  });

  it('both label bytes are range-checked, and the size must be a multiple of 3,074 bytes', () => {
    const dir = mkdtempSync(join(root, 'c100bad-'));
    const path = join(dir, 'test.bin');
    writeFileSync(path, records([[20, 5]]));
    refused(() => loadCifar100(dir, 'test'), path, 0, /coarse label 20 of record 0/);
    writeFileSync(
      path,
      records([
        [2, 5],
        [2, 100],
      ]),
    );
    refused(() => loadCifar100(dir, 'test', { labels: 'coarse' }), path, 3075, /fine label 100 of record 1/);
    writeFileSync(path, records([[1], [2]]));
    refused(() => loadCifar100(dir, 'test'), path, 3074, /not a multiple of the 3074-byte record/);
  });
});
