import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { setBackend } from '../../src/backend/registry.js';
import { loadTrained } from '../../src/cli/eval.js';
import { predictText, runPredict } from '../../src/cli/predict.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import { DataFormatError } from '../../src/core/errors.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { loadIdxDataset } from '../../src/data/idx.js';
import { resize } from '../../src/data/resize.js';
import { centerCrop, compose, normalize } from '../../src/data/transforms.js';
import { Generator } from '../../src/core/random.js';
import { fromArray } from '../../src/ops/creation.js';
import { softmax } from '../../src/ops/softmax.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

setBackend('ref');
const quiet = (): void => {};
const data = writeTinyIdx({ train: 30, test: 9 });

describe('convkit predict', () => {
  const run = tempDir();
  const images = tempDir();

  it('gives the probabilities the model gives the same pixels, from PNG files', async () => {
    const { config } = await runTrain('tiny_cnn', trainOptions(data, run, { epochs: 1 }), { out: quiet });
    const test = loadIdxDataset(data, 'test');
    const files: string[] = [];
    for (let n = 0; n < 3; n++) {
      const bytes = Buffer.from(test.inputs.subarray(n * 64, (n + 1) * 64).map((v) => Math.round(v * 255)));
      const file = join(images, `sample${n}.png`);
      await sharp(bytes, { raw: { width: 8, height: 8, channels: 1 } })
        .png()
        .toFile(file);
      files.push(file);
    }
    const predictions = await runPredict(run, files, { top: 10, invert: false, format: 'text' });
    const { model } = loadTrained(run, {});
    model.eval();
    const [mean] = config.normalize.mean;
    const [std] = config.normalize.std;
    predictions.forEach((p, n) => {
      const pixels = test.inputs.subarray(n * 64, (n + 1) * 64).map((v) => (v - mean) / std);
      const expected = noGrad(() => softmax(model.call(fromArray(pixels, [1, 1, 8, 8])), 1)).toArray();
      assert.equal(p.top.length, 10);
      for (const t of p.top) assert.ok(Math.abs(t.probability - expected[t.label]) < 1e-6, `${n}: ${t.label}`);
      const best = expected.indexOf(Math.max(...expected));
      assert.equal(p.top[0].label, best);
      assert.equal(p.top[0].class, config.classes[best]);
    });
    assert.match(predictText(predictions), /sample0\.png: \S+ \d+\.\d%, /);
  });

  it('scales other sizes and colours to the model input, and reports unreadable files in one line', async () => {
    const big = join(images, 'rgb.png');
    await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 200, g: 10, b: 10 } } })
      .png()
      .toFile(big);
    const out: string[] = [];
    await runProgram(['node', 'convkit', 'predict', run, big, '--top', '2', '--format', 'json'], (t) => out.push(t));
    const [p] = JSON.parse(out.join('\n')) as { top: { probability: number }[] }[];
    assert.equal(p.top.length, 2);
    assert.ok(p.top[0].probability >= p.top[1].probability);
    const junk = join(images, 'junk.png');
    writeFileSync(junk, 'not an image');
    await assert.rejects(runPredict(run, [junk], { top: 3, invert: false, format: 'text' }), (err: unknown) => {
      assert.ok(err instanceof DataFormatError);
      assert.match(err.message, /junk\.png: cannot be read as an image/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    await assert.rejects(
      runProgram(['node', 'convkit', 'predict', run, big, '--top', '0'], quiet),
      /--top: expected an integer from 1 to 1000/,
    );
  });

  it('feeds a run trained on resized, cropped images the same resize and centre crop as its test split', async () => {
    const sized = tempDir();
    const { config } = await runTrain(
      'tiny_cnn',
      trainOptions(data, sized, { epochs: 1, imageSize: 12, cropSize: 10 }),
      {
        out: quiet,
      },
    );
    const test = loadIdxDataset(data, 'test');
    const pixels = test.inputs.subarray(0, 64);
    const file = join(images, 'sized.png');
    await sharp(Buffer.from(pixels.map((v) => Math.round(v * 255))), { raw: { width: 8, height: 8, channels: 1 } })
      .png()
      .toFile(file);
    const [p] = await runPredict(sized, [file], { top: 3, invert: false, format: 'text' });
    const { model } = loadTrained(sized, {});
    model.eval();
    const testing = compose([resize(12), centerCrop(10), normalize(config.normalize.mean, config.normalize.std)]);
    const input = testing.apply(Float32Array.from(pixels), 1, [1, 8, 8], new Generator(0));
    const expected = noGrad(() => softmax(model.call(fromArray(input, [1, 1, 10, 10])), 1)).toArray();
    for (const t of p.top) assert.ok(Math.abs(t.probability - expected[t.label]) < 1e-6, `${t.label}`);
  });
});
