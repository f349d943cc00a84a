/**
 * `convkit demo`, the quick synthetic check (`npm start` runs the tour, tour.ts): trains the tiny
 * CNN on the synthetic bars task on the reference backend, with a progress bar, a per-epoch table,
 * and a learning-curve chart.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { getBackend } from '../backend/registry.js';
import { manualSeed } from '../core/random.js';
import { syntheticBars } from '../data/synthetic-bars.js';
import { tinyCnn } from '../models/tiny-cnn.js';
import { CosineAnnealingLR, SGD } from '../train/index.js';
import { evaluate, trainEpoch, type EpochResult } from '../train/loop.js';
import { type LinePoint, linesSpec, renderSvg } from '../experiments/charts.js';
import { intOption, numberOption, pathOption } from './args.js';
import { checkOutputPath, writeFileAtomic } from './files.js';
import { progressBar } from './progress.js';

export interface DemoOptions {
  epochs: number;
  samples: number;
  batchSize: number;
  lr: number;
  seed: number;
  width: number;
  out: string;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The synthetic images are 16x16 float32 with an int32 label: 1,028 bytes each. */
const IMAGE_BYTES = 16 * 16 * 4 + 4;
/** Test images: a quarter of the training images, at least 100. */
const testCount = (samples: number): number => Math.max(100, Math.floor(samples / 4));
/** Bytes of the training and test images for `samples` training images. */
export const demoDataBytes = (samples: number): number => (samples + testCount(samples)) * IMAGE_BYTES;
const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(bytes < 1e9 ? 2 : 1)} GB`;

/** The demo's limits: the data stays under ~0.65 GB and one step's activations under ~0.2 GB. */
export const DEMO_LIMITS = {
  epochs: { min: 1, max: 1000 },
  samples: { min: 32, max: 500_000 },
  batchSize: { min: 1, max: 512 },
  width: { min: 2, max: 64 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  lr: { min: 0, max: 10, aboveMin: true },
} as const;

export const DEMO_FILES = { chart: 'demo-accuracy.svg', history: 'demo-history.json' } as const;

export function registerDemo(program: Command): void {
  const l = DEMO_LIMITS;
  program
    .command('demo')
    .description('train a small CNN (conv, batch norm, residual and concat blocks) on a synthetic image task')
    .addOption(intOption('--epochs <n>', 'training epochs', l.epochs, 3))
    .addOption(
      intOption(
        '--samples <n>',
        'training images (a quarter as many test images); 1 KB of memory each',
        l.samples,
        1600,
        (n) =>
          `(its images would take ${gb(demoDataBytes(n))} of memory; the limit keeps them under ${gb(demoDataBytes(l.samples.max))})`,
      ),
    )
    .addOption(intOption('--batch-size <n>', 'images per step', l.batchSize, 32))
    .addOption(numberOption('--lr <x>', 'initial learning rate (SGD, momentum 0.9, cosine schedule)', l.lr, 0.1))
    .addOption(intOption('--width <n>', 'channels after the stem', l.width, 8))
    .addOption(intOption('--seed <n>', 'seed for data, initialisation and shuffling', l.seed, 0))
    .addOption(
      pathOption(
        '--out <dir>',
        `folder for the chart (${DEMO_FILES.chart}) and the history (${DEMO_FILES.history}); made if missing`,
        'out',
      ),
    )
    .action(async (opts: DemoOptions) => runDemo(opts));
}

export async function runDemo(o: DemoOptions): Promise<void> {
  // Find a bad --out now, not after the training.
  const chartPath = join(o.out, DEMO_FILES.chart);
  const jsonPath = join(o.out, DEMO_FILES.history);
  checkOutputPath(chartPath, '--out');
  checkOutputPath(jsonPath, '--out');
  manualSeed(o.seed);
  const train = syntheticBars({ count: o.samples, seed: o.seed + 1 });
  const test = syntheticBars({ count: testCount(o.samples), seed: o.seed + 2 });
  const model = tinyCnn({ width: o.width });
  console.log(`convkit demo: teach a small CNN to tell the direction of a line in a noisy 16x16 image`);
  console.log(
    `classes: ${train.classes.join(', ')}; ${train.labels.length} training and ${test.labels.length} test images (seed ${o.seed})`,
  );
  console.log(`backend: ${getBackend().name}; model: ${model.numParameters().toLocaleString('en-US')} parameters\n`);
  console.log(model.toString());
  console.log('');

  const optimizer = new SGD(model.parameters(), { lr: o.lr, momentum: 0.9, weightDecay: 1e-4 });
  const schedule = new CosineAnnealingLR(optimizer, { tMax: o.epochs });
  const untrained = await evaluate(model, test, { batchSize: 100 });
  console.log(`before training: test accuracy ${pct(untrained.accuracy)} (chance is ${pct(1 / train.classes.length)})`);

  const history: { epoch: number; train: EpochResult; test: EpochResult; lr: number }[] = [];
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const lr = optimizer.paramGroups[0].lr;
    const bar = progressBar(Math.ceil(train.labels.length / o.batchSize), `epoch ${epoch}/${o.epochs}`, 'batches');
    const trained = await trainEpoch(model, optimizer, train, {
      batchSize: o.batchSize,
      onBatch: (done, _total, running) =>
        bar.update(done, { loss: running.loss.toFixed(3), acc: pct(running.accuracy) }),
    });
    bar.stop();
    schedule.step();
    const tested = await evaluate(model, test, { batchSize: 100 });
    history.push({ epoch, train: trained, test: tested, lr });
  }

  console.log('\n| epoch | lr | train loss | train acc | test loss | test acc | images/s |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|');
  for (const h of history) {
    const rate = (h.train.samples / h.train.seconds).toFixed(0);
    console.log(
      `| ${h.epoch} | ${h.lr.toFixed(4)} | ${h.train.loss.toFixed(4)} | ${pct(h.train.accuracy)} | ${h.test.loss.toFixed(4)} | ${pct(h.test.accuracy)} | ${rate} |`,
    );
  }
  const last = history[history.length - 1];
  const seconds = history.reduce((s, h) => s + h.train.seconds, 0);
  console.log(
    `\nlearned: test accuracy ${pct(untrained.accuracy)} -> ${pct(last.test.accuracy)} in ${o.epochs} epochs (${seconds.toFixed(1)} s of training)`,
  );

  const accuracy = (series: string, points: readonly (readonly [number, number])[]): LinePoint[] =>
    points.map(([x, y]) => ({ series, x, y }));
  const chart = await renderSvg(
    linesSpec(
      'convkit demo: tiny CNN on synthetic bars',
      [
        ...accuracy(
          'train accuracy',
          history.map((h) => [h.epoch, h.train.accuracy]),
        ),
        ...accuracy('test accuracy', [
          [0, untrained.accuracy],
          ...history.map((h) => [h.epoch, h.test.accuracy] as const),
        ]),
      ],
      { x: 'epoch', y: 'accuracy', legend: 'series', xInteger: true },
    ),
  );
  writeFileAtomic(chartPath, chart);
  writeFileAtomic(jsonPath, JSON.stringify({ options: o, untrained, history }, null, 2));
  console.log(`wrote ${chartPath} and ${jsonPath}`);
}
