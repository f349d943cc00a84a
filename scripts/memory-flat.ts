/**
 * `npm run check:memory`: shows that training does not leak. Runs 1,000 training steps (SGD with
 * momentum 0.9, cross-entropy) of the CIFAR ResNet-20 on fresh random 32x32 batches, each step in
 * scope() as src/train/loop.ts does, and reads the resident set size after every step. Every 50
 * steps it records that window's median, peak and floor, and the resident size after a full
 * collection. After a warm-up of 200 steps (caches, the optimiser's momentum buffers, the native
 * buffer pool and V8's heap settle) the largest later after-collection reading must stay within 5%
 * of the one that ends the warm-up; otherwise exit 1. A leak lifts every line step after step.
 *
 * Why the verdict reads memory after a full collection: tensors' arrays are freed when V8
 * collects them, so a single reading lands anywhere in the collector's cycle and moves by about
 * 20% from one sample to the next (measured here), and even a window's median rose by 10% over
 * 400 steps and fell back at the next full collection, as it did for code before and after one
 * change. So at the end of every window the check runs a full collection (V8's gc, exposed with
 * v8.setFlagsFromString) and reads the resident size then: garbage is gone, a leak stays. The
 * window medians, peaks and floors are shown beside it.
 * Prints the samples as a table and draws them to docs/memory-flat.svg.
 *
 * Options: --steps N (1000), --batch N (16, about 4 minutes here; 4 on the reference backend), --every N (50),
 * --warmup N (200), --svg FILE (docs/memory-flat.svg), --backend native|ref (native when it loads),
 * --leak-kib N (keeps N KiB per step alive on purpose: shows that the check catches a leak).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { nativeUnavailable } from '../src/backend/registry.js';
import { progressBar } from '../src/cli/progress.js';
import { manualSeed } from '../src/core/random.js';
import { scope } from '../src/core/scope.js';
import { type LinePoint, linesSpec, renderSvg } from '../src/experiments/charts.js';
import { buildModel } from '../src/models/registry.js';
import { randn } from '../src/ops/creation.js';
import { crossEntropy } from '../src/ops/cross-entropy.js';
import { SGD } from '../src/train/sgd.js';

const TOLERANCE = 0.05;
const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    batch: { type: 'string' },
    every: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '200' },
    svg: { type: 'string', default: 'docs/memory-flat.svg' },
    backend: { type: 'string' },
    'leak-kib': { type: 'string', default: '0' },
  },
});

let backend = args.backend ?? 'native';
if (backend === 'native' && nativeUnavailable() !== null) {
  console.error(
    `check:memory: the native backend is unavailable (${nativeUnavailable()}); running on the reference backend instead (slower, smaller batch).`,
  );
  backend = 'ref';
}
const [steps, every, warmup] = [Number(args.steps), Number(args.every), Number(args.warmup)];
const batch = Number(args.batch ?? (backend === 'ref' ? 4 : 16));
const leakKib = Number(args['leak-kib']);
const leaked: Float32Array[] = [];
if (
  ![steps, every, warmup, batch].every((n) => Number.isInteger(n) && n > 0) ||
  warmup >= steps ||
  warmup % every !== 0
) {
  console.error(
    'check:memory: --steps, --batch, --every and --warmup must be positive integers, warmup < steps and a multiple of every',
  );
  process.exit(2);
}

manualSeed(0);
const model = buildModel('resnet20_cifar', { backend });
model.train();
const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
const classes = 10;

v8.setFlagsFromString('--expose-gc');
/** V8's full collection (the flag exposes gc to contexts made after it). */
const fullCollection = vm.runInNewContext('gc') as () => void;

interface Sample {
  step: number;
  /** RSS after a full collection at the end of the window: the verdict's reading. */
  collected: number;
  /** Median, largest and smallest RSS read after the steps of the window that ends here. */
  rss: number;
  peak: number;
  floor: number;
  heapUsed: number;
  arrayBuffers: number;
  loss: number;
}
const mib = (bytes: number): number => bytes / 2 ** 20;
const samples: Sample[] = [];
let readings: number[] = [];
const sample = async (step: number, loss: number): Promise<void> => {
  const sorted = (readings.length > 0 ? readings : [process.memoryUsage.rss()]).sort((a, b) => a - b);
  const [rss, peak, floor] = [sorted[Math.floor(sorted.length / 2)], sorted[sorted.length - 1], sorted[0]];
  fullCollection();
  await new Promise((resolve) => setImmediate(resolve)); // finalizers run, then a second pass
  fullCollection();
  const m = process.memoryUsage();
  samples.push({ step, collected: m.rss, rss, peak, floor, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, loss });
  readings = [];
};

