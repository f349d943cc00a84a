/**
 * `npm run check:interop`: weights move between PyTorch and convkit, both ways, for every
 * torchvision-layout model of the zoo (docs/formats.md#interoperability-check).
 *
 * Per model: scripts/golden/interop.py builds torchvision's model with seeded random weights
 * (batch norm calibrated on random batches) and writes it as torch.save .pth, safetensors and
 * torch.onnx.export ONNX, with its logits on a random input. convkit loads the .pth and the
 * safetensors (ck.loadWeights, strict) into buildModel's model and must give those logits;
 * convkit's importOnnx and ONNX Runtime run the .onnx and must too. Then convkit changes the
 * weights (a train-mode forward pass moves the batch-norm statistics and num_batches_tracked;
 * each parameter is scaled at random), writes its own .pth and safetensors, and PyTorch loads them
 * (torch.load(weights_only=True), load_state_dict(strict=True)) and must give convkit's new
 * logits. Every comparison is a row of the table; the exit status is 1 when one fails.
 *
 *   npm run check:interop [-- --models resnet18,vgg11] [--size 64] [--keep DIR]
 *
 * Files go to a temporary folder, removed model by model (VGG's are half a gigabyte each), or to
 * --keep DIR, kept. test/io/interop.test.ts runs the same functions on three models.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ck from '../src/index.js';
import { buildWithoutInit } from '../test/helpers/formula-weights.js';
import { PYTHON } from './bench/peers.js';

const SCRIPT = fileURLToPath(new URL('./golden/interop.py', import.meta.url));
/**
 * Per logit: |convkit - reference| <= ATOL_OF_MAX * max|reference| + RTOL * |reference|, the bound
 * of test/models/zoo-logits.test.ts: both sides compute in float32 and add in different orders.
 */
export const ATOL_OF_MAX = 1e-4;
export const RTOL = 1e-4;
const UPDATE_SEED = 11;

/** The zoo models with torchvision's layout, which torchvision itself can build. */
export const TORCHVISION_MODELS: readonly string[] = ck.MODELS.filter((e) => e.layout === 'torchvision').map(
  (e) => e.name,
);

export interface InteropRow {
  model: string;
  /** The file and who wrote it, e.g. `resnet18.pth (torch.save)`. */
  file: string;
  /** Who read it and computed the logits compared. */
  reader: string;
  maxAbsDiff: number;
  /** max |reference logit|, the scale of the tolerance. */
  scale: number;
  pass: boolean;
  /** What failed, when it did not get as far as comparing. */
  error?: string;
}

interface Recorded {
  shape: number[];
  values: number[];
}

interface TorchRecord {
  model: string;
  torchvision: string;
  input: { shape: number[]; file: string };
  output: Recorded;
}

/** A model's input, read from the float32 file interop.py wrote. */
interface Input {
  shape: number[];
  values: Float32Array;
}

/** Why PyTorch cannot take part here, or false when /usr/bin/python3 imports torch and torchvision. */
export function torchSkipReason(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf-8' });
  if (r.status === 0) return false;
  const why = r.error?.message ?? r.stderr.trim().split('\n').pop() ?? 'unknown reason';
  return `${PYTHON} cannot import torch and torchvision (${why}); install Debian's python3-torch and python3-torchvision`;
}

function runPython(args: string[]): string {
  const r = spawnSync(PYTHON, [SCRIPT, ...args], {
    encoding: 'utf-8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`${PYTHON} ${SCRIPT} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
  return r.stdout;
}

/** PyTorch's files of `models` in `dir`: MODEL.pth, .safetensors, .onnx and .json (see interop.py). */
export function writeTorchFiles(dir: string, models: readonly string[], size = 64): void {
  runPython(['write', '--out', dir, '--size', String(size), ...models]);
}

/** Compares logits with the tolerance above. */
export function compareLogits(
  model: string,
  file: string,
  reader: string,
  actual: ArrayLike<number>,
  expected: readonly number[],
): InteropRow {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let maxAbsDiff = actual.length === expected.length ? 0 : Number.POSITIVE_INFINITY;
  let pass = actual.length === expected.length;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= ATOL_OF_MAX * scale + RTOL * Math.abs(expected[i]))) pass = false;
    maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff);
  }
  return { model, file, reader, maxAbsDiff, scale, pass };
}

function failedRow(model: string, file: string, reader: string, err: unknown): InteropRow {
  const error = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return { model, file, reader, maxAbsDiff: Number.NaN, scale: Number.NaN, pass: false, error };
}

