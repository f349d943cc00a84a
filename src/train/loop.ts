/**
 * The plain training loop: one epoch of forward, cross-entropy, backward and optimiser step per
 * batch, and evaluation. Each step runs inside `scope()` so no intermediate tensor outlives it, and
 * the loop yields to the event loop between batches so progress bars and Ctrl-C stay responsive.
 */
import { noGrad } from '../core/grad-mode.js';
import { synchronize } from '../backend/registry.js';
import { scope } from '../core/scope.js';
import type { Tensor } from '../core/tensor.js';
import type { Generator } from '../core/random.js';
import { batches, batchCount, type ArrayDataset, type Batch, type BatchTransform } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { crossEntropy } from '../ops/cross-entropy.js';
import { argmax } from '../ops/reduce.js';
import type { Module, TensorModule } from '../nn/module.js';
import type { Optimizer } from './optimizer.js';
import { type RecordedTrainingStep, recordTrainingStep, type StepResult } from './record-step.js';

export interface EpochResult {
  /** Mean loss over the samples seen. */
  loss: number;
  accuracy: number;
  samples: number;
  seconds: number;
  /** Batches done in this epoch, those of a resumed start included. */
  batches: number;
  /** Sum of the per-sample losses and count of correct predictions (what a resumed epoch starts from). */
  lossSum: number;
  correct: number;
  /** True when shouldStop() ended the epoch early. */
  stopped: boolean;
}

/** Where a resumed epoch starts: batches already done and their sums. */
export interface EpochStart {
  batches: number;
  lossSum: number;
  correct: number;
  samples: number;
}

export interface LoopOptions {
  batchSize: number;
  /** Shuffle training batches (default true for training, never for evaluation). */
  shuffle?: boolean;
  generator?: Generator;
  /** Called after every batch with the batches done, the total, and the running figures. */
  onBatch?: (done: number, total: number, running: { loss: number; accuracy: number; samples: number }) => void;
  /** Applied to each batch's values before the forward pass (augmentation, normalisation). */
  transform?: BatchTransform;
  /** Label smoothing of the training loss (default 0). */
  labelSmoothing?: number;
  /** With a DataLoader: gives the epoch's augmentation seed (batchSize, shuffle and transform are then the loader's). */
  augmentation?: Generator;
  /** Continue an epoch: the order is drawn as usual, the first `start.batches` batches are left out. */
  start?: EpochStart;
  /** Asked after every batch; true ends the epoch there (stopped: true in the result). */
  shouldStop?: () => boolean;
}

/** Count of rows of logits whose largest entry is the label. */
export function countCorrect(logits: Tensor, labels: Int32Array): number {
  const predicted = noGrad(() => argmax(logits, 1)).toArray();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

/** The batches of one epoch: from a DataLoader (prepared ahead), or cut from an in-memory dataset here. */
function epochBatches(
  data: ArrayDataset | DataLoader,
  opts: LoopOptions,
  shuffle: boolean,
  skip: number,
): Iterable<Batch> | AsyncIterable<Batch> {
  if (data instanceof DataLoader) return data.epoch({ order: opts.generator, augmentation: opts.augmentation, skip });
  return batches(data, {
    batchSize: opts.batchSize,
    shuffle,
    generator: opts.generator,
    skip,
    transform: opts.transform,
  });
}

async function runEpoch(
  model: Module,
  data: ArrayDataset | DataLoader,
  opts: LoopOptions,
  train: ((inputs: Tensor, labels: Int32Array) => StepResult) | null,
): Promise<EpochResult> {
  const started = performance.now();
  const total = data instanceof DataLoader ? data.length : batchCount(data, opts.batchSize);
  let lossSum = opts.start?.lossSum ?? 0;
  let correct = opts.start?.correct ?? 0;
  let samples = opts.start?.samples ?? 0;
  let done = opts.start?.batches ?? 0;
  let stopped = false;
  const shuffle = train !== null && (opts.shuffle ?? true);
  for await (const batch of epochBatches(data, opts, shuffle, done)) {
    // The step only queues work on the native backend; awaiting synchronize() lets it run on the
    // worker thread while the event loop stays free, then the two small reads are immediate.
    // Evaluation records no graph; noGrad wraps each batch, since it cannot span an await.
    const pending =
      train?.(batch.inputs, batch.labels) ??
      noGrad(() =>
        scope(() => {
          const logits = model.call(batch.inputs);
          return { loss: crossEntropy(logits, batch.labels).detach(), logits: logits.detach() };
        }),
      );
    batch.inputs.dispose();
    await synchronize();
    const result = { loss: pending.loss.item(), correct: countCorrect(pending.logits, batch.labels) };
    pending.loss.dispose();
    pending.logits.dispose();
    const n = batch.labels.length;
    lossSum += result.loss * n;
    correct += result.correct;
    samples += n;
    done++;
    opts.onBatch?.(done, total, { loss: lossSum / samples, accuracy: correct / samples, samples });
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.shouldStop?.() && done < total) {
      stopped = true;
      break;
    }
  }
  return {
    loss: lossSum / samples,
    accuracy: correct / samples,
    samples,
    seconds: (performance.now() - started) / 1000,
    batches: done,
    lossSum,
    correct,
    stopped,
  };
}

/**
 * One training epoch: model.train(), then zeroGrad, forward, loss, backward, step per batch; on
 * the native backend each batch shape's step is recorded once and replayed (recordTrainingStep).
 */
export function trainEpoch(
  model: Module,
  optimizer: Optimizer,
  data: ArrayDataset | DataLoader,
  opts: LoopOptions,
): Promise<EpochResult> {
  model.train();
  const steps = trainingSteps(model, optimizer, opts.labelSmoothing ?? 0);
  return runEpoch(model, data, opts, (inputs, labels) => steps.step(inputs, labels));
}

/** A model's recorded steps, kept from epoch to epoch (for one optimiser and one loss). */
const recordedSteps = new WeakMap<
  Module,
  { optimizer: Optimizer; labelSmoothing: number; steps: RecordedTrainingStep }
>();
function trainingSteps(model: Module, optimizer: Optimizer, labelSmoothing: number): RecordedTrainingStep {
  const kept = recordedSteps.get(model);
  if (kept?.optimizer === optimizer && kept.labelSmoothing === labelSmoothing) return kept.steps;
  kept?.steps.dispose();
  const smoothing = labelSmoothing ? { labelSmoothing } : {};
  const steps = recordTrainingStep(model as TensorModule, optimizer, {
    loss: (logits, labels) => crossEntropy(logits, labels, smoothing),
  });
  recordedSteps.set(model, { optimizer, labelSmoothing, steps });
  return steps;
}

/** Loss and accuracy in eval mode without recording gradients. */
export function evaluate(model: Module, data: ArrayDataset | DataLoader, opts: LoopOptions): Promise<EpochResult> {
  model.eval();
  return runEpoch(model, data, opts, null);
}
