/**
 * `convkit eval <run-dir | model --weights FILE>`: accuracy, mean loss, per-class accuracy and the
 * confusion matrix of a trained model on a data split. A run folder (or a checkpoint file) brings
 * its model, data and normalisation; plain weights are normalised with the statistics of --data's
 * training images, as `convkit train` computes them.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConvkitError } from '../core/errors.js';
import { DATA_WORDS, loadSource, loadSplit, parseDataSource } from '../data/source.js';
import { asImageShape, batchTransform, channelStats } from '../data/transforms.js';
import { Generator } from '../core/random.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { loadWeights } from '../io/load-weights.js';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint.js';
import { confusionMatrix, type TensorModule } from '../train/evaluate.js';
import { choiceOption, formatOption, intOption, pathOption, toJson, UsageError, shown, type Format } from './args.js';
import { print } from './boundary.js';
import { confusionChartSvg } from './confusion-chart.js';
import { checkOutputPath, writeFileAtomic } from './files.js';
import { buildTrainModel, TINY_CNN, type TrainConfig, trainTransforms } from './train-config.js';
import { RUN_FILES } from './train-run-folder.js';

export interface EvalCliOptions {
  weights?: string;
  data?: string;
  split: 'train' | 'test';
  batchSize: number;
  limit?: number;
  format: Format;
  /** Where the heat map of the confusion matrix goes (default: confusion-<split>.svg in a run folder). */
  out?: string;
}

export interface EvalReport {
  model: string;
  data: string;
  split: 'train' | 'test';
  samples: number;
  accuracy: number;
  loss: number;
  classes: string[];
  /** Per class: correct / samples of that class (null when the split has none). */
  classAccuracy: (number | null)[];
  /** confusion[true][predicted]: counts. */
  confusion: number[][];
  /** The heat map written, when one was. */
  chart?: string;
}

export function registerEval(program: Command, out: (text: string) => void = print): void {
  program
    .command('eval')
    .description('accuracy and confusion matrix of a trained model: a run folder, or a model with --weights')
    .argument('<run-or-model>', `a run folder of convkit train, or a zoo model (or ${TINY_CNN}) with --weights`)
    .addOption(pathOption('--weights <file>', 'a safetensors file: a checkpoint or plain weights'))
    .addOption(
      pathOption('--data <spec>', `data: ${DATA_WORDS} (default: the run's)`).argParser((v: string) => {
        try {
          return parseDataSource(v).spec;
        } catch {
          throw new UsageError(`--data: expected ${DATA_WORDS}, got ${shown(v)}`);
        }
      }),
    )
    .addOption(choiceOption('--split <split>', 'which split', ['test', 'train'] as const, 'test'))
    .addOption(intOption('--batch-size <n>', 'images per forward pass', { min: 1, max: 4096 }, 256))
    .addOption(intOption('--limit <n>', 'the first n images only', { min: 1, max: 100_000_000 }))
    .addOption(formatOption(['text', 'json']))
    .addOption(
      pathOption(
        '--out <file>',
        'the confusion matrix as a heat map (SVG); default confusion-<split>.svg in a run folder',
      ),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  convkit eval runs/resnet20_cifar-fashion-mnist\n  convkit eval resnet20_cifar --weights model.safetensors --data fashion-mnist --format json --out confusion.svg',
    )
    .action(async (target: string, opts: EvalCliOptions) => {
      const chart = confusionChartPath(target, opts);
      if (chart !== undefined) checkOutputPath(chart, '--out');
      const report = await runEval(target, opts);
      if (chart !== undefined) {
        writeFileAtomic(chart, await confusionChartSvg({ ...report, title: evalTitle(report) }));
        report.chart = chart;
      }
      out(opts.format === 'json' ? toJson(report) : evalText(report));
    });
}

/** `--out`, or confusion-<split>.svg inside a run folder; plain weights get a chart only with --out. */
export function confusionChartPath(
  target: string,
  opts: Pick<EvalCliOptions, 'weights' | 'split' | 'out'>,
): string | undefined {
  if (opts.out !== undefined) return opts.out;
  const runFolder = opts.weights === undefined && existsSync(target) && statSync(target).isDirectory();
  return runFolder ? join(target, `confusion-${opts.split}.svg`) : undefined;
}

function isCheckpoint(path: string): boolean {
  try {
    return readSafetensorsHeader(path).metadata.format === CHECKPOINT_FORMAT;
  } catch {
    return false;
  }
}

/** A trained model and the config that says how its inputs were made. */
export interface Trained {
  model: TensorModule;
  config: Omit<TrainConfig, 'transforms'>;
}

/**
 * The model of a run folder (its checkpoint), or `target` (a model name) with `opts.weights`: a
 * checkpoint, or plain weights with `opts.data` naming the data they were trained on.
 */