console.error(
  `check:memory: ${steps} steps of resnet20_cifar, batch ${batch}, 32x32, ${backend} backend, ${os.availableParallelism()} cores${leakKib > 0 ? `, leaking ${leakKib} KiB per step on purpose` : ''}`,
);
await sample(0, NaN);
const bar = progressBar(steps, 'training', 'steps');
let loss = NaN;
for (let step = 1; step <= steps; step++) {
  loss = scope(() => {
    // Fresh random inputs every step, so the allocator sees a real loop's traffic.
    const x = randn([batch, 3, 32, 32], { backend });
    const labels = Int32Array.from({ length: batch }, () => Math.floor(Math.random() * classes));
    optimizer.zeroGrad();
    const l = crossEntropy(model.call(x), labels);
    l.backward();
    optimizer.step();
    return l.item();
  });
  if (leakKib > 0) leaked.push(new Float32Array(leakKib * 256).fill(step)); // touched, so resident
  const rss = process.memoryUsage.rss();
  readings.push(rss);
  if (step % every === 0) await sample(step, loss);
  bar.update(step, { loss: loss.toFixed(3), 'rss MiB': mib(rss).toFixed(0) });
  // Yield as the training loop does: timers (the progress bar) and finalizers get to run.
  await new Promise((resolve) => setImmediate(resolve));
}
bar.stop();

const base = samples.find((s) => s.step === warmup);
if (!base) throw new Error(`no sample at the warm-up step ${warmup}`);
const after = samples.filter((s) => s.step > warmup);
const maxRss = Math.max(...after.map((s) => s.collected));
const growth = maxRss / base.collected - 1;
const flat = growth <= TOLERANCE;

console.log(
  `\nresnet20_cifar training, batch ${batch}, ${backend} backend: resident memory per ${every}-step window (MiB)\n`,
);
console.log(
  `| steps | RSS after a full GC | vs warm-up end | RSS median | RSS peak | RSS floor | JS heap used | array buffers | loss |`,
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [i, s] of samples.entries()) {
  const range = i === 0 ? 'start' : `${samples[i - 1].step + 1}-${s.step}`;
  const vs =
    s.step > warmup
      ? `${((s.collected / base.collected - 1) * 100).toFixed(1)}%`
      : s.step === warmup
        ? 'baseline'
        : '(warm-up)';
  const cells = [mib(s.rss), mib(s.peak), mib(s.floor), mib(s.heapUsed), mib(s.arrayBuffers)].map((v) => v.toFixed(1));
  console.log(
    `| ${range} | ${mib(s.collected).toFixed(1)} | ${vs} | ${cells.join(' | ')} | ${Number.isNaN(s.loss) ? '-' : s.loss.toFixed(3)} |`,
  );
}
const verdict = `the largest RSS after a full collection past the warm-up is ${(growth * 100).toFixed(1)}% ${growth >= 0 ? 'above' : 'below'} the one at step ${warmup} (${mib(base.collected).toFixed(1)} MiB; limit +${TOLERANCE * 100}%)`;
console.log(`\n${flat ? 'flat' : 'NOT flat'}: ${verdict}`);

const limit = mib(base.collected) * (1 + TOLERANCE);
const series = [
  { name: 'RSS after a full GC', points: samples.map((s) => [s.step, mib(s.collected)] as const) },
  { name: 'RSS median', points: samples.map((s) => [s.step, mib(s.rss)] as const) },
  { name: 'RSS peak', points: samples.map((s) => [s.step, mib(s.peak)] as const) },
  { name: 'RSS floor', points: samples.map((s) => [s.step, mib(s.floor)] as const) },
  { name: 'array buffers', points: samples.map((s) => [s.step, mib(s.arrayBuffers)] as const) },
  {
    name: `limit (+${TOLERANCE * 100}%)`,
    points: [
      [warmup, limit],
      [steps, limit],
    ] as const,
  },
];
const points: LinePoint[] = series.flatMap((line) => line.points.map(([x, y]) => ({ series: line.name, x, y })));
const svg = await renderSvg(
  linesSpec(`resnet20_cifar, ${steps} SGD steps, batch ${batch} (${backend}): resident memory`, points, {
    x: 'training step',
    y: 'MiB',
    legend: 'series',
  }),
);
writeFileSync(args.svg, `${svg}\n`);
console.log(`chart: ${args.svg}`);
process.exit(flat ? 0 : 1);
