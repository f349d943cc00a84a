/**
 * Trains a few small networks the same way, for the experiments that compare them: every net
 * starts from the same seed, sees the same batches in the same order (inputs normalised by the
 * training images' per-channel mean and std) and is tested on the same images; each gets its
 * training loss and accuracy per epoch, its test accuracy and the standard error of that. By
 * default Adam without augmentation for a number of epochs; a plan may instead ask for SGD with
 * momentum and weight decay, an lr divided at given iterations, a fixed number of iterations,
 * padding + random crop + flip, a held-out validation set and a test after every epoch (the
 * schedule of He et al. 2015, section 4.2, which `degradation --full` follows).
 */
import { ArgumentError } from '../core/errors.js';
import { Generator, manualSeed } from '../core/random.js';
import { type ArrayDataset, batchCount } from '../data/dataset.js';
import { loadSource, parseDataSource, takeFirst } from '../data/source.js';
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
import type { Module } from '../nn/module.js';
import { Adam } from '../train/adam.js';
import { evaluate, trainEpoch } from '../train/loop.js';
import type { LrTarget } from '../train/lr-scheduler.js';
import type { Optimizer } from '../train/optimizer.js';
import { MultiStepLR } from '../train/schedules.js';
import { SGD } from '../train/sgd.js';
import { pct } from './format.js';
import type { ExperimentSettings } from './types.js';

