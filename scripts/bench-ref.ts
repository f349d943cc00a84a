/**
 * Throughput of the reference backend's matmul and conv2d kernels (float32, one thread), side by
 * side with PyTorch on the same problems in the same run: one markdown table of ms and GFLOP/s
 * (FLOPs = 2 x MACs) with the ratio convkit / PyTorch. Each case is warmed up, then timed a few
 * times; the median is printed. Run: `npx tsx scripts/bench-ref.ts` (or `npm run bench:ref`).
 * About 20 s. The PyTorch side is scripts/bench/ref_peer_torch.py under Debian's
 * /usr/bin/python3 (python3-torch); without it the PyTorch columns stay empty.
 *
 * These numbers say how slow the executable spec is, so tests and examples can size their work;
 * the native backend is the fast path.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { refBackend } from '../src/backend/ref/index.js';
import { Generator } from '../src/core/random.js';
import type { Storage } from '../src/core/storage.js';
import { conv2dGeometry, conv2dMacs, type Conv2dOptions } from '../src/ops/conv2d.js';
import { PYTHON, peerEnv } from './bench/peers.js';

/** Timing policy, shared with the PyTorch peer so both sides time alike. */
const POLICY = { warmupRuns: 1, minRuns: 3, maxRuns: 7, budgetMs: 2000 };
const PEER_SCRIPT = fileURLToPath(new URL('./bench/ref_peer_torch.py', import.meta.url));

const k = refBackend.kernels;
const rng = new Generator(0);

function randomStorage(size: number): Storage {
  return refBackend.write(
    Float32Array.from({ length: size }, () => rng.uniform() * 2 - 1),
    'float32',
  );
}

