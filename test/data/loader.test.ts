import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { ConvkitError, DataFormatError } from '../../src/core/errors.js';
import { Generator } from '../../src/core/random.js';
import { type ArrayDataset, batches } from '../../src/data/dataset.js';
import { listImageFolder } from '../../src/data/image-folder.js';
import { DataLoader, defaultWorkers, type LoaderOptions } from '../../src/data/loader.js';
import { pcaLighting } from '../../src/data/pca-lighting.js';
import { compose, horizontalFlip, normalize, randomCrop } from '../../src/data/transforms.js';

const root = mkdtempSync(join(tmpdir(), 'convkit-loader-'));
after(() => rmSync(root, { recursive: true, force: true }));

// 37 RGB samples of 3x6x6 (the last batch of 8 is short), values from a seeded generator.
const g = new Generator(11);
const data: ArrayDataset = {
  inputs: Float32Array.from({ length: 37 * 3 * 36 }, () => g.uniform()),
  sampleShape: [3, 6, 6],
  labels: Int32Array.from({ length: 37 }, (_, i) => i % 4),
  classes: ['a', 'b', 'c', 'd'],
};
const augment = compose([
  randomCrop(6, 2),
  horizontalFlip(),
  pcaLighting({
    eigenvalues: [0.2, 0.02, 0.004],
    eigenvectors: [
      [0.58, 0.58, 0.57],
      [-0.7, 0, 0.71],
      [0.41, -0.82, 0.41],
    ],
  }),
  normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]),
]);

interface Seen {
  values: Float32Array;
  labels: Int32Array;
}

async function collect(loader: DataLoader, seed: number, skip = 0): Promise<Seen[]> {
  const out: Seen[] = [];
  const order = new Generator(seed);
  const augmentation = new Generator(seed + 1);
  for await (const b of loader.epoch({ order, augmentation, skip })) {
    out.push({ values: b.inputs.toArray() as Float32Array, labels: b.labels });
    b.inputs.dispose();
  }
  return out;
}

async function epochs(data: ArrayDataset | ReturnType<typeof listImageFolder>, opts: LoaderOptions): Promise<Seen[][]> {
  const loader = new DataLoader(data, opts);
  try {
    // Two epochs of one loader: the generators go on from the first epoch into the second.
    const order = new Generator(3);
    const augmentation = new Generator(4);
    const result: Seen[][] = [];
    for (let e = 0; e < 2; e++) {
      const seen: Seen[] = [];
      for await (const b of loader.epoch({ order, augmentation })) {
        seen.push({ values: b.inputs.toArray() as Float32Array, labels: b.labels });
        b.inputs.dispose();
      }
      result.push(seen);
    }
    return result;
  } finally {
    await loader.close();
  }
}

const bytes = (s: Seen[][]): Buffer[] =>
  s.flat().map((b) => Buffer.from(b.values.buffer, b.values.byteOffset, b.values.byteLength));

/** Runs an ES module script in a fresh Node process; its stdout, once it has exited by itself. */
function runAlone(script: string): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.error, undefined, 'the process did not exit by itself');
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

