/**
 * `convkit export <model | run-dir> [--weights FILE] --format onnx|safetensors|pth [--dtype D] --out FILE`:
 * a model for other tools. ONNX (io/onnx-export.ts) is the eval-mode graph with its weights, input
 * `input` [batch, C, H, W] and output `logits`; safetensors and .pth are the state dict under
 * PyTorch's names, in float32 or the --dtype asked for (f16, bf16, f64).
 *
 * Where the model comes from, as in `convkit eval`: a run folder of `convkit train` (its
 * checkpoint and input shape), a zoo model with --weights (a checkpoint, or plain weights: with
 * --data they take that data's input and classes, without it the zoo's default ones), or a zoo
 * model alone, with seeded random weights (for benchmarks and for trying a graph out).
 */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { ConvkitError } from '../core/errors.js';
import { manualSeed } from '../core/random.js';
import { loadWeights } from '../io/load-weights.js';
import { exportOnnx } from '../io/onnx-export.js';
import { encodePth } from '../io/pth-write.js';
import { encodeSafetensors } from '../io/safetensors-write.js';
import type { TensorModule } from '../train/evaluate.js';
import { choiceOption, inputOption, intOption, pathOption, toJson, UsageError } from './args.js';
import { print } from './boundary.js';
import { loadTrained } from './eval.js';
import { checkOutputPath, writeFileAtomic } from './files.js';
import { type DTypeChoice, dtypeOption, weightDType } from './weights-commands.js';
import type { Zoo } from './zoo.js';

/** The formats `convkit export` writes; a new one adds its name here and a case in `encodeExport`. */
export const EXPORT_FORMATS = ['onnx', 'safetensors', 'pth'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportCliOptions {
  weights?: string;
  data?: string;
  format: ExportFormat;
  out: string;
  input?: [number, number, number];
  opset: number;
  seed: number;
  dtype?: DTypeChoice;
  json?: boolean;
}

export interface ExportReport {
  model: string;
  format: ExportFormat;
  out: string;
  bytes: number;
  input: [number, number, number];
  weights: string;
  /** The stored dtype of the weights (safetensors and pth). */
  dtype?: string;
}

export function registerExport(program: Command, zoo: Zoo, out: (text: string) => void = print): void {
  program
    .command('export')
    .description('write a model as ONNX (graph and weights), safetensors or PyTorch .pth (weights)')
    .argument('<run-or-model>', 'a run folder of convkit train, or a zoo model (with --weights, or random weights)')
    .addOption(pathOption('--weights <file>', 'a safetensors file: a checkpoint or plain weights'))
    .addOption(pathOption('--data <spec>', 'with plain weights: the data they were trained on (its input and classes)'))
    .addOption(choiceOption('--format <format>', 'what to write', EXPORT_FORMATS).makeOptionMandatory())
    .addOption(pathOption('--out <file>', 'the file to write (atomically)').makeOptionMandatory())
    .addOption(inputOption('--input <CxHxW>', "the input the ONNX graph takes (default: the run's or the model's)"))
    .addOption(intOption('--opset <n>', 'ONNX opset', { min: 11, max: 21 }, 13))
    .addOption(dtypeOption('safetensors and pth: the dtype of the weights, rounded as PyTorch rounds (default f32)'))
    .addOption(intOption('--seed <n>', 'seed of the random weights when none are given', { min: 0, max: 2 ** 31 }, 0))
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  convkit export runs/resnet20_cifar-cifar10 --format onnx --out r20.onnx\n  convkit export resnet50 --weights resnet50.safetensors --format onnx --out resnet50.onnx --input 3x224x224\n  convkit export googlenet --format onnx --out googlenet.onnx   (random weights)\n  convkit export resnet18 --weights r18.safetensors --format pth --dtype bf16 --out r18-bf16.pth',
    )
    .action((target: string, opts: ExportCliOptions) => {
      const report = runExport(target, opts, zoo);
      out(opts.json ? toJson(report) : exportText(report));
    });
}

