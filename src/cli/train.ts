/**
 * `convkit train <model> --data ...`: trains a zoo model (or the demo's tiny CNN) on a real data
 * set, with a progress bar per epoch, evaluation on the test split each epoch, metrics.jsonl,
 * config.json, training curves and an atomic checkpoint each epoch; Ctrl-C finishes the step, saves
 * and says how to resume; `--resume DIR` continues a run exactly (bit for bit on the reference
 * backend). docs/training.md describes the run folder and the checkpoint.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { getBackend, setThreads } from '../backend/registry.js';
import { defaultGenerator, Generator, manualSeed } from '../core/random.js';
import { DATA_WORDS, parseDataSource } from '../data/source.js';
import { DataLoader, defaultWorkers } from '../data/loader.js';
import { loadCheckpoint, type TrainingProgress } from '../train/checkpoint.js';
import { type EpochResult, evaluate, trainEpoch } from '../train/loop.js';
import { choiceOption, intOption, numberOption, pathOption, shown, UsageError } from './args.js';
import { print } from './boundary.js';
import { onInterrupt, writeFileAtomic } from './files.js';
import { progressBar } from './progress.js';
import {
  buildTrainModel,
  makeOptimizer,
  makeSchedule,
  OPTIMIZERS,
  SCHEDULES,
  TINY_CNN,
  TRAIN_LIMITS,
  type TrainCliOptions,
  type TrainConfig,
  trainTransforms,
} from './train-config.js';
import {
  type MetricsRow,
  RUN_FILES,
  readResumedMetrics,
  saveRunCheckpoint,
  writeChart,
  writeMetrics,
} from './train-run-folder.js';
import { imageOptions } from './train-images.js';
import { setUpTrain } from './train-setup.js';

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

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export function registerTrain(program: Command, out: (text: string) => void = print): void {
  const l = TRAIN_LIMITS;
  const command = program
    .command('train')
    .description('train a model on Fashion-MNIST, IDX, CIFAR or image-folder data, with checkpoints and resume')
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
    .addOption(intOption('--epochs <n>', 'epochs', l.epochs, 18))
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
    .addOption(
      intOption(
        '--workers <n>',
        `threads preparing batches (crop, flip, normalise) ahead of the step; 0: on the main thread (default ${defaultWorkers()} here: cores - 1, 1 to 4)`,
        l.workers,
      ),
    );
  for (const option of imageOptions()) command.addOption(option);
  command
    .addOption(intOption('--limit <n>', 'train on the first n training images only (quick runs)', l.limit))
    .addOption(intOption('--test-limit <n>', 'evaluate on the first n test images only', l.limit))
    .addOption(pathOption('--out <dir>', 'run folder (default runs/<model>-<data>); must not hold a run already'))
    .addOption(pathOption('--resume <dir>', 'continue the run in this folder from its checkpoint'))
    .addHelpText(
      'after',
      `
Defaults: SGD, lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule, batch 128, 18 epochs,
random crop (padding 1/8 of the side) and horizontal flip, images normalised by the training
set's per-channel mean and std. The stem takes the data's channels (1 for Fashion-MNIST).

Images go through: --image-size (bilinear), the crop (--crop-size: random in training after
--crop-padding, the centre in testing), the flip, --pca-lighting, then the normalisation; the
statistics (mean, std, RGB principal components) come from the training split and are stored
with the run, and --resume uses the run's own choices.

The run folder gets config.json, metrics.jsonl (a line per epoch), curves.svg and
checkpoint.safetensors (each epoch). Ctrl-C finishes the current step, saves and exits;
continue with: convkit train --resume DIR

Examples:
  convkit train resnet20_cifar --data fashion-mnist --epochs 30 --label-smoothing 0.1
  convkit train resnet20_cifar --limit 2000 --epochs 2 --out runs/quick
  convkit train resnet18 --data cifar10:/data/cifar-10-batches-bin --optimizer adamw
  convkit train resnet20_cifar --data folder:photos --image-size 32 --workers 2
  convkit train resnet18 --data fashion-mnist --image-size 64 --crop-size 56 --no-flip
  convkit train alexnet --data folder:photos --image-size 256 --crop-size 224 --pca-lighting 0.1
  convkit train --resume runs/quick`,
    )
    .action(async (model: string | undefined, opts: TrainCliOptions) => {
      const explicit = Object.keys(opts).filter((k) => command.getOptionValueSource(k) === 'cli');
      const result = await runTrain(model, opts, { out, explicit });
      // Stopped by Ctrl-C (and saved): the status a shell gives a command ended by SIGINT.
      if (result.interrupted) process.exitCode = 130;
    });
}

/** Runs (or resumes) a training; returns the metrics. */
export async function runTrain(
  model: string | undefined,
  o: TrainCliOptions,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const out = hooks.out ?? print;
  if (o.threads !== undefined) setThreads(o.threads);
  const { dir, config, train, test } = await setUpTrain(model, o, hooks.explicit ?? []);
  const resuming = o.resume !== undefined;
  const checkpointPath = join(dir, RUN_FILES.checkpoint);

  manualSeed(config.seed);
  // A resumed run loads every weight and the generators' states: nothing to draw.
  const net = buildTrainModel(config, { init: resuming ? 'none' : 'random' });
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
    metrics = readResumedMetrics(join(dir, RUN_FILES.metrics), progress.epoch);
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
  const seen = transforms.train.outShape(config.input).join('x');
  if (seen !== config.input.join('x')) out(`the network sees ${seen} images`);
  out(
    `${config.optimizer} lr ${config.lr}${config.optimizer === 'sgd' ? ` momentum ${config.momentum}` : ''} weight decay ${config.weightDecay}, ` +
      `${config.schedule} schedule${config.warmup ? ` after ${config.warmup} warm-up epochs` : ''}, batch ${config.batchSize}, ${config.epochs} epochs, seed ${config.seed}, backend ${getBackend().name}`,
  );
  out(`train transforms: ${transforms.train.name}`);
  out(`test transforms: ${transforms.test.name}`);
  out(`run folder: ${dir}`);

  let stopRequested = false;
  onInterrupt(() => {
    stopRequested = true;
    process.stderr.write('\nconvkit train: stopping after this step to save a checkpoint (Ctrl-C again to quit now)\n');
  });
  const save = (p: TrainingProgress): void =>
    saveRunCheckpoint(checkpointPath, net, optimizer, schedule, {
      config,
      progress: p,
      generators: {
        order: order.getState(),
        augmentation: augmentation.getState(),
        default: defaultGenerator.getState(),
      },
    });

  // Order and augmentation are drawn from the generators above whatever the number of workers.
  const workers = o.workers ?? defaultWorkers();
  const trainLoader = new DataLoader(train, {
    batchSize: config.batchSize,
    shuffle: true,
    transform: transforms.train,
    workers,
  });
  const testLoader = new DataLoader(test, {
    batchSize: Math.max(config.batchSize, 100),
    transform: transforms.test,
    workers,
  });
  try {
    while (progress.epoch < config.epochs) {
      const epoch = progress.epoch + 1;
      const lr = optimizer.paramGroups[0].lr;
      // The order of this epoch is drawn from the generator's state at its start.
      const partial = progress.partial;
      if (partial) order.setState(partial.orderState);
      if (partial?.augmentationState) augmentation.setState(partial.augmentationState);
      const orderState = order.getState();
      const augmentationState = augmentation.getState();
      let step = progress.step;
      const bar = progressBar(
        Math.ceil(train.labels.length / config.batchSize),
        `epoch ${epoch}/${config.epochs}`,
        'batches',
      );
      const started = performance.now();
      const trained = await trainEpoch(net, optimizer, trainLoader, {
        batchSize: config.batchSize,
        generator: order,
        augmentation,
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
            augmentationState,
          },
        });
        out(`stopped in epoch ${epoch} after step ${step}; saved ${checkpointPath}`);
        out(`continue with: convkit train --resume ${o.resume ?? o.out ?? dir}`);
        return { dir, config, metrics, interrupted: true };
      }
      schedule.step();
      // The test transform draws nothing; its own generator keeps the run's generators untouched.
      const tested: EpochResult = await evaluate(net, testLoader, {
        batchSize: testLoader.batchSize,
        augmentation: new Generator(0),
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
    await Promise.all([trainLoader.close(), testLoader.close()]);
  }
  const last = metrics[metrics.length - 1];
  if (last) out(`done: test accuracy ${pct(last.test_acc)} after ${config.epochs} epochs; ${dir}`);
  return { dir, config, metrics, interrupted: false };
}