export interface TrainPlan {
  /** Images taken from the start of the training split (Infinity: all), validation included. */
  trainLimit: number;
  /** Images taken from the start of the test split (Infinity: all). */
  testLimit: number;
  /** Epochs; with `iterations` the most there may be (Infinity: as many as the iterations need). */
  epochs: number;
  batchSize: number;
  /** The initial learning rate. */
  lr: number;
  /** Default Adam (PyTorch's defaults besides lr). */
  optimizer?: { name: 'adam' } | { name: 'sgd'; momentum: number; weightDecay: number };
  /** Optimiser steps after which the lr is multiplied by `lrFactor` (PyTorch's MultiStepLR stepped per iteration). */
  lrMilestones?: readonly number[];
  lrFactor?: number;
  /** Training stops after this many optimiser steps, mid-epoch if need be. */
  iterations?: number;
  /** Zero padding, a random crop back to the image's size, and a left-right flip with p 0.5. */
  augment?: { padding: number; flip: boolean };
  /** The last `validation` images of the training subset are held out and evaluated with the test images. */
  validation?: number;
  /** Evaluate after every epoch rather than after the last only. */
  testEveryEpoch?: boolean;
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

/** Loss and accuracy of the evaluated split(s) at the end of an epoch. */
export interface Evaluation {
  loss: number;
  accuracy: number;
}

export interface EpochRecord {
  epoch: number;
  /** Optimiser steps taken from the start, this epoch's included. */
  iterations: number;
  /** The lr of this epoch's last step. */
  lr: number;
  /** Running over the epoch, train mode (augmented images, batch statistics). */
  trainLoss: number;
  trainAccuracy: number;
  /** Eval mode on the test images (and the validation images), present where evaluated. */
  test?: Evaluation;
  validation?: Evaluation;
}

export interface TrainedNet {
  name: string;
  /** The images (CxHxW) and the number of classes it was trained on. */
  input: [number, number, number];
  classes: number;
  /** Images trained on, held out for validation and tested on; the sizes of the whole splits. */
  images: { train: number; validation: number; test: number; trainSplit: number; testSplit: number };
  epochs: EpochRecord[];
  /** After the last epoch. */
  testAccuracy: number;
  testLoss: number;
  /** Standard error of the test accuracy, sqrt(p (1 - p) / n). */
  standardError: number;
  /** Seconds of training, and of evaluation, in all. */
  seconds: number;
  evalSeconds: number;
  /** The median wall time of one optimiser step (robust to bursts of load from other processes). */
  stepSeconds: number;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The first `count - held` samples and the last `held`. */
function splitOff(data: ArrayDataset, held: number, tag: string): { train: ArrayDataset; held: ArrayDataset } {
  const n = data.labels.length - held;
  if (n < 1)
    throw new ArgumentError(
      tag,
      `holding out ${held} validation images needs more training images, got ${data.labels.length}`,
    );
  const per = data.inputs.length / data.labels.length;
  const part = (from: number, to: number): ArrayDataset => ({
    ...data,
    inputs: data.inputs.subarray(from * per, to * per),
    labels: data.labels.subarray(from, to),
  });
  return { train: part(0, n), held: part(n, data.labels.length) };
}

function makeOptimizer(net: Module, plan: TrainPlan): Optimizer {
  const o = plan.optimizer ?? { name: 'adam' };
  if (o.name === 'adam') return new Adam(net.parameters(), { lr: plan.lr });
  return new SGD(net.parameters(), { lr: plan.lr, momentum: o.momentum, weightDecay: o.weightDecay });
}

/**
 * The plan's lr schedule on `optimizer`, stepped once after every optimiser step: step i (from 0)
 * runs at lr * lrFactor^(milestones <= i), so a milestone of 32,000 lowers the lr from the
 * 32,001st step on (PyTorch's MultiStepLR stepped per iteration).
 */
export function lrSchedule(optimizer: LrTarget, plan: Pick<TrainPlan, 'lrMilestones' | 'lrFactor'>): MultiStepLR {
  return new MultiStepLR(optimizer, { milestones: plan.lrMilestones ?? [], gamma: plan.lrFactor ?? 0.1 });
}

/** Trains each net in turn on `settings.data`; `tag` starts the progress lines. */
export async function trainNets(
  settings: ExperimentSettings,
  plan: TrainPlan,
  nets: readonly NetToTrain[],
  tag: string,
): Promise<TrainedNet[]> {
  if (!(Number.isFinite(plan.epochs) || Number.isFinite(plan.iterations)) || plan.epochs < 1)
    throw new ArgumentError(
      tag,
      `a training plan needs a finite number of epochs or iterations, got epochs ${plan.epochs} and iterations ${plan.iterations}`,
    );
  const source = parseDataSource(settings.data);
  const trainSplit = loadSource(source, 'train');
  const testSplit = loadSource(source, 'test');
  const { train, held: validation } = splitOff(takeFirst(trainSplit, plan.trainLimit), plan.validation ?? 0, tag);
  const test = takeFirst(testSplit, plan.testLimit);
  const shape = asImageShape(train.sampleShape);
  const [channels, side] = shape;
  const stats = channelStats(train);
  const norm = normalize(stats.mean, stats.std);
  const augment: Transform[] = plan.augment
    ? [randomCrop(side, plan.augment.padding), ...(plan.augment.flip ? [horizontalFlip()] : [])]
    : [];
  const trainTransform = compose([...augment, norm]);
  const evalTransform = compose([norm]);
  const perEpoch = batchCount(train, plan.batchSize);
  const epochCount = Math.min(plan.epochs, Math.ceil((plan.iterations ?? Infinity) / perEpoch));
  const out: TrainedNet[] = [];
  for (const n of nets) {
    manualSeed(settings.seed);
    const net = n.build(channels, train.classes.length, side);
    const opt = makeOptimizer(net, plan);
    const schedule = lrSchedule(opt, plan);
    const order = new Generator(settings.seed + 1);
    const aug = new Generator(settings.seed + 2);
    let seconds = 0;
    let evalSeconds = 0;
    let iterations = 0;
    const stepTimes: number[] = [];
    let stepStart = 0;
    const epochs: EpochRecord[] = [];
    const evaluateOn = async (data: ArrayDataset): Promise<Evaluation> => {
      const r = await evaluate(net, data, { batchSize: 500, transform: batchTransform(evalTransform, aug) });
      evalSeconds += r.seconds;
      return { loss: r.loss, accuracy: r.accuracy };
    };
    for (let e = 1; e <= epochCount; e++) {
      stepStart = performance.now();
      const r = await trainEpoch(net, opt, train, {
        batchSize: plan.batchSize,
        generator: order,
        transform: batchTransform(trainTransform, aug),
        onBatch: () => {
          const now = performance.now();
          stepTimes.push((now - stepStart) / 1000);
          stepStart = now;
          iterations++;
          schedule.step();
        },
        shouldStop: () => iterations >= (plan.iterations ?? Infinity),
      });
      seconds += r.seconds;
      const record: EpochRecord = {
        epoch: e,
        iterations,
        lr: schedule.lrAt(schedule.baseLrs[0], iterations - 1),
        trainLoss: r.loss,
        trainAccuracy: r.accuracy,
      };
      if (plan.testEveryEpoch || e === epochCount) {
        record.test = await evaluateOn(test);
        if (validation.labels.length > 0) record.validation = await evaluateOn(validation);
        if (plan.testEveryEpoch)
          settings.log?.(
            `${tag}: ${n.name}: epoch ${e}, ${iterations} iterations: training error ${pct(1 - r.accuracy)}, test error ${pct(1 - record.test.accuracy)}`,
          );
      }
      epochs.push(record);
    }
    const last = epochs[epochs.length - 1].test as Evaluation;
    const p = last.accuracy;
    out.push({
      name: n.name,
      input: [...shape],
      classes: train.classes.length,
      images: {
        train: train.labels.length,
        validation: validation.labels.length,
        test: test.labels.length,
        trainSplit: trainSplit.labels.length,
        testSplit: testSplit.labels.length,
      },
      epochs,
      testAccuracy: p,
      testLoss: last.loss,
      standardError: Math.sqrt((p * (1 - p)) / test.labels.length),
      seconds,
      evalSeconds,
      stepSeconds: median(stepTimes),
    });
    settings.log?.(
      `${tag}: ${n.name}: test accuracy ${pct(p)} after ${epochs.length} epoch(s) (${seconds.toFixed(1)} s)`,
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