interface Loaded {
  model: TensorModule;
  input: [number, number, number];
  weights: string;
}

function load(target: string, opts: ExportCliOptions, zoo: Zoo): Loaded {
  const isFolder = existsSync(target) && statSync(target).isDirectory();
  if (isFolder || opts.data !== undefined) {
    const { model, config } = loadTrained(target, opts, 'export');
    return { model, input: config.input, weights: opts.weights ?? target };
  }
  const entry = zoo.get(target);
  const input = opts.input ?? [...entry.input];
  manualSeed(opts.seed);
  let model: TensorModule;
  try {
    // Random weights (seeded) only when there are no weights to load into the model.
    model = entry.build({ inChannels: input[0], init: opts.weights === undefined ? 'random' : 'none' });
  } catch (err) {
    if (err instanceof ConvkitError && !(err instanceof UsageError)) throw new UsageError(err.message);
    throw err;
  }
  if (opts.weights === undefined) return { model, input, weights: `random (seed ${opts.seed})` };
  if (!existsSync(opts.weights)) throw new UsageError(`--weights: ${opts.weights} does not exist`);
  try {
    // A checkpoint goes through loadTrained (it knows the model's classes); plain weights load here.
    const trained = loadTrained(target, opts, 'export');
    model.dispose();
    return { model: trained.model, input: trained.config.input, weights: opts.weights };
  } catch (err) {
    if (!(err instanceof UsageError) || !/plain weights need --data/.test(err.message)) throw err;
  }
  loadWeights(model, opts.weights);
  return { model, input, weights: opts.weights };
}

function onnxDType(dtype: string | undefined): UsageError {
  return new UsageError(`--dtype ${dtype}: ONNX export writes float32; --dtype is for safetensors and pth`);
}

/** The bytes of `model` in `format`. */
export function encodeExport(
  model: TensorModule,
  format: ExportFormat,
  opts: { input: [number, number, number]; opset: number; name: string; dtype?: DTypeChoice },
): Uint8Array {
  const dtype = weightDType(opts.dtype);
  switch (format) {
    case 'onnx':
      if (dtype) throw onnxDType(opts.dtype);
      return exportOnnx(model, { input: opts.input, opset: opts.opset, name: opts.name });
    case 'safetensors':
      return encodeSafetensors(model.stateDict(), { format: 'pt', model: opts.name }, { dtype });
    case 'pth':
      return encodePth(model.stateDict(), { dtype });
  }
}

export function runExport(target: string, opts: ExportCliOptions, zoo: Zoo): ExportReport {
  const out = checkOutputPath(opts.out, '--out');
  // Refused before the model is built, which can take seconds.
  if (opts.format === 'onnx' && opts.dtype !== undefined) throw onnxDType(opts.dtype);
  const { model, input, weights } = load(target, opts, zoo);
  const input2 = opts.input ?? input;
  model.eval();
  let bytes: Uint8Array;
  try {
    bytes = encodeExport(model, opts.format, { input: input2, opset: opts.opset, name: target, dtype: opts.dtype });
  } catch (err) {
    // A shape that does not fit the model (an input too small for its pools) is the caller's mistake.
    if (err instanceof ConvkitError && err.name === 'ShapeError')
      throw new UsageError(`--input ${input2.join('x')}: ${err.message}`);
    throw err;
  } finally {
    model.dispose();
  }
  writeFileAtomic(out, bytes);
  const report: ExportReport = {
    model: target,
    format: opts.format,
    out: opts.out,
    bytes: bytes.length,
    input: input2,
    weights,
  };
  if (opts.format !== 'onnx') report.dtype = weightDType(opts.dtype) ?? 'F32';
  return report;
}

export function exportText(r: ExportReport): string {
  const mb = (r.bytes / 1e6).toFixed(1);
  const what =
    r.format === 'onnx' ? `input ${r.input.join('x')}, weights ${r.weights}` : `weights ${r.weights} as ${r.dtype}`;
  return `wrote ${r.out} (${r.format}, ${mb} MB): ${r.model}, ${what}`;
}
