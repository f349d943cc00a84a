/**
 * `convkit train <model> --data ...`: trains a zoo model (or the demo's tiny CNN) on a real data
 * set, with a progress bar per epoch, evaluation on the test split each epoch, metrics.jsonl,
 * config.json, training curves and an atomic checkpoint each epoch; Ctrl-C finishes the step, saves
 * and says how to resume; `--resume DIR` continues a run exactly (bit for bit on the reference
 * backend). docs/training.md describes the run folder and the checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { getBackend, setThreads, withBackend } from '../backend/registry.js';
import { ConvkitError } from '../core/errors.js';
import { defaultGenerator, Generator, manualSeed } from '../core/random.js';
import type { ArrayDataset } from '../data/dataset.js';
import { loadSource, parseDataSource, type DataSource, DATA_WORDS } from '../data/source.js';
import {
  asImageShape,
  batchTransform,
  channelStats,
  compose,
  horizontalFlip,
  normalize,
  randomCrop,
  type Transform,
} from '../data/transforms.js';
import { getModel } from '../models/registry.js';
import { tinyCnn } from '../models/tiny-cnn.js';
import { Adam, AdamW, CosineAnnealingLR, MultiStepLR, SequentialLR, SGD, StepLR } from '../train/index.js';
import { LinearLR } from '../train/schedules.js';
import type { LRScheduler } from '../train/lr-scheduler.js';
import type { Optimizer } from '../train/optimizer.js';
import {
  type CheckpointContents,
  checkpointConfig,
  loadCheckpoint,
  saveCheckpoint,
  type TrainingProgress,
} from '../train/checkpoint.js';
import { evaluate, trainEpoch, type EpochResult } from '../train/loop.js';
import { refusesInput, type TensorModule } from '../train/evaluate.js';
import { choiceOption, intOption, numberOption, pathOption, UsageError, shown } from './args.js';
import { print } from './boundary.js';
import { checkOutputPath, onInterrupt, OutputError, trackedTemporary, writeFileAtomic } from './files.js';
import { progressBar } from './progress.js';
import { trainingChartSvg } from './training-chart.js';
import { Option } from 'commander';

export const OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;
export const SCHEDULES = ['cosine', 'step', 'multistep', 'constant'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];
export type ScheduleName = (typeof SCHEDULES)[number];

/** The demo's small CNN, trainable here for quick runs and tests (not a zoo model). */
export const TINY_CNN = 'tiny_cnn';

export const TRAIN_LIMITS = {
  epochs: { min: 1, max: 10_000 },
  batchSize: { min: 1, max: 4096 },
  lr: { min: 0, max: 10, aboveMin: true },
  momentum: { min: 0, max: 0.999 },
  weightDecay: { min: 0, max: 1 },
  warmup: { min: 0, max: 1000 },
  labelSmoothing: { min: 0, max: 0.999 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  threads: { min: 1, max: 1024 },
  limit: { min: 1, max: 100_000_000 },
} as const;

/** Defaults that depend on the optimiser (when --lr or --weight-decay is not given). */
export const OPTIMIZER_DEFAULTS: Record<OptimizerName, { lr: number; weightDecay: number }> = {
  sgd: { lr: 0.1, weightDecay: 5e-4 },
  adam: { lr: 1e-3, weightDecay: 0 },
  adamw: { lr: 1e-3, weightDecay: 0.05 },
};

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.safetensors',
  chart: 'curves.svg',
} as const;

/** The whole configuration of a run: config.json and every checkpoint carry it. */
export interface TrainConfig {
  model: string;
  data: string;
  /** The images' shape as the data gives it, CxHxW, and the class names. */
  input: [number, number, number];
  classes: string[];
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: ScheduleName;
  warmup: number;
  labelSmoothing: number;
  seed: number;
  limit: number | null;
  testLimit: number | null;
  augment: boolean;
  /** Per-channel statistics of the training images, used by the normalisation. */
  normalize: { mean: number[]; std: number[] };
  /** The transforms in words (for people; the fields above rebuild them). */
  transforms: { train: string; test: string };
  backend: string;
}

