/**
 * Throughput of the reference backend's matmul and conv2d kernels (float32), as a table of
 * GFLOP/s (FLOPs = 2 x MACs). Each case is warmed up once, then timed a few times; the median is
 * printed. Run: `npx tsx scripts/bench-ref.ts` (or `npm run bench:ref`). About half a minute.
 *
 * These numbers say how slow the executable spec is, so tests and examples can size their work;
 * the native backend is the fast path.
 */
import os from 'node:os';
import type { Conv2dGeometry } from '../src/backend/backend.js';
import { refBackend } from '../src/backend/ref/index.js';
import { Generator } from '../src/core/random.js';
import type { Storage } from '../src/core/storage.js';
import { conv2dGeometry, conv2dMacs, type Conv2dOptions } from '../src/ops/conv2d.js';

const k = refBackend.kernels;
const rng = new Generator(0);

function randomStorage(size: number): Storage {
  return refBackend.write(Float32Array.from({ length: size }, () => rng.uniform() * 2 - 1), 'float32');
}

/** Median milliseconds of `run` after one warm-up; repeats up to 7 times or about 2 s. */
function medianMs(run: () => void): number {
  run();
  const times: number[] = [];
  const budget = performance.now() + 2000;
  while (times.length < 3 || (times.length < 7 && performance.now() < budget)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

interface Row {
  kernel: string;
  problem: string;
  gflop: number;
  ms: number;
}
const rows: Row[] = [];

function bench(kernel: string, problem: string, macs: number, run: () => void): void {
  const ms = medianMs(run);
  rows.push({ kernel, problem, gflop: (2 * macs) / 1e9, ms });
  const last = rows[rows.length - 1];
  process.stderr.write(`  ${kernel} ${problem}: ${(last.gflop / (ms / 1e3)).toFixed(2)} GFLOP/s\n`);
}

for (const n of [256, 512, 1024]) {
  const a = randomStorage(n * n);
  const b = randomStorage(n * n);
  bench('matmul', `${n}x${n} @ ${n}x${n}`, n * n * n, () => {
    k.matmul({ a, b, batch: 1, m: n, k: n, n, transA: false, transB: false, aBatched: false, bBatched: false }).release();
  });
}

const convCases: [string, number[], number[], Conv2dOptions][] = [
  ['CIFAR 3x3 16->16 32x32 batch 8', [8, 16, 32, 32], [16, 16, 3, 3], { padding: 1 }],
  ['ResNet 3x3 64->64 56x56 batch 1', [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1 }],
  ['ResNet 1x1 256->64 56x56 batch 1', [1, 256, 56, 56], [64, 256, 1, 1], {}],
  ['AlexNet conv1 11x11/4 3->64 224 batch 1', [1, 3, 224, 224], [64, 3, 11, 11], { stride: 4, padding: 2 }],
];

for (const [problem, xShape, wShape, opts] of convCases) {
  const g: Conv2dGeometry = conv2dGeometry(xShape, wShape, opts);
  const macs = conv2dMacs(g);
  const x = randomStorage(g.batch * g.inChannels * g.inH * g.inW);
  const weight = randomStorage(g.outChannels * g.inChannels / g.groups * g.kernelH * g.kernelW);
  const bias = randomStorage(g.outChannels);
  const gy = randomStorage(g.batch * g.outChannels * g.outH * g.outW);
  // Backward passes cost as many multiply-adds as the forward pass (bias terms aside).
  bench('conv2d fwd', problem, macs, () => k.conv2d({ x, weight, bias, geometry: g }).release());
  bench('conv2d bwd-data', problem, macs, () => k.conv2dBackwardData({ gy, weight, geometry: g }).release());
  bench('conv2d bwd-weight', problem, macs, () => {
    const grads = k.conv2dBackwardWeight({ gy, x, geometry: g, withBias: true });
    grads.weight.release();
    grads.bias?.release();
  });
}

const cpus = os.cpus();
console.log(`convkit reference backend, float32, one thread; Node ${process.version}`);
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical cores, ${os.platform()} ${os.arch()}`);
console.log('');
const header = ['kernel', 'problem', 'GFLOP', 'median ms', 'GFLOP/s'];
const table = rows.map((r) => [r.kernel, r.problem, r.gflop.toFixed(3), r.ms.toFixed(1), (r.gflop / (r.ms / 1e3)).toFixed(2)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => (i < 2 ? ':' : '-') + '-'.repeat(w) + (i < 2 ? '-' : ':')).join('|')}|`);
for (const row of table) console.log(line(row));