describe('DataLoader', () => {
  it('gives the same batches byte for byte with 0, 1 and 3 workers', async () => {
    const opts = { batchSize: 8, shuffle: true, transform: augment };
    const none = await epochs(data, { ...opts, workers: 0 });
    assert.equal(none[0].length, 5);
    assert.notDeepEqual(bytes([none[0]]), bytes([none[1]]), 'the second epoch draws a new order and augmentation');
    for (const workers of [1, 3]) {
      const got = await epochs(data, { ...opts, workers });
      assert.deepEqual(bytes(got), bytes(none), `${workers} workers`);
      assert.deepEqual(
        got.flat().map((b) => Array.from(b.labels)),
        none.flat().map((b) => Array.from(b.labels)),
      );
    }
  });

  it("draws the order as batches() does and leaves out a resumed epoch's first batches", async () => {
    const loader = new DataLoader(data, { batchSize: 8, shuffle: true });
    const whole = await collect(loader, 9);
    const plain = [...batches(data, { batchSize: 8, shuffle: true, generator: new Generator(9) })];
    assert.deepEqual(
      whole.map((b) => Array.from(b.labels)),
      plain.map((b) => Array.from(b.labels)),
    );
    assert.deepEqual(
      whole.map((b) => b.values),
      plain.map((b) => b.inputs.toArray()),
    );
    const augmented = new DataLoader(data, { batchSize: 8, shuffle: true, transform: augment, workers: 1 });
    const full = await collect(augmented, 9);
    const resumed = await collect(augmented, 9, 3);
    assert.deepEqual(resumed, full.slice(3));
    await augmented.close();
    assert.equal(new DataLoader(data, { batchSize: 8, keepLast: false }).length, 4);
  });

  it('decodes image files in the workers, the same as on the main thread', async () => {
    const dir = join(root, 'images');
    for (let i = 0; i < 6; i++) {
      const path = join(dir, `c${i % 2}`, `${i}.${['png', 'webp', 'jpg'][i % 3]}`);
      mkdirSync(join(path, '..'), { recursive: true });
      const px = Buffer.from(Array.from({ length: 5 * 7 * 3 }, (_, k) => (k * 37 + i * 11) % 256));
      await sharp(px, { raw: { width: 7, height: 5, channels: 3 } }).toFile(path);
    }
    const files = listImageFolder(dir, 'train', { shape: [3, 4, 4], holdout: 0 });
    const opts = { batchSize: 4, shuffle: true, transform: compose([horizontalFlip(), randomCrop(4, 1)]) };
    const none = await epochs(files, { ...opts, workers: 0 });
    assert.deepEqual(bytes(await epochs(files, { ...opts, workers: 2 })), bytes(none));
  });

  it('names the file a worker cannot decode, and a worker that dies names the samples it held', async () => {
    const dir = join(root, 'broken');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(join(dir, 'a', 'junk.png'), 'no PNG here');
    const files = listImageFolder(dir, 'train', { shape: [1, 4, 4], holdout: 0 });
    const loader = new DataLoader(files, { batchSize: 1, workers: 1 });
    await assert.rejects(collect(loader, 0), (err: unknown) => {
      assert.ok(err instanceof DataFormatError, String(err));
      assert.match(err.message, /junk\.png: cannot be read as an image/);
      return true;
    });
    await loader.close();
    // A transform whose spec the worker cannot build: the worker fails as it starts.
    const broken = { ...horizontalFlip(), spec: { op: 'nonsense' } } as unknown as typeof augment;
    const dying = new DataLoader(data, { batchSize: 8, workers: 1, transform: broken });
    await assert.rejects(collect(dying, 0), (err: unknown) => {
      assert.ok(err instanceof ConvkitError, String(err));
      assert.match(
        err.message,
        /^loader: worker 1 of 1 failed: .*unknown transform spec.* while preparing samples 0, 1, 2/,
      );
      return true;
    });
    await dying.close();
    const handWritten = { ...horizontalFlip(), spec: undefined };
    assert.throws(() => new DataLoader(data, { batchSize: 8, workers: 1, transform: handWritten }), /has no spec/);
  });

  it('lets the process exit with workers that were never closed, after an epoch left early', () => {
    const script = `
      import { DataLoader } from ${JSON.stringify(new URL('../../src/data/loader.ts', import.meta.url).href)};
      const data = { inputs: new Float32Array(40 * 4), sampleShape: [1, 2, 2], labels: new Int32Array(40), classes: ['x'] };
      const loader = new DataLoader(data, { batchSize: 4, workers: 2 });
      for await (const b of loader.epoch()) { b.inputs.dispose(); break; }
      console.log('left');`;
    assert.equal(runAlone(script), 'left');
  });

  it('close() after an epoch left early keeps the process alive until the workers have exited', () => {
    // Before the fix the event loop could drain while close() waited (8 runs in 10 of this loop's body).
    const script = `
      import { DataLoader } from ${JSON.stringify(new URL('../../src/data/loader.ts', import.meta.url).href)};
      const data = { inputs: new Float32Array(40 * 48), sampleShape: [3, 4, 4], labels: new Int32Array(40), classes: ['x'] };
      for (let round = 0; round < 5; round++) {
        const loader = new DataLoader(data, { batchSize: 4, workers: 1 });
        for await (const b of loader.epoch()) { b.inputs.dispose(); break; }
        await loader.close();
      }
      console.log('closed 5 times');`;
    assert.equal(runAlone(script), 'closed 5 times');
  });

  it('chooses one worker on two cores, more on larger machines, at most four', () => {
    assert.deepEqual([1, 2, 3, 8, 64].map(defaultWorkers), [1, 1, 2, 4, 4]);
  });
});