/** What the command line gives (commander's parsed options). */
export interface TrainCliOptions {
  data: string;
  epochs: number;
  batchSize: number;
  lr?: number;
  optimizer: OptimizerName;
  momentum: number;
  weightDecay?: number;
  schedule: ScheduleName;
  warmup: number;
  labelSmoothing: number;
  seed: number;
  threads?: number;
  limit?: number;
  testLimit?: number;
  augment: boolean;
  out?: string;
  resume?: string;
}

/** Hooks for tests: where lines go, and a stop request after a given number of steps. */
export interface TrainHooks {
  out?: (line: string) => void;
  /** Asked after every step with the step count; true stops there as Ctrl-C does. */
  stopAfter?: (step: number) => boolean;
  /** Options given on the command line (the rest are defaults); --resume refuses the others. */
  explicit?: readonly string[];
}

export interface TrainResult {
  dir: string;
  config: TrainConfig;
  metrics: MetricsRow[];
  /** True when the run stopped early (Ctrl-C) and saved a checkpoint to resume. */
  interrupted: boolean;
}

export interface MetricsRow {
  epoch: number;
  step: number;
  lr: number;
  train_loss: number;
  train_acc: number;
  test_loss: number;
  test_acc: number;
  images_per_s: number;
  seconds: number;
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export function registerTrain(program: Command, out: (text: string) => void = print): void {
  const l = TRAIN_LIMITS;
  program
    .command('train')
    .description('train a model on Fashion-MNIST, IDX or CIFAR data, with checkpoints and resume')
    .argument('[model]', `a zoo model (see convkit list) or ${TINY_CNN}; not with --resume`)
    .addOption(
      pathOption('--data <spec>', `training and test data: ${DATA_WORDS}`, 'fashion-mnist').argParser((v: string) => {
        try {
          return parseDataSource(v).spec;
        } catch {
          throw new UsageError(`--data: expected ${DATA_WORDS}, got ${shown(v)}`);
        }
      }),
    )
    .addOption(intOption('--epochs <n>', 'epochs', l.epochs, 30))
    .addOption(intOption('--batch-size <n>', 'images per step', l.batchSize, 128))
    .addOption(choiceOption('--optimizer <name>', 'optimiser', OPTIMIZERS, 'sgd'))
    .addOption(numberOption('--lr <x>', 'initial learning rate (default 0.1 for sgd, 0.001 for adam and adamw)', l.lr))
    .addOption(numberOption('--momentum <x>', 'SGD momentum', l.momentum, 0.9))
    .addOption(
      numberOption(
        '--weight-decay <x>',
        'weight decay (default 5e-4 for sgd, 0 for adam, 0.05 for adamw)',
        l.weightDecay,
      ),
    )
    .addOption(
      choiceOption(
        '--schedule <name>',
        'learning-rate schedule per epoch: cosine to 0, step (x0.1 every third of the run), multistep (x0.1 at 50% and 75%), constant',
        SCHEDULES,
        'cosine',
      ),
    )
    .addOption(intOption('--warmup <epochs>', 'epochs of linear warm-up from lr/3 before the schedule', l.warmup, 0))
    .addOption(numberOption('--label-smoothing <x>', 'label smoothing of the loss', l.labelSmoothing, 0))
    .addOption(intOption('--seed <n>', 'seed of initialisation, data order and augmentation', l.seed, 0))
    .addOption(intOption('--threads <n>', 'threads of the native backend (default: all cores)', l.threads))
    .addOption(intOption('--limit <n>', 'train on the first n training images only (quick runs)', l.limit))
    .addOption(intOption('--test-limit <n>', 'evaluate on the first n test images only', l.limit))
    .addOption(new Option('--no-augment', 'no random crop and flip (normalisation stays)'))
    .addOption(pathOption('--out <dir>', 'run folder (default runs/<model>-<data>); must not hold a run already'))
    .addOption(pathOption('--resume <dir>', 'continue the run in this folder from its checkpoint'))
    .addHelpText(
      'after',
      `
Defaults: SGD, lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule, batch 128, 30 epochs,
random crop (padding 1/8 of the side) and horizontal flip, images normalised by the training
set's per-channel mean and std. The stem takes the data's channels (1 for Fashion-MNIST).

The run folder gets config.json, metrics.jsonl (a line per epoch), curves.svg and
checkpoint.safetensors (each epoch). Ctrl-C finishes the current step, saves and exits;
continue with: convkit train --resume DIR

Examples:
  convkit train resnet20_cifar --data fashion-mnist --epochs 30
  convkit train resnet20_cifar --limit 2000 --epochs 2 --out runs/quick
  convkit train resnet18 --data cifar10:/data/cifar-10-batches-bin --optimizer adamw
  convkit train --resume runs/quick`,
    )
    .action(async (model: string | undefined, opts: TrainCliOptions, command: Command) => {
      const explicit = Object.keys(opts).filter((k) => command.getOptionValueSource(k) === 'cli');
      const result = await runTrain(model, opts, { out, explicit });
      // Stopped by Ctrl-C (and saved): the status a shell gives a command ended by SIGINT.
      if (result.interrupted) process.exitCode = 130;
    });
}

/** Builds the model the config names, on the current backend. */
export function buildTrainModel(
  config: Pick<TrainConfig, 'model' | 'input' | 'classes'>,
  backend?: string,
): TensorModule {
  const opts = { classes: config.classes.length, inChannels: config.input[0], backend };
  if (config.model === TINY_CNN)
    return withBackend(backend ?? getBackend().name, () =>
      tinyCnn({ inChannels: config.input[0], classes: config.classes.length, width: 8 }),
    );
  return getModel(config.model).build(opts);
}

/** Checks on the shape-only backend that the model takes the data's images; a usage error if not. */
function checkModelTakes(config: TrainConfig): void {
  const why = refusesInput(buildTrainModel(config, 'meta'), config.input);
  if (why !== null)
    throw new UsageError(`${config.model} cannot take ${config.input.join('x')} images (${config.data}): ${why}`);
}

function makeOptimizer(model: TensorModule, c: TrainConfig): Optimizer {
  const params = model.parameters();
  if (c.optimizer === 'sgd') return new SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
  if (c.optimizer === 'adam') return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay });
  return new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
}