/** Median milliseconds of `run` after the warm-up; at least minRuns, at most maxRuns or about budgetMs. */
function medianMs(run: () => void): number {
  for (let i = 0; i < POLICY.warmupRuns; i++) run();
  const times: number[] = [];
  const budgetEnd = performance.now() + POLICY.budgetMs;
  while (times.length < POLICY.minRuns || (times.length < POLICY.maxRuns && performance.now() < budgetEnd)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** One problem as the peer reads it (see ref_peer_torch.py). */
type PeerCase =
  | { kind: 'matmul'; label: string; m: number; k: number; n: number }
  | {
      kind: 'conv-fwd' | 'conv-bwd-data' | 'conv-bwd-weight';
      label: string;
      x: number[];
      w: number[];
      stride: number[];
      padding: number[];
      dilation: number[];
      groups: number;
      bias: boolean;
    };

interface Case {
  kernel: string;
  problem: string;
  macs: number;
  peer: PeerCase;
  /** Makes the inputs (untimed) and returns the timed computation. */
  prepare: () => () => void;
}
const cases: Case[] = [];

for (const n of [256, 512, 1024]) {
  const problem = `${n}x${n} @ ${n}x${n}`;
  cases.push({
    kernel: 'matmul',
    problem,
    macs: n * n * n,
    peer: { kind: 'matmul', label: problem, m: n, k: n, n },
    prepare: () => {
      const [a, b] = [randomStorage(n * n), randomStorage(n * n)];
      return () =>
        k
          .matmul({ a, b, batch: 1, m: n, k: n, n, transA: false, transB: false, aBatched: false, bBatched: false })
          .release();
    },
  });
}

const convProblems: [string, number[], number[], Conv2dOptions][] = [
  ['CIFAR 3x3 16->16 32x32 batch 8', [8, 16, 32, 32], [16, 16, 3, 3], { padding: 1 }],
  ['ResNet 3x3 64->64 56x56 batch 1', [1, 64, 56, 56], [64, 64, 3, 3], { padding: 1 }],
  ['ResNet 1x1 256->64 56x56 batch 1', [1, 256, 56, 56], [64, 256, 1, 1], {}],
  ['AlexNet conv1 11x11/4 3->64 224 batch 1', [1, 3, 224, 224], [64, 3, 11, 11], { stride: 4, padding: 2 }],
];

for (const [problem, xShape, wShape, opts] of convProblems) {
  const g = conv2dGeometry(xShape, wShape, opts);
  const shapes = {
    label: problem,
    x: xShape,
    w: wShape,
    stride: [g.strideH, g.strideW],
    padding: [g.padTop, g.padBottom, g.padLeft, g.padRight],
    dilation: [g.dilationH, g.dilationW],
    groups: g.groups,
    bias: true,
  };
  const input = {
    x: () => randomStorage(g.batch * g.inChannels * g.inH * g.inW),
    weight: () => randomStorage(((g.outChannels * g.inChannels) / g.groups) * g.kernelH * g.kernelW),
    gy: () => randomStorage(g.batch * g.outChannels * g.outH * g.outW),
  };
  // Backward passes cost as many multiply-adds as the forward pass (bias terms aside).
  const macs = conv2dMacs(g);
  cases.push({
    kernel: 'conv2d fwd',
    problem,
    macs,
    peer: { kind: 'conv-fwd', ...shapes },
    prepare: () => {
      const [x, weight, bias] = [input.x(), input.weight(), randomStorage(g.outChannels)];
      return () => k.conv2d({ x, weight, bias, geometry: g }).release();
    },
  });
  cases.push({
    kernel: 'conv2d bwd-data',
    problem,
    macs,
    peer: { kind: 'conv-bwd-data', ...shapes },
    prepare: () => {
      const [gy, weight] = [input.gy(), input.weight()];
      return () => k.conv2dBackwardData({ gy, weight, geometry: g }).release();
    },
  });
  cases.push({
    kernel: 'conv2d bwd-weight',
    problem,
    macs,
    peer: { kind: 'conv-bwd-weight', ...shapes },
    prepare: () => {
      const [gy, x] = [input.gy(), input.x()];
      return () => {
        const grads = k.conv2dBackwardWeight({ gy, x, geometry: g, withBias: true });
        grads.weight.release();
        grads.bias?.release();
      };
    },
  });
}

const gflop = (c: Case): number => (2 * c.macs) / 1e9;
const convkitMs = cases.map((c) => {
  const ms = medianMs(c.prepare());
  process.stderr.write(`  convkit ${c.kernel} ${c.problem}: ${ms.toFixed(1)} ms\n`);
  return ms;
});

interface PeerResult {
  ms?: number;
  backend?: string;
  error?: string;
}
interface PeerReport {
  torch: string;
  threads: number;
  onednn: string | null;
  blas: string;
  results: PeerResult[];
}
type Peer = { ok: true; report: PeerReport } | { ok: false; why: string };

/** Runs every case through the PyTorch peer in one child process. */
function runPeer(): Peer {
  const install = `install Debian's PyTorch with \`sudo apt-get install python3-torch\` and run again`;
  const input = JSON.stringify({ policy: POLICY, cases: cases.map((c) => c.peer) });
  const child = spawnSync(PYTHON, [PEER_SCRIPT], {
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'inherit'],
    timeout: 600_000,
    env: peerEnv(1), // OpenBLAS on one thread where installed
  });
  if (child.error) return { ok: false, why: `cannot run ${PYTHON} (${child.error.message}); ${install}` };
  if (child.status === 3) return { ok: false, why: `PyTorch is not installed for ${PYTHON}; ${install}` };
  if (child.status !== 0) {
    process.exitCode = 1; // a broken peer script is a bug, unlike a missing PyTorch
    return {
      ok: false,
      why: `the PyTorch peer ${PEER_SCRIPT} failed (exit ${child.status ?? child.signal}); its stderr is above`,
    };
  }
  const report: PeerReport = JSON.parse(child.stdout);
  if (!Array.isArray(report.results) || report.results.length !== cases.length) {
    process.exitCode = 1;
    return { ok: false, why: `the PyTorch peer answered ${report.results?.length} results for ${cases.length} cases` };
  }
  return { ok: true, report };
}
const peer = runPeer();

const cpus = os.cpus();
const torchDesc = peer.ok
  ? `PyTorch ${peer.report.torch} (torch.set_num_threads(${peer.report.threads}), oneDNN ${peer.report.onednn ?? '?'}, BLAS ${peer.report.blas})`
  : 'PyTorch not measured';
console.log(`convkit reference backend vs PyTorch CPU, float32, ONE thread each (the ref backend is single-threaded)`);
console.log(
  `median of ${POLICY.minRuns}-${POLICY.maxRuns} runs after ${POLICY.warmupRuns} warm-up; GFLOP = 2 x forward MACs for every pass; ratio = convkit / PyTorch throughput`,
);
console.log(
  `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical cores, ${os.platform()} ${os.arch()}; Node ${process.version}; ${torchDesc}`,
);
console.log('');

const ratio = (r: number): string => `${r >= 1 ? r.toFixed(2) : r.toPrecision(2)}x`;
const header = [
  'kernel',
  'problem',
  'GFLOP',
  'convkit ms',
  'convkit GFLOP/s',
  'PyTorch ms',
  'PyTorch GFLOP/s',
  'ratio',
];
const table = cases.map((c, i) => {
  const ms = convkitMs[i];
  const torchMs = peer.ok ? peer.report.results[i].ms : undefined;
  const torchCells =
    torchMs === undefined
      ? ['', '', '']
      : [torchMs.toFixed(1), (gflop(c) / (torchMs / 1e3)).toFixed(2), ratio(torchMs / ms)];
  return [c.kernel, c.problem, gflop(c).toFixed(3), ms.toFixed(1), (gflop(c) / (ms / 1e3)).toFixed(2), ...torchCells];
});
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells: string[]): string =>
  `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => (i < 2 ? ':' : '-') + '-'.repeat(w) + (i < 2 ? '-' : ':')).join('|')}|`);
for (const row of table) console.log(line(row));
console.log('');

if (!peer.ok) {
  console.log(`PyTorch columns are empty: ${peer.why}.`);
} else {
  const failed = peer.report.results.flatMap((r, i) =>
    r.error ? [`${cases[i].kernel} ${cases[i].problem}: ${r.error}`] : [],
  );
  if (failed.length > 0) console.log(`PyTorch failed on: ${failed.join('; ')}`);
  // bwd passes select the same conv backend as the forward pass, so one name per problem suffices.
  const kernels = new Map(
    cases.map((c, i) => [c.kernel === 'matmul' ? 'matmul' : c.problem, peer.report.results[i].backend ?? '?']),
  );
  console.log(
    `PyTorch kernels (Mkldnn = oneDNN; Slow2d = im2col + BLAS sgemm): ${[...kernels].map(([p, b]) => `${p}: ${b}`).join('; ')}`,
  );
  if (peer.report.blas.startsWith('blas/')) {
    console.log(
      "note: this PyTorch's BLAS is netlib's unoptimised reference libblas, so its matmul and Slow2d rows understate PyTorch on OpenBLAS (`sudo apt-get install libopenblas0-pthread`; the peer then loads it alone, see scripts/bench/ensure-openblas.sh).",
    );
  }
}
