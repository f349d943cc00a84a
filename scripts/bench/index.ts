/**
 * `npm run bench`: convkit beside ONNX Runtime (Node) and PyTorch (OpenBLAS, the fastest of its
 * configurations per row), in one run on this machine, on the torchvision models, with every
 * figure also read against the machine's FMA peak, then each model's time to first result in
 * fresh processes. The header records the host (CPU, family/model, ISA flags, FMA peak).
 *
 *   npm run bench                                  all models (about 4 minutes on 2 cores)
 *   npm run bench -- --models resnet18,resnet50    a subset (also resnet20_cifar, densenet_bc_100_cifar: CIFAR training rows)
 *   npm run bench -- --quick                       fewer timed runs per figure (2 rounds of 1)
 *   npm run bench -- --json out/bench.json         also write the rows and the machine as JSON
 *   npm run bench -- --profile resnet50            where convkit's inference time goes, layer by layer
 *
 * Threads: CONVKIT_THREADS, default all cores; ORT's intra-op pool and torch.set_num_threads get
 * the same number. GFLOP/s = 2 x convkit's traced multiply-adds per second (x3 for a training step:
 * forward, backward-data, backward-weights). Progress goes to stderr, the tables to stdout.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIRST_RESULT_TITLE, firstResultTable, timeFirstResults, type FirstResult } from './first-result.js';
import { measureFmaPeak } from './fma-peak.js';
import { cappedNote, describeHost, hostInfo, loadNote } from './host.js';
import { exportOnnx, loadOrt, ortContender, TorchPeer } from './peers.js';
import { profileLines } from './profile-format.js';
import { fastest, jsonRows, markdownTables, type Row } from './report.js';
import { FULL_POLICY, interleaved, QUICK_POLICY, timedRuns, type Contender } from './timing.js';
import type { Workload } from './convkit-runner.js';

/**
 * Fresh processes per side for each time to first result: on the Zen 4 host (Firecracker) a
 * process's phases moved by up to 2x from one process to the next (fresh memory cost 0.1-4 ms per
 * MiB there, by how much of it the hypervisor had taken back), so the median takes five.
 */
const FIRST_RESULT_RUNS = 5;
const INFERENCE_MODELS = ['resnet18', 'resnet50', 'vgg16', 'googlenet', 'densenet121', 'alexnet'];
/** Training rows: [model, batch, input side, classes]. */
const TRAINING = [
  ['resnet18', 8, 224, 1000],
  ['resnet50', 8, 224, 1000],
  ['resnet20_cifar', 128, 32, 10],
  ['densenet_bc_100_cifar', 64, 32, 10],
] as const;
/** The CIFAR nets that have a training row and no inference row. */
const CIFAR_MODELS = ['resnet20_cifar', 'densenet_bc_100_cifar'];
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'convkit-bench');