function makeSchedule(optimizer: Optimizer, c: TrainConfig): LRScheduler {
  const span = Math.max(1, c.epochs - c.warmup);
  const main = (): LRScheduler => {
    switch (c.schedule) {
      case 'cosine':
        return new CosineAnnealingLR(optimizer, { tMax: span });
      case 'step':
        return new StepLR(optimizer, { stepSize: Math.max(1, Math.round(span / 3)), gamma: 0.1 });
      case 'multistep': {
        const a = Math.max(1, Math.round(span / 2));
        const b = Math.max(a + 1, Math.round((3 * span) / 4));
        return new MultiStepLR(optimizer, { milestones: [a, b], gamma: 0.1 });
      }
      default:
        return new StepLR(optimizer, { stepSize: 1, gamma: 1 });
    }
  };
  if (c.warmup === 0) return main();
  const warm = new LinearLR(optimizer, { startFactor: 1 / 3, endFactor: 1, totalIters: c.warmup });
  return new SequentialLR(optimizer, [warm, main()], [c.warmup]);
}

/** The training and test transforms of a config. */
export function trainTransforms(c: Pick<TrainConfig, 'input' | 'augment' | 'normalize'>): {
  train: Transform;
  test: Transform;
} {
  const norm = normalize(c.normalize.mean, c.normalize.std);
  const side = Math.min(c.input[1], c.input[2]);
  const augment = c.augment ? [randomCrop(side, Math.max(1, Math.floor(side / 8))), horizontalFlip(0.5)] : [];
  // A non-square image is cropped to a square when augmenting; the test images get the centre crop then.
  return { train: compose([...augment, norm]), test: compose([norm]) };
}

