/**
 * Trains a few small networks the same way, for the experiments that compare them: every net
 * starts from the same seed, sees the same batches in the same order (Adam, no augmentation,
 * inputs normalised by the training subset's per-channel mean and std) and is tested on the same
 * images; each gets its training loss per epoch, its test accuracy and the standard error of that.
 */
import { Generator, manualSeed } from '../core/random.js';
import { loadSource, parseDataSource } from '../data/source.js';
import { asImageShape, batchTransform, channelStats, compose, normalize } from '../data/transforms.js';
import type { Module } from '../nn/module.js';
import { Adam } from '../train/adam.js';
import { evaluate, trainEpoch } from '../train/loop.js';
import { pct } from './format.js';
import type { ExperimentSettings } from './types.js';

export interface TrainPlan {
  trainLimit: number;
  testLimit: number;
  epochs: number;
  batchSize: number;
  lr: number;
}

/**
 * The sizes the small comparisons train at (small-kernels, one-by-one's pair): quick, 2,000
 * training and 1,000 test images for 1 epoch; full, 20,000 and 10,000 for 4; Adam, lr 0.002, batch
 * 32. --limit, --test-limit and --epochs override them.
 */
export function comparisonPlan(settings: ExperimentSettings): TrainPlan {
  const quick = settings.mode === 'quick';
  return {
    trainLimit: settings.trainLimit ?? (quick ? 2000 : 20000),
    testLimit: settings.testLimit ?? (quick ? 1000 : 10000),
    epochs: settings.epochs ?? (quick ? 1 : 4),
    batchSize: 32,
    lr: 2e-3,
  };
}

/** A network to train: `build` makes it for the data's channels, classes and image side. */
export interface NetToTrain {
  name: string;
  build(inChannels: number, classes: number, side: number): Module;
}

export interface TrainedNet {
  name: string;
  /** The images (CxHxW) and the number of classes it was trained on. */
  input: [number, number, number];
  classes: number;
  /** Training loss and accuracy of each epoch (running over the epoch, train mode). */
  epochs: { epoch: number; trainLoss: number; trainAccuracy: number }[];
  testAccuracy: number;
  testLoss: number;
  /** Standard error of the test accuracy, sqrt(p (1 - p) / n). */
  standardError: number;
  seconds: number;
}

/** Trains each net in turn on `settings.data`; `tag` starts the progress lines. */
export async function trainNets(
  settings: ExperimentSettings,
  plan: TrainPlan,
  nets: readonly NetToTrain[],
  tag: string,
): Promise<TrainedNet[]> {
  const source = parseDataSource(settings.data);
  const train = loadSource(source, 'train', plan.trainLimit);
  const test = loadSource(source, 'test', plan.testLimit);
  const shape = asImageShape(train.sampleShape);
  const [channels, side] = shape;
  const stats = channelStats(train);
  const t = compose([normalize(stats.mean, stats.std)]);
  const out: TrainedNet[] = [];
  for (const n of nets) {
    manualSeed(settings.seed);
    const net = n.build(channels, train.classes.length, side);
    const opt = new Adam(net.parameters(), { lr: plan.lr });
    const order = new Generator(settings.seed + 1);
    const aug = new Generator(settings.seed + 2);
    const started = performance.now();
    const epochs: TrainedNet['epochs'] = [];
    for (let e = 1; e <= plan.epochs; e++) {
      const r = await trainEpoch(net, opt, train, {
        batchSize: plan.batchSize,
        generator: order,
        transform: batchTransform(t, aug),
      });
      epochs.push({ epoch: e, trainLoss: r.loss, trainAccuracy: r.accuracy });
    }
    const seconds = (performance.now() - started) / 1000;
    const tested = await evaluate(net, test, { batchSize: 500, transform: batchTransform(t, aug) });
    const p = tested.accuracy;
    out.push({
      name: n.name,
      input: [...shape],
      classes: train.classes.length,
      epochs,
      testAccuracy: p,
      testLoss: tested.loss,
      standardError: Math.sqrt((p * (1 - p)) / tested.samples),
      seconds,
    });
    settings.log?.(
      `${tag}: ${n.name}: test accuracy ${pct(p)} after ${plan.epochs} epoch(s) (${seconds.toFixed(1)} s)`,
    );
  }
  return out;
}

/** Accuracy difference a - b, the standard error of the difference, and whether it is within two of them. */
export function accuracyDifference(
  a: Pick<TrainedNet, 'testAccuracy' | 'standardError'>,
  b: Pick<TrainedNet, 'testAccuracy' | 'standardError'>,
): { diff: number; se: number; withinNoise: boolean } {
  const diff = a.testAccuracy - b.testAccuracy;
  const se = Math.sqrt(a.standardError ** 2 + b.standardError ** 2);
  return { diff, se, withinNoise: Math.abs(diff) < 2 * se };
}