const USAGE = (/\*\*\n([\s\S]*?)\*\//.exec(readFileSync(fileURLToPath(import.meta.url), 'utf8'))?.[1] ?? '')
  .replace(/^ \* ?/gm, '')
  .trim();
const parsed = (() => {
  try {
    return parseArgs({
      options: {
        models: { type: 'string' },
        quick: { type: 'boolean', default: false },
        json: { type: 'string' },
        profile: { type: 'string' },
        batch: { type: 'string', default: '8' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`bench: ${(err as Error).message.split('\n')[0]} (npm run bench -- --help)`);
    process.exit(2);
  }
})();
const args = parsed.values;
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const threads = Number(process.env.CONVKIT_THREADS || os.availableParallelism());
const batch = Number(args.batch);
const policy = args.quick ? QUICK_POLICY : FULL_POLICY;
const all = [...INFERENCE_MODELS, ...CIFAR_MODELS];
const wanted = args.models ? args.models.split(',').map((m) => m.trim()) : all;
const unknown = wanted.filter((m) => !all.includes(m));
if (unknown.length > 0 || !(Number.isInteger(threads) && threads > 0) || !(Number.isInteger(batch) && batch > 0)) {
  console.error(
    unknown.length > 0
      ? `bench: unknown model ${unknown.join(', ')}; expected some of ${all.join(', ')}`
      : 'bench: CONVKIT_THREADS and --batch must be positive integers',
  );
  process.exit(2);
}

const ck = await import('./convkit-runner.js');
ck.configure(threads);
const why = ck.unavailable();
if (why !== null) {
  console.error(`bench: convkit's native backend is unavailable: ${why}`);
  process.exit(1);
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const describePolicy = (): string =>
  `${policy.rounds} interleaved rounds (convkit, ONNX Runtime, each PyTorch configuration in turn, each round starting one later) of ${policy.minRuns === policy.maxRuns ? policy.minRuns : `${policy.minRuns}-${policy.maxRuns}`} runs after ${policy.warmupRuns} warm-up${policy.minTimedMs > 0 ? ` (short runs: up to ${policy.shortRunsCap}, until ${policy.minTimedMs} ms per round)` : ''}; the median of all runs`;

if (args.profile) {
  await printProfile(args.profile);
  process.exit(0);
}

const started = performance.now();
const notes: string[] = [];
const rows: Row[] = [];
// Other work on the machine takes cores from every column at different moments: say so.
const busy = loadNote();
if (busy) notes.push(busy);

const host = hostInfo();
log(`[bench] ${describeHost(host)}`);
log(`[bench] ${threads} threads; timing: ${describePolicy()}`);
const peak = measureFmaPeak(CACHE, threads);
let peakGflops = 'gflops' in peak ? peak.gflops : null;
log(`[bench] FMA peak: ${'gflops' in peak ? `${peak.gflops} GFLOP/s` : peak.error}`);
if ('error' in peak) notes.push(`FMA peak not measured: ${peak.error}`);

const ortLoad = await loadOrt();
const inference = INFERENCE_MODELS.filter((m) => wanted.includes(m));
const exportError = 'error' in ortLoad ? ortLoad.error : exportOnnx(join(CACHE, 'onnx'), inference);
if (exportError) notes.push(`ONNX Runtime not measured: ${exportError}`);
const torchStart = await TorchPeer.start(threads);
const torch = 'peer' in torchStart ? torchStart.peer : null;
if ('error' in torchStart) notes.push(`PyTorch not measured: ${torchStart.error}`);
else {
  log(`[bench] PyTorch peer's BLAS (its /proc/self/maps): ${torchStart.info.blas}`);
  if (!torchStart.info.blas.includes('openblas'))
    notes.push(
      `the PyTorch peer runs on ${torchStart.info.blas}, not OpenBLAS: its Linear layers are slow; run scripts/bench/ensure-openblas.sh as root`,
    );
}

/** A convkit contender: workload i is `make(i)`, made at its first round and kept until the end. */
function convkitContender(label: string, make: (index: number) => Workload): Contender {
  const works = new Map<number, Workload>();
  return {
    label,
    round: (index, warmUp) => {
      if (!works.has(index)) works.set(index, make(index));
      const work = works.get(index) as Workload;
      return timedRuns(() => work.run(), policy, warmUp);
    },
    close: () => works.forEach((w) => w.dispose()),
  };
}

/** Interleaved figures of the contenders (null: absent or failed, with a note). */
async function compare(contenders: readonly (Contender | null)[], count: number): Promise<(number | null)[][]> {
  const present = contenders.filter((c): c is Contender => c !== null);
  const { ms, errors } = await interleaved(present, count, policy, (line) => log(`[bench] ${line}`));
  for (const e of errors) notes.push(`${e.label} failed: ${e.message}`);
  return contenders.map((c) => (c === null ? Array<number | null>(count).fill(null) : ms[present.indexOf(c)]));
}

/** One PyTorch contender per configuration of `kind`; `requests(config)` are its workloads. */
function torchContenders(
  label: string,
  kind: 'infer' | 'train',
  requests: (config: string) => Record<string, unknown>[],
): { configs: string[]; contenders: Contender[] } {
  if (!torch || !('info' in torchStart)) return { configs: [], contenders: [] };
  const configs = torchStart.info.configs[kind];
  return {
    configs,
    contenders: configs.map((config) => torch.contender(`${label} PyTorch ${config}`, requests(config), policy)),
  };
}

/** convkit and the other peers first, then the PyTorch configurations; PyTorch at its fastest per workload. */
async function compareWithTorch(
  others: readonly (Contender | null)[],
  py: { configs: string[]; contenders: Contender[] },
  count: number,
): Promise<{ others: (number | null)[][]; torch: { ms: number | null; config: string | null }[] }> {
  const figures = await compare([...others, ...py.contenders], count);
  const torchFigures = figures.slice(others.length);
  return {
    others: figures.slice(0, others.length),
    torch: torchFigures.length > 0 ? fastest(torchFigures, py.configs) : Array(count).fill({ ms: null, config: null }),
  };
}

for (const model of inference) {
  const gflopPerImage = (2 * ck.macsPerImage(model)) / 1e9;
  const batches = [batch, 1];
  const onnx = join(CACHE, 'onnx', `${model}.onnx`);
  const {
    others: [ours, ort],
    torch: py,
  } = await compareWithTorch(
    [
      convkitContender(`${model} convkit`, (i) => ck.inference(model, batches[i])),
      exportError ? null : ortContender(`${model} ORT`, onnx, batches, threads, policy),
    ],
    torchContenders(model, 'infer', (config) => batches.map((b) => ({ kind: 'infer', model, batch: b, config }))),
    batches.length,
  );
  batches.forEach((b, i) => {
    rows.push({
      section: b === 1 ? 'latency' : 'inference',
      model,
      batch: b,
      size: 224,
      gflop: gflopPerImage * b,
      convkitMs: ours[i],
      ortMs: ort[i],
      torchMs: py[i].ms,
      torchConfig: py[i].config,
      target: { vs: 'ort', ratio: b === 1 ? 1 : 1.1 },
    });
  });
}

// Fresh processes, so nothing measured above (plans, caches, page faults) is reused.
let firstResults: FirstResult[] = [];
if (!exportError && inference.length > 0) {
  log(`[bench] ${FIRST_RESULT_TITLE}`);
  firstResults = timeFirstResults(
    inference,
    join(CACHE, 'onnx'),
    threads,
    args.quick ? 1 : FIRST_RESULT_RUNS,
    (line) => log(`[bench] ${line}`),
    (message) => notes.push(message),
  );
  for (const r of firstResults)
    if (r.logitsDiff !== null && r.logitsDiff > 1e-2)
      notes.push(
        `${r.model}: convkit's and ORT's first logits differ by ${r.logitsDiff.toExponential(1)}: not the same weights?`,
      );
}

for (const [model, b, size, classes] of TRAINING.filter(([m]) => wanted.includes(m))) {
  const gflop = (3 * 2 * ck.macsPerImage(model, [3, size, size], classes) * b) / 1e9;
  const {
    others: [[ours]],
    torch: [py],
  } = await compareWithTorch(
    [convkitContender(`${model} training convkit`, () => ck.training(model, b, size, classes))],
    torchContenders(`${model} training`, 'train', (config) => [
      { kind: 'train', model, batch: b, size, classes, config },
    ]),
    1,
  );
  rows.push({
    section: 'training',
    model,
    batch: b,
    size,
    gflop,
    convkitMs: ours,
    ortMs: null,
    torchMs: py.ms,
    torchConfig: py.config,
    target: { vs: 'torch', ratio: 1.5 },
  });
}

if (wanted.includes('vgg16')) {
  let gflop = 0;
  const [[ours]] = await compare(
    [
      convkitContender('vgg16 3x3 convs convkit', () => {
        const work = ck.convLayers('vgg16', batch);
        gflop = (2 * work.macs) / 1e9;
        return work;
      }),
    ],
    1,
  );
  rows.push({
    section: 'kernel',
    model: 'vgg16 3x3 convs',
    batch,
    size: 224,
    gflop,
    convkitMs: ours,
    ortMs: null,
    torchMs: null,
    torchConfig: null,
    target: { vs: 'peak', fraction: 0.8 },
  });
}
torch?.stop();

// Measured again at the end: the machine's limit is the larger figure (a busy core lowers one).
const peakAtEnd = peakGflops === null ? null : measureFmaPeak(CACHE, threads);
if (peakAtEnd && 'gflops' in peakAtEnd && peakGflops !== null) {
  log(`[bench] FMA peak at the end: ${peakAtEnd.gflops} GFLOP/s`);
  if (Math.abs(peakAtEnd.gflops / peakGflops - 1) > 0.1)
    notes.push(
      `the FMA peak measured ${peakGflops} GFLOP/s at the start and ${peakAtEnd.gflops} at the end: the machine was not idle throughout`,
    );
  peakGflops = Math.max(peakGflops, peakAtEnd.gflops);
}

const minutes = (performance.now() - started) / 60000;
const peerLine = [
  'version' in ortLoad
    ? `ONNX Runtime ${ortLoad.version} (CPU provider, intraOpNumThreads ${threads}, graphOptimizationLevel all)`
    : null,
  'info' in torchStart
    ? `PyTorch ${torchStart.info.torch} (oneDNN ${torchStart.info.onednn ?? '?'}, BLAS ${torchStart.info.blas}, ${torchStart.info.malloc === null ? 'glibc malloc as it comes' : `malloc ${torchStart.info.malloc}`}, torch.set_num_threads(${torchStart.info.threads}); the fastest of ${torchStart.info.configs.infer.join(', ')} for inference, ${torchStart.info.configs.train.join(', ')} for training, per row)`
    : null,
]
  .filter(Boolean)
  .join('; ');
console.log(
  `\nconvkit vs ONNX Runtime vs PyTorch, float32, ${threads} threads each, ${new Date().toISOString().slice(0, 10)}`,
);
console.log(
  `machine: ${describeHost(host)}; FMA peak ${peakGflops ?? '-'} GFLOP/s (${threads} threads, the larger of a measurement at the start and at the end)`,
);
const capped = cappedNote();
if (capped !== null) console.log(`note: ${capped}`);
console.log(`${ck.describe(threads)}; ${peerLine}`);
console.log(
  `${describePolicy()}; GFLOP/s = 2 x convkit's multiply-adds (x3 for training) per second, counted as the direct sum does (Winograd does fewer, so a row may pass 100% of the peak); vs = convkit throughput / peer throughput\n`,
);
console.log(markdownTables(rows, peakGflops));
if (firstResults.length > 0) console.log(firstResultTable(firstResults));
for (const note of notes) console.log(`note: ${note}`);
console.log(`(${minutes.toFixed(1)} minutes)`);

if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  const report = {
    schema: 'convkit.bench/2',
    date: new Date().toISOString(),
    threads,
    policy,
    fmaPeakGflops: peakGflops,
    machine: host,
    convkit: ck.describe(threads),
    peers: peerLine,
    rows: jsonRows(rows, peakGflops),
    firstResults,
    notes,
  };
  writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
  log(`[bench] wrote ${args.json}`);
}

/** `--profile MODEL`: convkit's inference time per layer (top 15, with its fused group) and per op kind. */
async function printProfile(model: string): Promise<void> {
  const runs = args.quick ? 1 : 9;
  log(`[bench] profiling ${model} inference, batch ${batch}, ${threads} threads, ${runs} runs after two warm-ups...`);
  const measured = ck.profile(model, batch, runs);
  const peak = measureFmaPeak(CACHE, threads);
  if ('error' in peak) log(`[bench] FMA peak not measured: ${peak.error}`);
  const peakGflops = 'gflops' in peak ? peak.gflops : null;
  console.log(
    profileLines({ model, batch, engine: ck.describe(threads, measured.recorded), peakGflops, ...measured }).join('\n'),
  );
}
