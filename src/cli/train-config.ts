/**
 * The configuration of a `convkit train` run: the option names, limits and defaults, the config that
 * config.json and every checkpoint carry, and what a config builds (the model, optimiser, schedule
 * and transforms), so that a fresh run, a resumed one and `convkit eval` build the same things.
 */
import { getBackend, withBackend } from '../backend/registry.js';
import { compose, horizontalFlip, normalize, randomCrop, type Transform } from '../data/transforms.js';
import { type BuildOptions, getModel } from '../models/registry.js';
import { tinyCnn } from '../models/tiny-cnn.js';
import { withoutRandomInit } from '../nn/init.js';
import { Adam, AdamW, CosineAnnealingLR, MultiStepLR, SequentialLR, SGD, StepLR } from '../train/index.js';
import { LinearLR } from '../train/schedules.js';
import type { LRScheduler } from '../train/lr-scheduler.js';
import type { Optimizer } from '../train/optimizer.js';
import type { TensorModule } from '../train/evaluate.js';

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
  workers: { min: 0, max: 64 },
  imageSize: { min: 1, max: 4096 },
  limit: { min: 1, max: 100_000_000 },
} as const;

/** Defaults that depend on the optimiser (when --lr or --weight-decay is not given). */
export const OPTIMIZER_DEFAULTS: Record<OptimizerName, { lr: number; weightDecay: number }> = {
  sgd: { lr: 0.1, weightDecay: 5e-4 },
  adam: { lr: 1e-3, weightDecay: 0 },
  adamw: { lr: 1e-3, weightDecay: 0.05 },
};

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
  /** Loader worker threads (default: defaultWorkers(), 1 on 2 cores); never changes the results. */
  workers?: number;
  /** folder: data only: the side images are scaled to (default: the model's input size). */
  imageSize?: number;
  limit?: number;
  testLimit?: number;
  augment: boolean;
  out?: string;
  resume?: string;
}

/**
 * Builds the model the config names, on the current backend unless `backend` names one; `init:
 * 'none'` when its weights are loaded next (see BuildOptions.init).
 */
export function buildTrainModel(
  config: Pick<TrainConfig, 'model' | 'input' | 'classes'>,
  build: Pick<BuildOptions, 'backend' | 'init'> = {},
): TensorModule {
  const opts: BuildOptions = { classes: config.classes.length, inChannels: config.input[0], ...build };
  if (config.model === TINY_CNN) {
    const tiny = (): TensorModule => tinyCnn({ inChannels: config.input[0], classes: config.classes.length, width: 8 });
    return withBackend(build.backend ?? getBackend().name, () =>
      build.init === 'none' ? withoutRandomInit(tiny) : tiny(),
    );
  }
  return getModel(config.model).build(opts);
}

/** The optimiser a config names, over the model's parameters. */
export function makeOptimizer(model: TensorModule, c: TrainConfig): Optimizer {
  const params = model.parameters();
  if (c.optimizer === 'sgd') return new SGD(params, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay });
  if (c.optimizer === 'adam') return new Adam(params, { lr: c.lr, weightDecay: c.weightDecay });
  return new AdamW(params, { lr: c.lr, weightDecay: c.weightDecay });
}

/** The per-epoch learning-rate schedule a config names, warm-up included. */
export function makeSchedule(optimizer: Optimizer, c: TrainConfig): LRScheduler {
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
