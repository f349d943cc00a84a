/**
 * `convkit demo` (what `npm start` runs): trains the tiny CNN on the synthetic bars task on the
 * reference backend, with a progress bar, a per-epoch table, and a learning-curve chart.
 */
import { join } from 'node:path';
import { getBackend } from '../backend/registry.js';
import { manualSeed } from '../core/random.js';
import { syntheticBars } from '../data/synthetic-bars.js';
import { tinyCnn } from '../models/tiny-cnn.js';
import { CosineAnnealingLR, SGD } from '../train/index.js';
import { evaluate, trainEpoch, type EpochResult } from '../train/loop.js';
import { writeFileAtomic } from './files.js';
import { progressBar } from './progress.js';
import { lineChartSvg } from './svg-chart.js';

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

export async function runDemo(o: DemoOptions): Promise<void> {
  manualSeed(o.seed);
  const train = syntheticBars({ count: o.samples, seed: o.seed + 1 });
  const test = syntheticBars({ count: Math.max(100, Math.floor(o.samples / 4)), seed: o.seed + 2 });
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

  const chart = lineChartSvg(
    [
      { name: 'train accuracy', points: history.map((h) => [h.epoch, h.train.accuracy]) },
      {
        name: 'test accuracy',
        points: [[0, untrained.accuracy], ...history.map((h): [number, number] => [h.epoch, h.test.accuracy])],
      },
    ],
    { title: 'convkit demo: tiny CNN on synthetic bars', xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1] },
  );
  const chartPath = join(o.out, 'demo-accuracy.svg');
  const jsonPath = join(o.out, 'demo-history.json');
  writeFileAtomic(chartPath, chart);
  writeFileAtomic(jsonPath, JSON.stringify({ options: o, untrained, history }, null, 2));
  console.log(`wrote ${chartPath} and ${jsonPath}`);
}
