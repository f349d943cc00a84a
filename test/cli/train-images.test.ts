/**
 * The image options of `convkit train`: what each makes the loader produce (against the transforms'
 * own functions on the same seeds), the refusals, and that a resumed run keeps them, bit for bit.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import { type TrainCliOptions, type TrainConfig, trainTransforms } from '../../src/cli/train-config.js';
import { RUN_FILES } from '../../src/cli/train-run-folder.js';
import { setUpTrain } from '../../src/cli/train-setup.js';
import { setBackend } from '../../src/backend/registry.js';
import { DataFormatError } from '../../src/core/errors.js';
import { Generator } from '../../src/core/random.js';
import { batchSeed } from '../../src/data/batch-prepare.js';
import type { ArrayDataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { pcaLighting, rgbPca } from '../../src/data/pca-lighting.js';
import { resize } from '../../src/data/resize.js';
import { centerCrop, channelStats, compose, normalize, type Transform } from '../../src/data/transforms.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

setBackend('ref');
const quiet = (): void => {};
const idx = writeTinyIdx();

/**
 * A CIFAR-10 binary folder of `per` images in each of the 5 training batches and `test` test images,
 * coloured so that the channels are correlated (a PCA with three distinct components).
 */
function writeTinyCifar(per = 4, test = 6): string {
  const dir = tempDir('convkit-cifar-data-');
  const g = new Generator(3);
  const records = (count: number): Uint8Array => {
    const out = new Uint8Array(count * 3073);
    for (let r = 0; r < count; r++) {
      out[r * 3073] = r % 3;
      for (let i = 0; i < 1024; i++) {
        const grey = g.int(200);
        for (let c = 0; c < 3; c++) out[r * 3073 + 1 + c * 1024 + i] = grey + (c === r % 3 ? 50 : g.int(20 * (c + 1)));
      }
    }
    return out;
  };
  for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), records(per));
  writeFileSync(join(dir, 'test_batch.bin'), records(test));
  return dir;
}
const cifar = writeTinyCifar();

/** The first samples of a dataset, back to back (what batch 0 of an unshuffled loader gathers). */
const firstOf = (d: ArrayDataset, n: number): Float32Array =>
  d.inputs.slice(0, n * (d.inputs.length / d.labels.length));

/** Batch 0 of an epoch whose augmentation generator is seeded with 5: its values and shape. */
async function firstBatch(
  d: ArrayDataset,
  transform: Transform,
  workers = 0,
): Promise<{ values: Float32Array; shape: number[] }> {
  const loader = new DataLoader(d, { batchSize: 4, transform, workers });
  try {
    for await (const b of loader.epoch({ augmentation: new Generator(5) })) {
      const values = b.inputs.toArray() as Float32Array;
      const shape = [...b.inputs.shape];
      b.inputs.dispose();
      return { values, shape };
    }
    throw new Error('no batch');
  } finally {
    await loader.close();
  }
}

/** The generator the loader hands batch 0's transform when the epoch's augmentation generator is seeded with 5. */
const batch0Generator = (): Generator => new Generator(batchSeed(new Generator(5).nextUint32(), 0));

const setUp = (data: string, extra: Partial<TrainCliOptions>) =>
  setUpTrain('tiny_cnn', { ...trainOptions('', tempDir(), extra), data }, []);

