/**
 * The configuration of a `convkit train` run: the option names, limits and defaults, the config that
 * config.json and every checkpoint carry, and what a config builds (the model, optimiser, schedule
 * and transforms), so that a fresh run, a resumed one and `convkit eval` build the same things.
 */
import { getBackend, withBackend } from '../backend/registry.js';
import { pcaLighting, type RgbPca } from '../data/pca-lighting.js';
import { resize } from '../data/resize.js';
import {
  centerCrop,
  compose,
  horizontalFlip,
  type ImageShape,
  normalize,
  randomCrop,
  type Transform,
} from '../data/transforms.js';
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
  cropSize: { min: 1, max: 4096 },
  cropPadding: { min: 0, max: 1024 },
  pcaLighting: { min: 0, max: 10, aboveMin: true },
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
  /** False with --no-augment: no random crop, flip or PCA lighting (`images` says so too). */
  augment: boolean;
  /** How images become the network's input; absent in runs made before these options (imagePipelineOf). */
  images?: ImagePipeline;
  /** Per-channel statistics of the training images, used by the normalisation. */
  normalize: { mean: number[]; std: number[] };
  /** The transforms in words (for people; the fields above rebuild them). */
  transforms: { train: string; test: string };
  backend: string;
}

/**
 * The image pipeline of a run, in the order it is applied: resize, crop (random in training, centred in
 * testing), flip and PCA lighting in training only, then the normalisation (TrainConfig.normalize).
 */
export interface ImagePipeline {
  /** Every image is scaled to resize x resize first (bilinear; an image folder is decoded at it); null: kept. */
  resize: number | null;
  /** The side of the square crop the network sees; null: the whole image (a random crop takes its shorter side). */
  crop: number | null;
  /** Training crops at a random place after zero padding by `padding` pixels; false: as testing does. */
  randomCrop: boolean;
  padding: number;
  /** Training mirrors half the images left-right. */
  flip: boolean;
  /** AlexNet's PCA colour augmentation: the std of its alphas and the training set's RGB components; null: off. */
  pcaLighting: ({ std: number } & RgbPca) | null;
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
  /** The side every image is scaled to (folder: data: decoded at; default: the model's input size there, else the data's). */
  imageSize?: number;
  cropSize?: number;
  cropPadding?: number;
  /** False with --no-random-crop (commander's default true; undefined reads as true). */
  randomCrop?: boolean;
  /** False with --no-flip (undefined reads as true). */
  flip?: boolean;
  /** The std of AlexNet's PCA colour augmentation (off when absent). */
  pcaLighting?: number;
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

/** The random crop's padding when none is given: 1/8 of the side when it crops the whole image, else none. */
export function defaultCropPadding(side: number, crop: number): number {
  return crop < side ? 0 : Math.max(1, Math.floor(side / 8));
}

type PipelineSource = Pick<TrainConfig, 'input' | 'augment' | 'images'>;

/** A config's image pipeline; a run made before the pipeline was recorded gets what it trained with then. */
export function imagePipelineOf(c: PipelineSource): ImagePipeline {
  if (c.images !== undefined) return c.images;
  const side = Math.min(c.input[1], c.input[2]);
  const padding = defaultCropPadding(side, side);
  return { resize: null, crop: null, randomCrop: c.augment, padding, flip: c.augment, pcaLighting: null };
}

/** The images' shape after the pipeline's resize (what the crops take). */
export function resizedShape(c: PipelineSource): ImageShape {
  const r = imagePipelineOf(c).resize;
  return r === null ? c.input : [c.input[0], r, r];
}

/** The training and test transforms of a config; both give the network the same shape. */
export function trainTransforms(c: PipelineSource & Pick<TrainConfig, 'normalize'>): {
  train: Transform;
  test: Transform;
} {
  const p = imagePipelineOf(c);
  const [, h, w] = resizedShape(c);
  // An image folder is decoded at the size already; a resize to the same size would only copy.
  const scale = h === c.input[1] && w === c.input[2] ? [] : [resize(h, w)];
  const side = p.crop ?? Math.min(h, w);
  // Testing takes the centre whenever training's crop is smaller than the image (a non-square one too).
  const centre = side < h || side < w ? [centerCrop(side)] : [];
  const crop = p.randomCrop ? [randomCrop(side, p.padding)] : p.crop === null ? [] : centre;
  const flip = p.flip ? [horizontalFlip(0.5)] : [];
  const light = p.pcaLighting ? [pcaLighting(p.pcaLighting, p.pcaLighting.std)] : [];
  const norm = normalize(c.normalize.mean, c.normalize.std);
  return {
    train: compose([...scale, ...crop, ...flip, ...light, norm]),
    test: compose([...scale, ...(p.randomCrop || p.crop !== null ? centre : []), norm]),
  };
}
