/**
 * `npm run bench:loader`: does the data loader keep up with training? Trains the CIFAR ResNet-20
 * (resnet20_cifar, 1 input channel, 10 classes) on Fashion-MNIST-shaped data (random 1x28x28
 * images in [0, 1]) in two ways, with the same step (forward, cross-entropy, backward, SGD step,
 * as src/train/loop.ts runs it):
 *
 * - bare: the step alone on batches made beforehand (the ceiling);
 * - loader: the batches come from a DataLoader with `--workers` worker threads that shuffles,
 *   random-crops with padding 4, flips and normalises them while the step runs.
 *
 * Prints images/s of both and their ratio (the target: the loader keeps at least 95% of the bare
 * step's throughput), with the host. The sides alternate in `--rounds` rounds of `--steps` steps
 * each (after `--warmup` untimed steps each), and the figure is the median round, so a slow spell
 * of a shared machine falls on both. Options: --steps (50), --warmup (5), --rounds (3),
 * --batch (128), --workers (defaultWorkers(): cores - 1, 1 to 4), --threads (the backend's
 * default), --json FILE.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { getBackend, setThreads, synchronize } from '../src/backend/registry.js';
import { Generator, manualSeed } from '../src/core/random.js';
import { scope } from '../src/core/scope.js';
import type { ArrayDataset, Batch } from '../src/data/dataset.js';
import { DataLoader, defaultWorkers } from '../src/data/loader.js';
import { compose, horizontalFlip, normalize, randomCrop } from '../src/data/transforms.js';
import { buildModel } from '../src/models/registry.js';
import { fromArray } from '../src/ops/creation.js';
import { crossEntropy } from '../src/ops/cross-entropy.js';
import { SGD } from '../src/train/sgd.js';
import { describeHost, hostInfo, loadNote } from './bench/host.js';
import { median } from './bench/timing.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '128' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'string' },
  },
});
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
const batch = Number(args.batch);
const workers = args.workers === undefined ? defaultWorkers() : Number(args.workers);
const counts = { steps, warmup, rounds, batch, workers };
for (const [key, v] of Object.entries(counts)) {
  if (!Number.isInteger(v) || v < (key === 'warmup' || key === 'workers' ? 0 : 1)) {
    console.error(
      `bench:loader: --${key} must be an integer >= ${key === 'warmup' || key === 'workers' ? 0 : 1}, got ${v}`,
    );
    process.exit(2);
  }
}
if (args.threads !== undefined) setThreads(Number(args.threads));
const TARGET = 0.95;
const busy = loadNote();

// Fashion-MNIST-shaped samples: enough for every step of every round without repeating an epoch.
const shape = [1, 28, 28] as const;
const per = shape[0] * shape[1] * shape[2];
const count = (warmup + steps) * batch;
const g = new Generator(1);
const data: ArrayDataset = {
  inputs: Float32Array.from({ length: count * per }, () => g.uniform()),
  sampleShape: [...shape],
  labels: Int32Array.from({ length: count }, () => g.int(10)),
  classes: Array.from({ length: 10 }, (_, i) => String(i)),
};

manualSeed(0);
const model = buildModel('resnet20_cifar', { inChannels: 1, classes: 10 });
model.train();
const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });

/** One training step as the loop runs it: queued in a scope, then synchronised, the loss read. */
async function step(b: Batch): Promise<void> {
  const loss = scope(() => {
    const l = crossEntropy(model.call(b.inputs), b.labels);
    optimizer.zeroGrad();
    l.backward();
    optimizer.step();
    return l.detach();
  });
  b.inputs.dispose();
  await synchronize();
  loss.item();
  loss.dispose();
}

// The bare side: batches as tensors-to-be, made before the clock starts (fromArray is part of both sides).
const premade = Array.from({ length: warmup + steps }, (_, i) => ({
  values: data.inputs.slice(i * batch * per, (i + 1) * batch * per),
  labels: data.labels.slice(i * batch, (i + 1) * batch),
}));

async function bareRound(): Promise<number> {
  let t0 = performance.now();
  for (const [i, b] of premade.entries()) {
    if (i === warmup) t0 = performance.now();
    await step({ inputs: fromArray(b.values, [batch, ...shape]), labels: b.labels });
  }
  return (steps * batch) / ((performance.now() - t0) / 1000);
}

const loader = new DataLoader(data, {
  batchSize: batch,
  shuffle: true,
  keepLast: false,
  transform: compose([randomCrop(28, 4), horizontalFlip(), normalize([0.5], [0.25])]),
  workers,
});
const order = new Generator(2);
const augmentation = new Generator(3);

async function loaderRound(): Promise<number> {
  let t0 = performance.now();
  let i = 0;
  for await (const b of loader.epoch({ order, augmentation })) {
    if (i++ === warmup) t0 = performance.now();
    await step(b);
  }
  return (steps * batch) / ((performance.now() - t0) / 1000);
}

const bare: number[] = [];
const loaded: number[] = [];
for (let r = 0; r < rounds; r++) {
  bare.push(await bareRound());
  loaded.push(await loaderRound());
  console.error(
    `[bench:loader] round ${r + 1}/${rounds}: bare ${bare[r].toFixed(0)}, loader ${loaded[r].toFixed(0)} images/s`,
  );
}
await loader.close();

const bareIps = median(bare);
const loaderIps = median(loaded);
const ratio = loaderIps / bareIps;
console.log(
  `\nDataLoader vs bare training step, resnet20_cifar on 1x28x28, batch ${batch}, ${new Date().toISOString().slice(0, 10)}`,
);
console.log(
  `machine: ${describeHost()}; backend ${getBackend().name}; ${workers} loader worker${workers === 1 ? '' : 's'}`,
);
console.log(
  `augmentation: ${loader.transform?.name}; ${rounds} round${rounds === 1 ? '' : 's'} of ${steps} steps (+${warmup} warm-up), median round\n`,
);
console.log('| side | images/s |');
console.log('|---|---:|');
console.log(`| bare step, batches made beforehand | ${bareIps.toFixed(0)} |`);
console.log(`| DataLoader (${workers} worker${workers === 1 ? '' : 's'}) + step | ${loaderIps.toFixed(0)} |`);
console.log(
  `\nratio: ${(100 * ratio).toFixed(1)}% of the bare step (target >= ${100 * TARGET}%: ${ratio >= TARGET ? 'met' : 'missed'})`,
);
if (busy) console.log(`note: ${busy}`);
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  const report = {
    schema: 'convkit.bench-loader/1',
    date: new Date().toISOString(),
    machine: hostInfo(),
    backend: getBackend().name,
    ...counts,
    bareImagesPerSecond: bare,
    loaderImagesPerSecond: loaded,
    ratio,
    target: TARGET,
  };
  writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}