describe('convkit train image options', () => {
  it('keeps the recipe by default: random crop with 1/8 padding, flip, normalisation, as before the options', async () => {
    const { config } = await setUp(`cifar10:${cifar}`, {});
    const t = trainTransforms(config);
    assert.match(t.train.name, /^randomCrop\(32, padding=4\) -> horizontalFlip\(0\.5\) -> normalize\(/);
    assert.match(t.test.name, /^normalize\(/);
    // A run recorded before the pipeline was (no `images`) builds the same transforms.
    const older = trainTransforms({ ...config, images: undefined });
    assert.deepEqual([older.train.name, older.test.name], [t.train.name, t.test.name]);
    assert.deepEqual(config.images, {
      resize: null,
      crop: null,
      randomCrop: true,
      padding: 4,
      flip: true,
      pcaLighting: null,
    });
  });

  it('--pca-lighting adds pca-lighting.ts on the same seed, in a worker too, with the PCA stored in the config', async () => {
    const data = `cifar10:${cifar}`;
    const plain = await setUp(data, { randomCrop: false, flip: false });
    const lit = await setUp(data, { randomCrop: false, flip: false, pcaLighting: 0.1 });
    const pca = rgbPca(lit.train);
    assert.deepEqual(lit.config.images?.pcaLighting, { std: 0.1, ...pca });
    const stats = channelStats(lit.train);
    assert.deepEqual(lit.config.normalize, stats);
    const raw = firstOf(lit.train, 4);
    const norm = normalize(stats.mean, stats.std);
    const expected = norm.apply(
      pcaLighting(pca, 0.1).apply(raw, 4, [3, 32, 32], batch0Generator()),
      4,
      [3, 32, 32],
      batch0Generator(),
    );
    const got = await firstBatch(lit.train, trainTransforms(lit.config).train, 1);
    assert.deepEqual(got.shape, [4, 3, 32, 32]);
    assert.deepEqual(got.values, expected);
    const without = await firstBatch(plain.train, trainTransforms(plain.config).train);
    assert.deepEqual(without.values, norm.apply(raw, 4, [3, 32, 32], batch0Generator()));
    assert.notDeepEqual(without.values, got.values);
    // Testing never lights.
    assert.deepEqual((await firstBatch(lit.train, trainTransforms(lit.config).test)).values, without.values);
  });

  it('--image-size resizes any data (bilinear), --crop-size crops at random in training and the centre in testing', async () => {
    const { config, train } = await setUp(`idx:${idx}`, { imageSize: 12, cropSize: 10 });
    assert.deepEqual(config.input, [1, 8, 8]);
    assert.deepEqual(config.images, {
      resize: 12,
      crop: 10,
      randomCrop: true,
      padding: 0,
      flip: true,
      pcaLighting: null,
    });
    const t = trainTransforms(config);
    const stats = channelStats(train);
    const testBatch = await firstBatch(train, t.test);
    assert.deepEqual(testBatch.shape, [4, 1, 10, 10]);
    const reference = compose([resize(12), centerCrop(10), normalize(stats.mean, stats.std)]);
    assert.deepEqual(testBatch.values, reference.apply(firstOf(train, 4), 4, [1, 8, 8], batch0Generator()));
    const trainBatch = await firstBatch(train, t.train);
    assert.deepEqual(trainBatch.shape, [4, 1, 10, 10]);
    assert.notDeepEqual(trainBatch.values, testBatch.values);
  });

  it('--no-random-crop and --no-flip (or --no-augment) make training take what testing takes', async () => {
    for (const extra of [{ randomCrop: false, flip: false }, { augment: false }, {}]) {
      const { config, train } = await setUp(`idx:${idx}`, { imageSize: 12, cropSize: 10, ...extra });
      const t = trainTransforms(config);
      const [a, b] = [await firstBatch(train, t.train), await firstBatch(train, t.test)];
      assert.deepEqual(a.shape, b.shape);
      if (Object.keys(extra).length > 0) assert.deepEqual(a.values, b.values, JSON.stringify(extra));
      else assert.notDeepEqual(a.values, b.values);
    }
    const { config } = await setUp(`idx:${idx}`, { flip: false, cropPadding: 3 });
    assert.equal(trainTransforms(config).train.name.split(' -> ')[0], 'randomCrop(8, padding=3)');
  });

  it('refuses values and combinations that cannot work, naming the flag', async () => {
    const run = (...args: string[]) =>
      runProgram(['node', 'convkit', 'train', 'tiny_cnn', '--data', `idx:${idx}`, '--out', tempDir(), ...args], quiet);
    const cases: [string[], RegExp][] = [
      [
        ['--pca-lighting', '0.1'],
        new RegExp(`^--pca-lighting: needs RGB images \\(3 channels\\); idx:${idx} has 1 channel$`),
      ],
      [['--pca-lighting', '0'], /^--pca-lighting: expected a number above 0 and at most 10, got 0$/],
      [['--crop-size', '9'], /^--crop-size: expected at most 8, the side of the images \(idx:.*: 1x8x8\), got 9$/],
      [
        ['--image-size', '6', '--crop-size', '7'],
        /^--crop-size: expected at most 6, .*1x6x6 after --image-size 6\), got 7$/,
      ],
      [['--crop-padding', '-1'], /^--crop-padding: expected an integer from 0 to 1024, got -1$/],
      [['--no-augment', '--crop-padding', '2'], /^--crop-padding: --no-augment turns off every random transform/],
      [
        ['--no-random-crop', '--crop-padding', '2'],
        /^--crop-padding: pads for the random crop, which --no-random-crop/,
      ],
      [['--image-size', '0'], /^--image-size: expected an integer from 1 to 4096, got 0$/],
    ];
    for (const [args, message] of cases)
      await assert.rejects(
        run(...args),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
        args.join(' '),
      );
  });

  it('a resumed run keeps its image options bit for bit, refuses new ones, and names a corrupt metrics line', async () => {
    const opts = (out: string): TrainCliOptions => ({
      ...trainOptions('', out, { batchSize: 8, imageSize: 20, cropSize: 16, flip: false, pcaLighting: 0.2 }),
      data: `cifar10:${cifar}`,
    });
    const straight = tempDir();
    await runTrain('tiny_cnn', opts(straight), { out: quiet });
    const dir = tempDir();
    const first = await runTrain('tiny_cnn', opts(dir), { out: quiet, stopAfter: (s) => s === 3 });
    assert.equal(first.interrupted, true);
    const resume = { ...trainOptions('', undefined as unknown as string), resume: dir };
    await assert.rejects(runTrain(undefined, resume, { out: quiet, explicit: ['flip', 'cropSize'] }), {
      message: '--resume continues the run as it was configured; --no-flip, --crop-size cannot change it',
    });
    // A torn line, then a hand-edited one: the file and the line are named, on one line.
    const metrics = join(dir, RUN_FILES.metrics);
    const good = readFileSync(metrics, 'utf8');
    copyFileSync(metrics, `${metrics}.good`);
    for (const [text, message] of [
      [good.slice(0, 40), /metrics\.jsonl: line 1: not JSON \(.*\): \{"epoch":1,/],
      [
        good.replace(/"test_acc":[^,]+/, '"test_acc":null'),
        /metrics\.jsonl: line 1: test_acc is null; expected a finite number$/,
      ],
      ['', /metrics\.jsonl: expected a line for each of the 1 epochs the checkpoint was saved after, found 0$/],
    ] as const) {
      writeFileSync(metrics, text);
      await assert.rejects(runTrain(undefined, resume, { out: quiet }), (err: unknown) => {
        assert.ok(err instanceof DataFormatError, String(err));
        assert.ok(err.message.startsWith(metrics), err.message);
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    }
    copyFileSync(`${metrics}.good`, metrics);
    const second = await runTrain(undefined, resume, { out: quiet });
    const recorded = JSON.parse(readFileSync(join(straight, RUN_FILES.config), 'utf8')) as TrainConfig;
    assert.deepEqual(second.config, recorded);
    assert.deepEqual(second.config.images?.crop, 16);
    const [a, b] = [straight, dir].map((d) => loadCheckpoint<TrainConfig>(join(d, RUN_FILES.checkpoint)));
    assert.deepEqual(b.config, recorded);
    for (const [k, t] of a.model) assert.deepEqual(b.model.get(k)?.toArray(), t.toArray(), k);
    a.dispose();
    b.dispose();
  });
});