function defaultOut(model: string, data: string): string {
  const tag = data
    .replace(/[:/\\]+/g, '-')
    .replace(/[^\w.-]/g, '')
    .replace(/^-+|-+$/g, '');
  return join('runs', `${model}-${tag || 'data'}`);
}

function readConfigOf(dir: string): TrainConfig {
  const path = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(path))
    throw new UsageError(
      `--resume: ${dir} holds no ${RUN_FILES.checkpoint}; expected the folder of a convkit train run`,
    );
  // The header only: the tensors are read once, when they are loaded into the model.
  return checkpointConfig<TrainConfig>(path);
}

/** Reads metrics.jsonl, keeping the rows of finished epochs up to `epochs`. */
function readMetrics(path: string, epochs: number): MetricsRow[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricsRow)
    .filter((r) => r.epoch <= epochs);
}

/** Where a fresh run or a resumed one starts. */
interface Setup {
  dir: string;
  config: TrainConfig;
  train: ArrayDataset;
  test: ArrayDataset;
}

const RESUME_KEEPS = new Set(['resume', 'threads']);

function setUp(model: string | undefined, o: TrainCliOptions, explicit: readonly string[]): Setup {
  if (o.resume !== undefined) {
    if (model !== undefined)
      throw new UsageError(`--resume continues the run in ${o.resume} with its own model; leave out '${model}'`);
    const extra = explicit.filter((k) => !RESUME_KEEPS.has(k));
    if (extra.length > 0) {
      const flags = extra.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
      throw new UsageError(`--resume continues the run as it was configured; ${flags} cannot change it`);
    }
    const dir = resolve(o.resume);
    const config = readConfigOf(dir);
    const source = parseDataSource(config.data);
    const train = loadSource(source, 'train', config.limit ?? undefined);
    const test = loadSource(source, 'test', config.testLimit ?? undefined);
    return { dir, config, train, test };
  }
  if (model === undefined) throw new UsageError(`train needs a model (see convkit list) or --resume DIR`);
  if (model !== TINY_CNN) getModelForCli(model);
  const source: DataSource = parseDataSource(o.data);
  const dir = resolve(o.out ?? defaultOut(model, o.data));
  // A config.json without a checkpoint is a run that died before its first save: nothing to keep.
  if (existsSync(join(dir, RUN_FILES.checkpoint)))
    throw new UsageError(
      `--out: ${dir} already holds a run; continue it with 'convkit train --resume ${o.out ?? dir}' or choose another --out`,
    );
  for (const f of Object.values(RUN_FILES)) checkOutputPath(join(dir, f), '--out');
  const train = loadSource(source, 'train', o.limit);
  const test = loadSource(source, 'test', o.testLimit);
  const input = asImageShape(train.sampleShape);
  const defaults = OPTIMIZER_DEFAULTS[o.optimizer];
  if (o.warmup >= o.epochs)
    throw new UsageError(`--warmup: expected fewer warm-up epochs than --epochs (${o.epochs}), got ${o.warmup}`);
  const stats = channelStats(train);
  const partial: Omit<TrainConfig, 'transforms'> = {
    model,
    data: source.spec,
    input: [...input],
    classes: [...train.classes],
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    lr: o.lr ?? defaults.lr,
    momentum: o.optimizer === 'sgd' ? o.momentum : 0,
    weightDecay: o.weightDecay ?? defaults.weightDecay,
    schedule: o.schedule,
    warmup: o.warmup,
    labelSmoothing: o.labelSmoothing,
    seed: o.seed,
    limit: o.limit ?? null,
    testLimit: o.testLimit ?? null,
    augment: o.augment,
    normalize: stats,
    backend: getBackend().name,
  };
  const t = trainTransforms(partial);
  const config: TrainConfig = { ...partial, transforms: { train: t.train.name, test: t.test.name } };
  checkModelTakes(config);
  return { dir, config, train, test };
}

