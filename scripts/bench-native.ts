/**
 * Forward throughput of the native backend (oneDNN, plain NCHW in this slice) against PyTorch
 * eager on the same machine in one run: ResNet-18 and ResNet-50, batch 8, 224x224, float32,
 * inference mode. Prints images/s, ms per batch, achieved GFLOP/s (2 x the analysis' MACs) and
 * the ratio convkit / PyTorch. PyTorch runs through /usr/bin/python3 with torch.set_num_threads
 * equal to the OpenMP threads oneDNN uses (OMP_NUM_THREADS, default: all cores).
 * Run: `npx tsx scripts/bench-native.ts [batch]`. About a minute.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { getBackend } from '../src/backend/registry.js';
import { loadNativeBackend } from '../src/backend/native/index.js';
import { noGrad } from '../src/core/grad-mode.js';
import { traceOps } from '../src/core/trace.js';
import { buildModel } from '../src/models/registry.js';
import { randn, zeros } from '../src/ops/creation.js';

const batch = Number(process.argv[2] ?? 8);
const threads = Number(process.env.OMP_NUM_THREADS ?? os.availableParallelism());
const MODELS = ['resnet18', 'resnet50'];

const native = loadNativeBackend();
if ('error' in native) {
  console.error(`bench-native: ${native.error}`);
  process.exit(1);
}
getBackend('native');

/** Median ms of `run` after one warm-up run, at least 3 and at most 7 timed runs (or about 10 s). */
function medianMs(run: () => void): number {
  run();
  const times: number[] = [];
  const budget = performance.now() + 10_000;
  while (times.length < 3 || (times.length < 7 && performance.now() < budget)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function macsPerImage(name: string): number {
  const model = buildModel(name, { backend: 'meta' });
  let macs = 0;
  traceOps((e) => (macs += e.macs), () => model.call(zeros([1, 3, 224, 224], { backend: 'meta' })));
  return macs;
}

function convkitMs(name: string): number {
  const model = buildModel(name, { backend: 'native' });
  model.eval();
  const x = randn([batch, 3, 224, 224], { backend: 'native' });
  return medianMs(() => noGrad(() => model.call(x).dispose()));
}

const PYTHON = `
import json, sys, time, torch, torchvision
torch.set_num_threads(int(sys.argv[1]))
batch = int(sys.argv[2])
out = {}
for name in sys.argv[3:]:
    model = getattr(torchvision.models, name)().eval()
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        model(x)
        budget = time.perf_counter() + 10
        while len(times) < 3 or (len(times) < 7 and time.perf_counter() < budget):
            t0 = time.perf_counter(); model(x); times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    out[name] = times[len(times) // 2]
print(json.dumps(out))
`;

function torchMs(): Record<string, number> | string {
  const r = spawnSync('/usr/bin/python3', ['-c', PYTHON, String(threads), String(batch), ...MODELS], { encoding: 'utf8' });
  if (r.status !== 0) return `PyTorch run failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
}

process.stderr.write(`batch ${batch}, 224x224, float32, ${threads} threads\n`);
const ours = MODELS.map((name) => {
  process.stderr.write(`  convkit native ${name}...\n`);
  return { name, ms: convkitMs(name), macs: macsPerImage(name) };
});
process.stderr.write('  PyTorch...\n');
const torch = torchMs();

const fmt = (v: number, d = 1): string => v.toFixed(d);
console.log(`\nForward, batch ${batch}, 224x224, float32, ${threads} threads (${os.cpus()[0]?.model ?? 'cpu'})\n`);
console.log('| model | convkit img/s | ms/batch | GFLOP/s | PyTorch img/s | ms/batch | GFLOP/s | convkit / PyTorch |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of ours) {
  const gflop = (2 * r.macs * batch) / 1e9;
  const t = typeof torch === 'string' ? NaN : torch[r.name];
  const cells = [r.name, fmt((batch * 1000) / r.ms), fmt(r.ms), fmt(gflop / (r.ms / 1000))];
  cells.push(...(Number.isFinite(t) ? [fmt((batch * 1000) / t), fmt(t), fmt(gflop / (t / 1000)), fmt(t / r.ms, 2)] : ['-', '-', '-', '-']));
  console.log(`| ${cells.join(' | ')} |`);
}
if (typeof torch === 'string') console.log(`\n${torch}`);
