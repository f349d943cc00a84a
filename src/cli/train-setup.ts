/**
 * Where `convkit train` starts: a fresh run checks its options, loads the data and makes the config;
 * `--resume DIR` reads the config from the run's checkpoint and loads the same data again.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getBackend } from '../backend/registry.js';
import { ConvkitError } from '../core/errors.js';
import type { ArrayDataset } from '../data/dataset.js';
import { type DataSource, loadSplit, parseDataSource } from '../data/source.js';
import { asImageShape, channelStats } from '../data/transforms.js';
import { getModel } from '../models/registry.js';
import { checkpointConfig } from '../train/checkpoint.js';
import { refusesInput } from '../train/evaluate.js';
import { UsageError } from './args.js';
import { checkOutputPath } from './files.js';
import {
  buildTrainModel,
  OPTIMIZER_DEFAULTS,
  TINY_CNN,
  type TrainCliOptions,
  type TrainConfig,
  trainTransforms,
} from './train-config.js';
import { folderShape, imagePipeline } from './train-images.js';
import { RUN_FILES } from './train-run-folder.js';

/** Checks on the shape-only backend that the model takes the images the transforms make; a usage error if not. */
function checkModelTakes(config: TrainConfig): void {
  const shape = trainTransforms(config).train.outShape(config.input);
  const why = refusesInput(buildTrainModel(config, { backend: 'meta' }), shape);
  const made = shape.join('x') === config.input.join('x') ? '' : ` made from ${config.input.join('x')}`;
  if (why !== null)
    throw new UsageError(`${config.model} cannot take ${shape.join('x')} images${made} (${config.data}): ${why}`);
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

/** Where a fresh run or a resumed one starts: its folder, config and data. */
export interface TrainSetup {
  dir: string;
  config: TrainConfig;
  train: ArrayDataset;
  test: ArrayDataset;
}

const RESUME_KEEPS = new Set(['resume', 'threads', 'workers']);
/** Options whose flag on the command line is --no-<name>. */
const NEGATED = new Set(['augment', 'randomCrop', 'flip']);

/** An option's key as its flag: randomCrop -> --no-random-crop, cropSize -> --crop-size. */
function flagOf(key: string): string {
  const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return NEGATED.has(key) ? `--no-${kebab}` : `--${kebab}`;
}

export async function setUpTrain(
  model: string | undefined,
  o: TrainCliOptions,
  explicit: readonly string[],
): Promise<TrainSetup> {
  if (o.resume !== undefined) {
    if (model !== undefined)
      throw new UsageError(`--resume continues the run in ${o.resume} with its own model; leave out '${model}'`);
    const extra = explicit.filter((k) => !RESUME_KEEPS.has(k));
    if (extra.length > 0) {
      const flags = extra.map(flagOf).join(', ');
      throw new UsageError(`--resume continues the run as it was configured; ${flags} cannot change it`);
    }
    const dir = resolve(o.resume);
    const config = readConfigOf(dir);
    const source = parseDataSource(config.data);
    const shape = config.input;
    const train = await loadSplit(source, 'train', { limit: config.limit ?? undefined, shape });
    const test = await loadSplit(source, 'test', { limit: config.testLimit ?? undefined, shape });
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
  // Image folders are decoded at --image-size or the model's own input (RGB for every zoo model).
  const shape =
    source.kind === 'folder' ? folderShape(model === TINY_CNN ? [3, 32, 32] : getModel(model).input, o) : undefined;
  const train = await loadSplit(source, 'train', { limit: o.limit, shape });
  const test = await loadSplit(source, 'test', { limit: o.testLimit, shape });
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
    images: imagePipeline(o, train, source.spec),
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