function getModelForCli(name: string): void {
  try {
    getModel(name);
  } catch (err) {
    if (err instanceof ConvkitError) throw new UsageError(`${err.message.replace(/^zoo: /, '')} (or ${TINY_CNN})`);
    throw err;
  }
}

function writeMetrics(dir: string, rows: readonly MetricsRow[]): void {
  writeFileAtomic(
    join(dir, RUN_FILES.metrics),
    rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''),
  );
}

async function writeChart(dir: string, config: TrainConfig, rows: readonly MetricsRow[]): Promise<void> {
  if (rows.length === 0) return;
  const svg = await trainingChartSvg(rows, `${config.model} on ${config.data}`, config.epochs);
  writeFileAtomic(join(dir, RUN_FILES.chart), svg);
}

/** Runs (or resumes) a training; returns the metrics. */
export async function runTrain(
  model: string | undefined,
  o: TrainCliOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const out = hooks.out ?? print;
  if (o.threads !== undefined) setThreads(o.threads);
  const { dir, config, train, test } = setUp(model, o, hooks.explicit ?? []);
  const resuming = o.resume !== undefined;
  const checkpointPath = join(dir, RUN_FILES.checkpoint);

  manualSeed(config.seed);
  const net = buildTrainModel(config);
  const optimizer = makeOptimizer(net, config);
  const schedule = makeSchedule(optimizer, config);
  const order = new Generator(config.seed + 1);
  const augmentation = new Generator(config.seed + 2);
  const transforms = trainTransforms(config);
  let progress: TrainingProgress = { epoch: 0, step: 0 };
  let metrics: MetricsRow[] = [];

  if (resuming) {
    const ckpt = loadCheckpoint<TrainConfig>(checkpointPath);
    try {
      net.loadStateDict(ckpt.model);
      optimizer.loadStateDict(ckpt.optimizer);
      schedule.loadStateDict(ckpt.schedule);
      order.setState(ckpt.generators.order);
      augmentation.setState(ckpt.generators.augmentation);
      defaultGenerator.setState(ckpt.generators.default);
      progress = ckpt.progress;
    } finally {
      ckpt.dispose();
    }
    metrics = readMetrics(join(dir, RUN_FILES.metrics), progress.epoch);
    out(
      `resuming ${dir} after epoch ${progress.epoch}${progress.partial ? ` and ${progress.partial.batches} steps of the next` : ''} (step ${progress.step})`,
    );
  } else {
    writeFileAtomic(join(dir, RUN_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
  }
  out(
    `convkit train: ${config.model} (${net.numParameters().toLocaleString('en-US')} parameters) on ${config.data}: ` +
      `${train.labels.length} training and ${test.labels.length} test images of ${config.input.join('x')}, ${config.classes.length} classes`,
  );
  out(
    `${config.optimizer} lr ${config.lr}${config.optimizer === 'sgd' ? ` momentum ${config.momentum}` : ''} weight decay ${config.weightDecay}, ` +
      `${config.schedule} schedule${config.warmup ? ` after ${config.warmup} warm-up epochs` : ''}, batch ${config.batchSize}, ${config.epochs} epochs, seed ${config.seed}, backend ${getBackend().name}`,
  );
  out(`train transforms: ${transforms.train.name}`);
  out(`run folder: ${dir}`);

  let stopRequested = false;
  onInterrupt(() => {
    stopRequested = true;
    process.stderr.write('\nconvkit train: stopping after this step to save a checkpoint (Ctrl-C again to quit now)\n');
  });
  const save = (p: TrainingProgress): void => {
    const contents: CheckpointContents<TrainConfig> = {
      config,
      progress: p,
      generators: {
        order: order.getState(),
        augmentation: augmentation.getState(),
        default: defaultGenerator.getState(),
      },
    };
    const temporary = trackedTemporary(checkpointPath);
    try {
      saveCheckpoint(checkpointPath, net, optimizer, schedule, contents, { temporary: temporary.path });
    } catch (err) {
      if (err instanceof ConvkitError) throw err;
      throw new OutputError(checkpointPath, `cannot write: ${(err as Error).message}`);
    } finally {
      temporary.release();
    }
  };

  try {
    const testTransform = batchTransform(transforms.test, augmentation);
    while (progress.epoch < config.epochs) {
      const epoch = progress.epoch + 1;
      const lr = optimizer.paramGroups[0].lr;
      // The order of this epoch is drawn from the generator's state at its start.
      const partial = progress.partial;
      if (partial) order.setState(partial.orderState);
      const orderState = order.getState();
      let step = progress.step;
      const bar = progressBar(
        Math.ceil(train.labels.length / config.batchSize),
        `epoch ${epoch}/${config.epochs}`,
        'batches',
      );
      const started = performance.now();
      const trained = await trainEpoch(net, optimizer, train, {
        batchSize: config.batchSize,
        generator: order,
        transform: batchTransform(transforms.train, augmentation),
        labelSmoothing: config.labelSmoothing,
        start: partial,
        onBatch: (done, _total, running) => {
          step++;
          const secs = (performance.now() - started) / 1000;
          const images = running.samples - (partial?.samples ?? 0);
          bar.update(done, {
            loss: running.loss.toFixed(4),
            acc: pct(running.accuracy),
            'img/s': secs > 0 ? (images / secs).toFixed(0) : '-',
          });
        },
        shouldStop: () => stopRequested || (hooks.stopAfter?.(step) ?? false),
      });
      bar.stop();
      // Training time of this epoch (evaluation not included), a resumed epoch's earlier part added.
      const trainSeconds = (performance.now() - started) / 1000;
      const seconds = (partial?.seconds ?? 0) + trainSeconds;
      if (trained.stopped) {
        save({
          epoch: progress.epoch,
          step,
          partial: {
            batches: trained.batches,
            lossSum: trained.lossSum,
            correct: trained.correct,
            samples: trained.samples,
            seconds,
            orderState,
          },
        });
        out(`stopped in epoch ${epoch} after step ${step}; saved ${checkpointPath}`);
        out(`continue with: convkit train --resume ${o.resume ?? o.out ?? dir}`);
        return { dir, config, metrics, interrupted: true };
      }
      schedule.step();
      const tested: EpochResult = await evaluate(net, test, {
        batchSize: Math.max(config.batchSize, 100),
        transform: testTransform,
      });
      const row: MetricsRow = {
        epoch,
        step,
        lr,
        train_loss: trained.loss,
        train_acc: trained.accuracy,
        test_loss: tested.loss,
        test_acc: tested.accuracy,
        images_per_s: (trained.samples - (partial?.samples ?? 0)) / (trainSeconds || 1),
        seconds,
      };
      metrics.push(row);
      progress = { epoch, step };
      writeMetrics(dir, metrics);
      await writeChart(dir, config, metrics);
      save(progress);
      out(
        `epoch ${epoch}/${config.epochs}: lr ${lr.toPrecision(4)}, train loss ${trained.loss.toFixed(4)} acc ${pct(trained.accuracy)}, ` +
          `test loss ${tested.loss.toFixed(4)} acc ${pct(tested.accuracy)}, ${row.images_per_s.toFixed(0)} images/s, ${seconds.toFixed(1)} s`,
      );
      if ((stopRequested || hooks.stopAfter?.(step)) && epoch < config.epochs) {
        out(`stopped after epoch ${epoch}; continue with: convkit train --resume ${o.resume ?? o.out ?? dir}`);
        return { dir, config, metrics, interrupted: true };
      }
    }
  } finally {
    onInterrupt(null);
  }
  const last = metrics[metrics.length - 1];
  if (last) out(`done: test accuracy ${pct(last.test_acc)} after ${config.epochs} epochs; ${dir}`);
  return { dir, config, metrics, interrupted: false };
}