export function loadTrained(target: string, opts: { weights?: string; data?: string }, command = 'eval'): Trained {
  let checkpoint: string | undefined;
  if (opts.weights === undefined) {
    if (!existsSync(target) || !statSync(target).isDirectory())
      throw new UsageError(
        `${command}: ${shown(target)} is not a run folder; give a model with --weights FILE, or a folder of convkit train`,
      );
    checkpoint = join(target, RUN_FILES.checkpoint);
    if (!existsSync(checkpoint)) throw new UsageError(`${command}: ${target} holds no ${RUN_FILES.checkpoint}`);
  } else if (!existsSync(opts.weights)) {
    throw new UsageError(`--weights: ${opts.weights} does not exist`);
  } else if (isCheckpoint(opts.weights)) {
    checkpoint = opts.weights;
  }
  if (checkpoint !== undefined) {
    const ckpt = loadCheckpoint<TrainConfig>(checkpoint);
    try {
      const config = ckpt.config;
      if (opts.weights !== undefined && config.model !== target)
        throw new UsageError(`--weights: ${opts.weights} is a checkpoint of ${config.model}, not ${target}`);
      const model = buildTrainModel(config, { init: 'none' });
      model.loadStateDict(ckpt.model);
      return { model, config };
    } finally {
      ckpt.dispose();
    }
  }
  // Plain weights: the data decides the input and classes; normalise as convkit train would.
  if (opts.data === undefined) throw new UsageError(`${command}: plain weights need --data (${DATA_WORDS})`);
  const source = parseDataSource(opts.data);
  const train = loadSource(source, 'train');
  const input = asImageShape(train.sampleShape);
  const base = {
    model: target,
    data: source.spec,
    input: [...input] as [number, number, number],
    classes: [...train.classes],
  };
  let model: TensorModule;
  try {
    model = buildTrainModel(base, { init: 'none' }); // the weights are loaded next
  } catch (err) {
    if (err instanceof ConvkitError && !(err instanceof UsageError)) throw new UsageError(err.message);
    throw err;
  }
  loadWeights(model, opts.weights as string);
  const config = { ...base, normalize: channelStats(train), augment: false } as Omit<TrainConfig, 'transforms'>;
  return { model, config };
}

/** Evaluates a run folder, a checkpoint or plain weights on a split. */
export async function runEval(target: string, opts: EvalCliOptions): Promise<EvalReport> {
  const { model, config } = loadTrained(target, opts);
  const dataSpec = opts.data ?? config.data;
  const data = await loadSplit(parseDataSource(dataSpec), opts.split, { limit: opts.limit, shape: config.input });
  const shape = asImageShape(data.sampleShape);
  if (shape.join('x') !== config.input.join('x'))
    throw new UsageError(
      `--data: ${dataSpec} has ${shape.join('x')} images; the model was trained on ${config.input.join('x')}`,
    );
  const classes = data.classes.length;
  if (classes !== config.classes.length)
    throw new UsageError(`--data: ${dataSpec} has ${classes} classes; the model has ${config.classes.length}`);
  const transform = batchTransform(trainTransforms({ ...config, augment: false }).test, new Generator(0));
  const { confusion, lossSum } = await confusionMatrix(model, data, { batchSize: opts.batchSize, transform });
  const samples = data.labels.length;
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  return {
    model: config.model,
    data: dataSpec,
    split: opts.split,
    samples,
    accuracy: correct / samples,
    loss: lossSum / samples,
    classes: [...data.classes],
    classAccuracy: confusion.map((row, i) => {
      const n = row.reduce((a, b) => a + b, 0);
      return n === 0 ? null : row[i] / n;
    }),
    confusion,
  };
}

/** "tiny_cnn on idx:DIR (test, 21 images): accuracy 85.71%". */
function evalTitle(r: EvalReport): string {
  return `${r.model} on ${r.data} (${r.split}, ${r.samples} images): accuracy ${(100 * r.accuracy).toFixed(2)}%`;
}

/** The report as a person reads it: totals, then the confusion matrix with per-class accuracy. */
export function evalText(r: EvalReport): string {
  const lines = [
    `${evalTitle(r)}, loss ${r.loss.toFixed(4)}`,
    '',
    'confusion matrix (rows: true class, columns: predicted)',
  ];
  const names = r.classes.map((c, i) => `${i} ${c}`);
  const nameWidth = Math.max(...names.map((n) => n.length), 5);
  const cell = Math.max(5, ...r.confusion.flat().map((v) => String(v).length + 1));
  lines.push(`${''.padEnd(nameWidth)} ${r.classes.map((_, i) => String(i).padStart(cell)).join('')}  accuracy`);
  r.confusion.forEach((row, i) => {
    const acc = r.classAccuracy[i];
    lines.push(
      `${names[i].padEnd(nameWidth)} ${row.map((v) => String(v).padStart(cell)).join('')}  ${acc === null ? '-' : `${(100 * acc).toFixed(1)}%`}`,
    );
  });
  if (r.chart !== undefined) lines.push('', `heat map: ${r.chart}`);
  return lines.join('\n');
}
