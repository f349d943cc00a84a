/**
 * `convkit convert IN OUT` (weights between safetensors and PyTorch .pth, and out of ONNX files,
 * optionally to another dtype with --dtype) and `convkit inspect FILE` (what a weight file holds,
 * and which zoo model it fits). Formats are recognised by content, as loadWeights does; the output
 * format comes from --format or OUT's extension.
 */
import { mkdirSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { Command, Option } from 'commander';
import type { DType } from '../core/dtype.js';
import { formatShape, shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import type { WeightDType } from '../io/elements.js';
import { detectWeightsFormat, KEY_PREFIXES, type WeightsFormat } from '../io/load-weights.js';
import { onnxWeights, readOnnxGraph } from '../io/onnx-import.js';
import { openPth, type PthDType } from '../io/pth.js';
import { writePth } from '../io/pth-write.js';
import { readSafetensors, readSafetensorsHeader } from '../io/safetensors.js';
import { writeSafetensors } from '../io/safetensors-write.js';
import { buildModel, MODELS } from '../models/registry.js';
import type { ModelEntry } from '../models/entry.js';
import { choiceOption, formatOption, intOption, parsePath, toJson, UsageError, shown, type Format } from './args.js';
import { print } from './boundary.js';
import { checkOutputPath, OutputError, fsReason, trackedTemporary } from './files.js';

const WRITE_FORMATS = ['safetensors', 'pth'] as const;
type WriteFormat = (typeof WRITE_FORMATS)[number];

const EXTENSIONS: Readonly<Record<string, WriteFormat>> = {
  '.safetensors': 'safetensors',
  '.pth': 'pth',
  '.pt': 'pth',
  '.ckpt': 'pth',
};

/** --dtype's choices, as a person types them, and the stored dtype each means. */
export const DTYPE_CHOICES = ['f32', 'f16', 'bf16', 'f64'] as const;
export type DTypeChoice = (typeof DTYPE_CHOICES)[number];

export function dtypeOption(description: string): Option {
  return choiceOption('--dtype <dtype>', description, DTYPE_CHOICES);
}

export function weightDType(choice: DTypeChoice | undefined): WeightDType | undefined {
  return choice === undefined ? undefined : (choice.toUpperCase() as WeightDType);
}

// ---- reading any weight file ---------------------------------------------------------------------

export interface TensorInfo {
  name: string;
  /** As stored: safetensors' F32, BF16, ... or PyTorch's float32, bfloat16, int64, ... */
  dtype: string;
  shape: number[];
  values: number;
}

export interface WeightsIndex {
  file: string;
  format: WeightsFormat;
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  /** For .pth: where the state dict was in the saved object ([] at the top). */
  statePath?: string[];
  /** For ONNX: how often each op occurs in the graph. */
  ops?: Record<string, number>;
  /** For ONNX: the state dict the weights make (parameters and statistics; `tensors` lists every initializer). */
  weights?: TensorInfo[];
  /** For .pth: 'zip' (torch.save since 1.6) or 'legacy'. */
  layout?: 'zip' | 'legacy';
}

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The tensors' names, dtypes and shapes and the metadata, without reading any values. */
export function indexWeights(file: string): WeightsIndex {
  const format = detectWeightsFormat(file);
  if (format === 'onnx') return indexOnnx(file);
  if (format === 'pth') {
    const ckpt = openPth(file);
    return {
      file,
      format,
      tensors: ckpt.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, values: count(e.shape) })),
      metadata: ckpt.metadata,
      statePath: ckpt.statePath,
      layout: ckpt.layout,
    };
  }
  const header = readSafetensorsHeader(file);
  return {
    file,
    format,
    tensors: header.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape, values: count(e.shape) })),
    metadata: header.metadata,
  };
}