function readRecord(dir: string, model: string): { record: TorchRecord; input: Input } {
  const record = JSON.parse(readFileSync(join(dir, `${model}.json`), 'utf-8')) as TorchRecord;
  const bytes = readFileSync(join(dir, record.input.file));
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { record, input: { shape: record.input.shape, values } };
}

function logitsOf(model: ck.nn.TensorModule, input: Input): Float32Array {
  const x = ck.fromArray(input.values, input.shape);
  const y = ck.noGrad(() => model.eval().call(x));
  const out = y.toArray() as Float32Array;
  x.dispose();
  y.dispose();
  return out;
}

/** buildModel's model without its random initialisation (every value is loaded right after). */
function buildEmpty(name: string): ck.nn.TensorModule {
  return buildWithoutInit(ck.getBackend().name, () => ck.buildModel(name));
}

async function ortLogits(path: string, input: Input): Promise<Float32Array> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 2,
    extra: { session: { force_spinning_stop: '1' } },
  });
  try {
    const x = new ort.Tensor('float32', input.values, input.shape);
    const { logits } = await session.run({ input: x });
    return logits.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * convkit's own weights, so that what PyTorch reads back is not the file it wrote: one train-mode
 * forward pass (batch-norm running statistics and num_batches_tracked move) and every parameter
 * scaled by a seeded random factor in [0.9, 1.1]. (Not an optimiser step: on random weights and a
 * batch of 2, batch norm over 1x1 maps makes one step's gradients explode.)
 */
function convkitUpdate(model: ck.nn.TensorModule, input: Input): void {
  ck.manualSeed(UPDATE_SEED);
  ck.noGrad(() =>
    ck.scope(() => {
      model.train().call(ck.fromArray(input.values, input.shape));
      for (const p of model.parameters()) p.assign(ck.mul(p, ck.uniform(p.shape, 0.9, 1.1)));
    }),
  );
  model.eval();
}

/**
 * convkit's side for one model whose PyTorch files are in `dir`: rows for MODEL.pth and
 * MODEL.safetensors loaded by convkit and MODEL.onnx run by convkit (importOnnx) and ONNX Runtime,
 * then convkit's update and its files MODEL.convkit.pth and MODEL.convkit.safetensors. Returns the rows and the logits of
 * convkit's updated model (null when it got no further than loading).
 */
export async function checkInConvkit(
  dir: string,
  name: string,
): Promise<{ rows: InteropRow[]; updated: Float32Array | null; torch: readonly number[] }> {
  const { record, input } = readRecord(dir, name);
  const rows: InteropRow[] = [];
  let kept: ck.nn.TensorModule | null = null;
  for (const [suffix, writer] of [
    ['pth', 'torch.save'],
    ['safetensors', 'interop.py'],
  ] as const) {
    const file = `${name}.${suffix} (${writer})`;
    const model = buildEmpty(name);
    try {
      ck.loadWeights(model, join(dir, `${name}.${suffix}`));
      rows.push(compareLogits(name, file, 'convkit', logitsOf(model, input), record.output.values));
      if (kept === null) kept = model;
      else model.dispose();
    } catch (err) {
      rows.push(failedRow(name, file, 'convkit', err));
      model.dispose();
    }
  }
  const onnxFile = `${name}.onnx (torch.onnx.export)`;
  try {
    const graph = ck.importOnnx(join(dir, `${name}.onnx`));
    rows.push(compareLogits(name, onnxFile, 'convkit (importOnnx)', logitsOf(graph, input), record.output.values));
    graph.dispose();
  } catch (err) {
    rows.push(failedRow(name, onnxFile, 'convkit (importOnnx)', err));
  }
  try {
    const y = await ortLogits(join(dir, `${name}.onnx`), input);
    rows.push(compareLogits(name, onnxFile, 'ONNX Runtime', y, record.output.values));
  } catch (err) {
    rows.push(failedRow(name, onnxFile, 'ONNX Runtime', err));
  }
  if (kept === null) return { rows, updated: null, torch: record.output.values };
  convkitUpdate(kept, input);
  const updated = logitsOf(kept, input);
  ck.writePth(join(dir, `${name}.convkit.pth`), kept.stateDict());
  ck.writeSafetensors(join(dir, `${name}.convkit.safetensors`), kept.stateDict());
  kept.dispose();
  return { rows, updated, torch: record.output.values };
}

/** PyTorch's side: MODEL.convkit.pth and .safetensors loaded strictly into torchvision's model, against convkit's logits. */
export function checkInTorch(dir: string, updated: ReadonlyMap<string, Float32Array>): InteropRow[] {
  const models = [...updated.keys()];
  if (models.length === 0) return [];
  const seen = new Map<string, InteropRow>();
  let error: unknown = null;
  try {
    for (const line of runPython(['check', '--out', dir, ...models]).split('\n')) {
      if (line.trim() === '') continue;
      const r = JSON.parse(line) as { model: string; file: string; output: Recorded };
      const file = `${r.file} (convkit)`;
      const ours = updated.get(r.model) ?? new Float32Array(0);
      seen.set(r.file, compareLogits(r.model, file, 'PyTorch', r.output.values, [...ours]));
    }
  } catch (err) {
    error = err;
  }
  const rows: InteropRow[] = [];
  for (const m of models)
    for (const suffix of ['convkit.pth', 'convkit.safetensors'])
      rows.push(
        seen.get(`${m}.${suffix}`) ?? failedRow(m, `${m}.${suffix} (convkit)`, 'PyTorch', error ?? 'no output'),
      );
  return rows;
}

/** The table, as markdown. */
export function formatTable(rows: readonly InteropRow[]): string {
  const lines = [
    '| model | file (written by) | read by | max abs diff | of max abs logit | result |',
    '|---|---|---|---:|---:|---|',
  ];
  for (const r of rows) {
    const diff = Number.isNaN(r.maxAbsDiff) ? '-' : r.maxAbsDiff.toExponential(2);
    const rel = Number.isNaN(r.maxAbsDiff) || r.scale === 0 ? '-' : (r.maxAbsDiff / r.scale).toExponential(2);
    lines.push(
      `| ${r.model} | ${r.file} | ${r.reader} | ${diff} | ${rel} | ${r.pass ? 'pass' : `FAIL${r.error ? `: ${r.error}` : ''}`} |`,
    );
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { models: string[]; size: number; keep: string | null } {
  let models = [...TORCHVISION_MODELS];
  let size = 64;
  let keep: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--models' && value) models = value.split(',');
    else if (flag === '--size' && value && /^\d+$/.test(value)) size = Number(value);
    else if (flag === '--keep' && value) keep = value;
    else throw new Error(`check:interop: unknown argument ${flag} (--models A,B  --size N  --keep DIR)`);
    i++;
  }
  const unknown = models.filter((m) => !TORCHVISION_MODELS.includes(m));
  if (unknown.length > 0)
    throw new Error(
      `check:interop: ${unknown.join(', ')}: not a torchvision-layout model (${TORCHVISION_MODELS.join(', ')})`,
    );
  return { models, size, keep };
}

async function main(): Promise<number> {
  const { models, size, keep } = parseArgs(process.argv.slice(2));
  const skip = torchSkipReason();
  if (skip !== false) {
    process.stderr.write(`check:interop: ${skip}\n`);
    return 1;
  }
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'convkit-interop-'));
  mkdirSync(dir, { recursive: true });
  const rows: InteropRow[] = [];
  const started = Date.now();
  try {
    for (const name of models) {
      try {
        writeTorchFiles(dir, [name], size);
      } catch (err) {
        rows.push(failedRow(name, `${name}.*`, 'interop.py', err));
        continue;
      }
      const { rows: loaded, updated } = await checkInConvkit(dir, name);
      const back = updated ? checkInTorch(dir, new Map([[name, updated]])) : [];
      for (const r of [...loaded, ...back]) {
        rows.push(r);
        const diff = Number.isNaN(r.maxAbsDiff) ? '-' : r.maxAbsDiff.toExponential(2);
        process.stderr.write(
          `  ${r.pass ? 'pass' : 'FAIL'} ${r.file} read by ${r.reader}: max abs diff ${diff}${r.error ? `: ${r.error}` : ''}\n`,
        );
      }
      if (!keep)
        for (const f of ['pth', 'safetensors', 'onnx', 'json', 'input.f32', 'convkit.pth', 'convkit.safetensors'])
          rmSync(join(dir, `${name}.${f}`), { force: true });
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
  const failed = rows.filter((r) => !r.pass).length;
  console.log(formatTable(rows));
  console.log(
    `\n${rows.length - failed} of ${rows.length} comparisons within ${ATOL_OF_MAX} * max|logit| + ${RTOL} * |logit| ` +
      `(${models.length} models, ${((Date.now() - started) / 1000).toFixed(0)} s; backend ${ck.getBackend().name})`,
  );
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`check:interop: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
