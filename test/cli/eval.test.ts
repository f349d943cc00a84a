import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/args.js';
import { evalText, runEval } from '../../src/cli/eval.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import { buildTrainModel } from '../../src/cli/train-config.js';
import { RUN_FILES } from '../../src/cli/train-run-folder.js';
import { setBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { loadIdxDataset } from '../../src/data/idx.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { fromArray } from '../../src/ops/creation.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

setBackend('ref');
const quiet = (): void => {};
const data = writeTinyIdx({ train: 30, test: 21 });

describe('convkit eval', () => {
  const run = tempDir();

  it('gives the accuracy, loss and confusion matrix a hand computation gives, one image at a time', async () => {
    const { config } = await runTrain('tiny_cnn', trainOptions(data, run, { epochs: 1 }), { out: quiet });
    const report = await runEval(run, { split: 'test', batchSize: 8, format: 'text' });

    // By hand: the checkpoint's weights, each test image normalised with the run's statistics.
    const model = buildTrainModel(config);
    const ckpt = loadCheckpoint(join(run, RUN_FILES.checkpoint));
    model.loadStateDict(ckpt.model);
    ckpt.dispose();
    model.eval();
    const test = loadIdxDataset(data, 'test');
    const [mean] = config.normalize.mean;
    const [std] = config.normalize.std;
    const confusion = [0, 1, 2].map(() => new Array<number>(10).fill(0));
    let loss = 0;
    for (let n = 0; n < test.labels.length; n++) {
      const pixels = test.inputs.subarray(n * 64, (n + 1) * 64).map((v) => (v - mean) / std);
      const logits = Array.from(noGrad(() => model.call(fromArray(pixels, [1, 1, 8, 8]))).toArray());
      const predicted = logits.indexOf(Math.max(...logits));
      confusion[test.labels[n]][predicted]++;
      const top = Math.max(...logits);
      const logSum = top + Math.log(logits.reduce((s, v) => s + Math.exp(v - top), 0));
      loss += logSum - logits[test.labels[n]];
    }
    assert.equal(report.samples, 21);
    assert.deepEqual(report.confusion.slice(0, 3), confusion);
    assert.deepEqual(report.confusion.slice(3).flat(), new Array(70).fill(0), 'no images of classes 3-9');
    const correct = confusion.reduce((s, row, i) => s + row[i], 0);
    assert.equal(report.accuracy, correct / 21);
    assert.ok(Math.abs(report.loss - loss / 21) < 1e-5, `${report.loss} vs ${loss / 21}`);
    assert.deepEqual(report.classAccuracy.slice(0, 4), [...confusion.map((row, i) => row[i] / 7), null]);
    const text = evalText(report);
    assert.match(text, /^tiny_cnn on idx:.* \(test, 21 images\): accuracy \d+\.\d\d%, loss \d\.\d{4}/);
    assert.match(text, /confusion matrix \(rows: true class, columns: predicted\)/);
  });

  it('takes a model with --weights: a checkpoint, or plain weights', async () => {
    const byRun = await runEval(run, { split: 'test', batchSize: 5, format: 'json' });
    const checkpoint = join(run, RUN_FILES.checkpoint);
    const byCheckpoint = await runEval('tiny_cnn', {
      weights: checkpoint,
      split: 'test',
      batchSize: 21,
      format: 'json',
    });
    assert.deepEqual(byCheckpoint.confusion, byRun.confusion);
    // Plain weights: normalised with the statistics of the training images, as the run was.
    const ckpt = loadCheckpoint(checkpoint);
    const plain = join(tempDir(), 'weights.safetensors');
    writeSafetensors(plain, ckpt.model);
    ckpt.dispose();
    const byWeights = await runEval('tiny_cnn', {
      weights: plain,
      data: `idx:${data}`,
      split: 'test',
      batchSize: 7,
      format: 'json',
    });
    assert.deepEqual(byWeights.confusion, byRun.confusion);
    const out: string[] = [];
    await runProgram(['node', 'convkit', 'eval', run, '--format', 'json'], (t) => out.push(t));
    assert.deepEqual(JSON.parse(out.join('\n')).confusion, byRun.confusion);
  });

  it('bad calls are one-line usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [[tempDir()], /holds no checkpoint\.safetensors/],
      [['tiny_cnn'], /is not a run folder/],
      [['tiny_cnn', '--weights', '/nonexistent/w.safetensors'], /--weights: .* does not exist/],
      [['resnet18', '--weights', join(run, RUN_FILES.checkpoint)], /is a checkpoint of tiny_cnn, not resnet18/],
      [[run, '--batch-size', '0'], /^--batch-size: expected an integer from 1 to 4096, got 0/],
      [[run, '--data', 'fashion-mnist'], /has 1x28x28 images; the model was trained on 1x8x8/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(runProgram(['node', 'convkit', 'eval', ...args], quiet), (err: unknown) => {
        assert.ok(err instanceof UsageError, `${args.join(' ')}: ${String(err)}`);
        assert.match(err.message, message);
        return true;
      });
    }
  });
});

describe('convkit eval: the heat map', () => {
  it('writes the confusion matrix as a heat map into the run folder, or to --out', async () => {
    const run = tempDir();
    await runTrain('tiny_cnn', trainOptions(data, run, { epochs: 1 }), { out: quiet });
    const out: string[] = [];
    await runProgram(['node', 'convkit', 'eval', run], (t) => out.push(t));
    const chart = join(run, 'confusion-test.svg');
    assert.match(out.join('\n'), new RegExp(`heat map: ${chart}$`));
    const report = await runEval(run, { split: 'test', batchSize: 8, format: 'json' });
    const svg = readFileSync(chart, 'utf8');
    assert.match(svg, /^<svg[\s>]/);
    // One cell per (true, predicted) pair; each class named on both axes, the rows with their accuracy.
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    report.classes.forEach((name, i) => {
      assert.ok(texts.includes(name), `column ${name}`);
      const acc = report.classAccuracy[i];
      assert.ok(texts.includes(`${name} (${acc === null ? 'none' : `${(100 * acc).toFixed(1)}%`})`), `row ${name}`);
    });
    // The counts written in the cells (the text marks, not the axes) are the non-zero counts of the matrix.
    const marks = svg.slice(svg.indexOf('<g class="mark-text role-mark"'));
    const written = [...marks.slice(0, marks.indexOf('</g>')).matchAll(/<text[^>]*>(\d+)<\/text>/g)].map((m) =>
      Number(m[1]),
    );
    const counts = report.confusion.flat().filter((v) => v > 0);
    assert.ok(counts.length > 0);
    assert.deepEqual(written, counts);
    assert.equal((await sharp(Buffer.from(svg)).metadata()).format, 'svg');

    const file = join(tempDir(), 'charts', 'c.svg');
    const json: string[] = [];
    await runProgram(['node', 'convkit', 'eval', run, '--split', 'train', '--out', file, '--format', 'json'], (t) =>
      json.push(t),
    );
    assert.equal(JSON.parse(json.join('\n')).chart, file);
    assert.ok(existsSync(file) && !existsSync(join(run, 'confusion-train.svg')));
  });
});