function indexOnnx(file: string): WeightsIndex {
  const graph = readOnnxGraph(file);
  const info = (name: string, dtype: string, shape: readonly number[]): TensorInfo => ({
    name,
    dtype,
    shape: [...shape],
    values: count(shape),
  });
  const ops: Record<string, number> = {};
  for (const n of graph.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const weights = onnxWeights(graph, { backend: 'meta' });
  const index: WeightsIndex = {
    file,
    format: 'onnx',
    tensors: [...graph.initializers].map(([name, v]) => info(name, v.kind === 'float' ? 'float32' : 'int64', v.dims)),
    metadata: { opset: String(graph.opset), ...(graph.producer ? { producer: graph.producer } : {}) },
    ops,
    weights: [...weights].map(([name, t]) => info(name, 'float32', t.shape)),
  };
  for (const t of weights.values()) t.dispose();
  return index;
}

/** Stored dtypes kept in float64 (no rounding through float32): doubles and wide integers. */
const WIDE = new Set<string>(['float64', 'int64', 'int32', 'F64', 'I64', 'I32', 'U32', 'U64']);

function readAll(file: string): {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  format: WeightsFormat;
} {
  const format = detectWeightsFormat(file);
  if (format === 'onnx') {
    const graph = readOnnxGraph(file);
    return { tensors: onnxWeights(graph, { backend: 'ref' }), metadata: { producer: graph.producer }, format };
  }
  const dtype = (name: string, stored: string): DType =>
    WIDE.has(stored) && !name.endsWith('num_batches_tracked') ? 'float64' : 'float32';
  if (format === 'pth') {
    const ckpt = openPth(file);
    const tensors = new Map<string, Tensor>();
    for (const e of ckpt.entries) tensors.set(e.name, ckpt.read(e.name, dtype(e.name, e.dtype as PthDType), 'ref'));
    return { tensors, metadata: ckpt.metadata, format };
  }
  const { tensors, metadata } = readSafetensors(file, { dtype, backend: 'ref' });
  return { tensors, metadata, format };
}

// ---- convert -------------------------------------------------------------------------------------

export interface ConvertOptions {
  format?: WriteFormat;
  /** Store every tensor as this dtype (default: float32, or float64 for doubles and wide integers). */
  dtype?: DTypeChoice;
}

export interface ConvertReport {
  input: string;
  output: string;
  from: WeightsFormat;
  to: WriteFormat;
  tensors: number;
  values: number;
  notes: string[];
}

/** The output format: --format, else OUT's extension. */
export function outputFormat(out: string, format?: WriteFormat): WriteFormat {
  if (format) return format;
  const ext = extname(out).toLowerCase();
  const found = EXTENSIONS[ext];
  if (found) return found;
  throw new UsageError(
    `OUT: cannot tell the format from ${shown(out)}: name it ${Object.keys(EXTENSIONS).join(', ')} or pass --format ${WRITE_FORMATS.join('|')}`,
  );
}

export function convertWeights(input: string, output: string, opts: ConvertOptions = {}): ConvertReport {
  const to = outputFormat(output, opts.format);
  const target = checkOutputPath(output, 'OUT');
  const { tensors, metadata, format: from } = readAll(input);
  const notes: string[] = [];
  if (from === 'onnx')
    notes.push('ONNX: the weights and batch-norm statistics only (graph constants left out; num_batches_tracked as 0)');
  const dtype = weightDType(opts.dtype);
  if (dtype)
    notes.push(`stored as ${dtype}${dtype === 'F16' || dtype === 'BF16' ? ' (num_batches_tracked as int64)' : ''}`);
  try {
    if (tensors.size === 0) throw new UsageError(`IN: ${input} holds no tensors`);
    try {
      mkdirSync(dirname(target), { recursive: true });
    } catch (err) {
      throw new OutputError(output, `cannot make its folder: ${fsReason(err)}`);
    }
    const tmp = trackedTemporary(target);
    try {
      if (to === 'pth') {
        writePth(target, tensors, { temporary: tmp.path, dtype });
        if (Object.keys(metadata).length > 0) {
          notes.push(
            `the metadata (${Object.keys(metadata).join(', ')}) is not kept: the .pth holds the state dict alone`,
          );
        }
        if ([...tensors.keys()].some((k) => k.endsWith('num_batches_tracked'))) {
          notes.push('num_batches_tracked is written as int64, as PyTorch has it');
        }
      } else {
        writeSafetensors(target, tensors, { ...metadata }, { temporary: tmp.path, dtype });
        if (Object.keys(metadata).length > 0) notes.push(`metadata kept: ${Object.keys(metadata).join(', ')}`);
      }
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined) throw new OutputError(output, `cannot write: ${fsReason(err)}`);
      throw err;
    } finally {
      tmp.release();
    }
    let values = 0;
    for (const t of tensors.values()) values += t.size;
    return { input, output, from, to, tensors: tensors.size, values, notes };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

// ---- inspect -------------------------------------------------------------------------------------

export interface ModelFit {
  model: string;
  /** The prefix stripped from the file's keys ('' when none). */
  prefix: string;
  /** Keys whose shapes agree. */
  matched: number;
  missing: string[];
  unexpected: string[];
  /** `key: file [..] vs model [..]`. */
  mismatched: string[];
  /** matched / max(file keys, model keys): 1 when the file fits exactly. */
  score: number;
}

export interface InspectReport extends WeightsIndex {
  /** Every value of every tensor. */
  values: number;
  /** Values of the tensors that are not batch-norm statistics (running_mean, running_var, num_batches_tracked). */
  parameters: number;
  /** Zoo models, best fit first. */
  fits: ModelFit[];
}

const BUFFER_SUFFIXES = ['running_mean', 'running_var', 'num_batches_tracked'];

/** How well `tensors` fit each model's state dict (built on the meta backend: no memory, no random draws). */
export function fitModels(tensors: readonly TensorInfo[], entries: readonly ModelEntry[]): ModelFit[] {
  const fits: ModelFit[] = [];
  for (const entry of entries) {
    const shapes = new Map<string, readonly number[]>();
    for (const [k, t] of buildModel(entry.name, { backend: 'meta' }).stateDict()) shapes.set(k, t.shape);
    let best: ModelFit | undefined;
    for (const prefix of ['', ...KEY_PREFIXES]) {
      const given = new Map<string, readonly number[]>();
      for (const t of tensors) {
        const k = prefix !== '' && t.name.startsWith(prefix) ? t.name.slice(prefix.length) : t.name;
        given.set(k, t.shape);
      }
      const missing = [...shapes.keys()].filter((k) => !given.has(k));
      const unexpected = [...given.keys()].filter((k) => !shapes.has(k));
      const mismatched: string[] = [];
      let matched = 0;
      for (const [k, shape] of given) {
        const want = shapes.get(k);
        if (!want) continue;
        if (shapesEqual(shape, want)) matched++;
        else mismatched.push(`${k}: file ${formatShape(shape)} vs model ${formatShape(want)}`);
      }
      const score = matched / Math.max(1, given.size, shapes.size);
      if (!best || score > best.score)
        best = { model: entry.name, prefix, matched, missing, unexpected, mismatched, score };
    }
    if (best) fits.push(best);
  }
  return fits.sort((a, b) => b.score - a.score || a.model.localeCompare(b.model));
}

export function inspectWeights(file: string, entries: readonly ModelEntry[] = MODELS): InspectReport {
  const index = indexWeights(file);
  let values = 0;
  let parameters = 0;
  for (const t of index.tensors) values += t.values;
  for (const t of index.weights ?? index.tensors)
    if (!BUFFER_SUFFIXES.some((s) => t.name.endsWith(s))) parameters += t.values;
  return { ...index, values, parameters, fits: fitModels(index.weights ?? index.tensors, entries) };
}

const few = (items: readonly string[], n = 3): string =>
  items.length === 0
    ? ''
    : ` (${items.slice(0, n).join(', ')}${items.length > n ? `, ... ${items.length - n} more` : ''})`;

export function inspectText(r: InspectReport, top: number): string {
  const lines: string[] = [];
  const where =
    r.statePath && r.statePath.length > 0 ? `, state dict under ${r.statePath.map((k) => `['${k}']`).join('')}` : '';
  lines.push(`${r.file}: ${r.format}${r.layout === 'legacy' ? ' (the legacy format)' : ''}${where}`);
  lines.push(
    `${r.tensors.length} tensors, ${r.values.toLocaleString('en-US')} values, ${r.parameters.toLocaleString('en-US')} parameters (without batch-norm statistics)`,
  );
  if (r.ops)
    lines.push(
      `ops: ${Object.entries(r.ops)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([op, n]) => `${op} ${n}`)
        .join(', ')}`,
    );
  const meta = Object.entries(r.metadata);
  if (meta.length > 0)
    lines.push(`metadata: ${meta.map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 60)}...` : v}`).join(', ')}`);
  lines.push('');
  const nameWidth = Math.min(60, Math.max(4, ...r.tensors.map((t) => t.name.length)));
  const dtypeWidth = Math.max(5, ...r.tensors.map((t) => t.dtype.length));
  lines.push(`${'name'.padEnd(nameWidth)}  ${'dtype'.padEnd(dtypeWidth)}  shape`);
  for (const t of r.tensors)
    lines.push(`${t.name.padEnd(nameWidth)}  ${t.dtype.padEnd(dtypeWidth)}  ${formatShape(t.shape)}`);
  lines.push('');
  const exact = r.fits.filter((f) => f.score === 1 && f.missing.length === 0 && f.unexpected.length === 0);
  if (r.fits.every((f) => f.matched === 0)) {
    lines.push('fits no zoo model: no key matches any model with its shape');
    return lines.join('\n');
  }
  lines.push(
    exact.length > 0
      ? `fits: ${exact.map((f) => f.model + (f.prefix ? ` (after stripping '${f.prefix}')` : '')).join(', ')}`
      : 'fits no zoo model exactly; the closest:',
  );
  for (const f of r.fits.slice(0, top)) {
    const parts = [
      `${f.missing.length} missing${few(f.missing)}`,
      `${f.unexpected.length} unexpected${few(f.unexpected)}`,
      `${f.mismatched.length} shape-mismatched${few(f.mismatched)}`,
    ];
    lines.push(
      `  ${f.model.padEnd(22)} ${(100 * f.score).toFixed(1).padStart(5)}% of keys match${f.prefix ? ` (prefix '${f.prefix}' stripped)` : ''}; ${parts.join('; ')}`,
    );
  }
  return lines.join('\n');
}

// ---- registration --------------------------------------------------------------------------------

export function registerWeightsCommands(program: Command, out: (text: string) => void = print): void {
  program
    .command('convert')
    .description(
      'convert weights between safetensors and PyTorch .pth, or out of an ONNX model (the input format is recognised by content)',
    )
    .argument('<in>', 'a .safetensors, .pth/.pt or .onnx file', (v: string) => parsePath('IN', v))
    .argument('<out>', 'the file to write; its extension picks the format unless --format is given', (v: string) =>
      parsePath('OUT', v),
    )
    .addOption(choiceOption('--format <format>', 'format of OUT', WRITE_FORMATS))
    .addOption(
      dtypeOption('store every tensor as this dtype, rounded as PyTorch rounds (default: float32, float64 kept)'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  convkit convert resnet18.pth resnet18.safetensors\n  convkit convert model.safetensors model.pt\n  convkit convert resnet50.pth resnet50-half.safetensors --dtype f16\n  convkit convert r20.onnx r20.safetensors',
    )
    .action((input: string, output: string, opts: ConvertOptions) => {
      const r = convertWeights(input, output, opts);
      const notes = r.notes.length > 0 ? `; ${r.notes.join('; ')}` : '';
      out(
        `wrote ${r.output}: ${r.tensors} tensors, ${r.values.toLocaleString('en-US')} values, ${r.from} -> ${r.to}${notes}`,
      );
    });
  program
    .command('inspect')
    .description(
      "the tensors, dtypes, shapes and metadata of a weight file (an ONNX file's ops too), and which zoo model it fits",
    )
    .argument('<file>', 'a .safetensors, .pth/.pt or .onnx file', (v: string) => parsePath('FILE', v))
    .addOption(intOption('--top <n>', 'zoo models listed, best fit first', { min: 1, max: 100 }, 3))
    .addOption(formatOption(['text', 'json']))
    .action((file: string, opts: { top: number; format: Format }) => {
      const r = inspectWeights(file);
      out(opts.format === 'json' ? toJson({ ...r, fits: r.fits.slice(0, opts.top) }) : inspectText(r, opts.top));
    });
}
