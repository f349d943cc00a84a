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
import { batches, batchCount, type ArrayDataset } from '../data/dataset.js';
import type { Module } from '../nn/module.js';
import { crossEntropy } from '../ops/cross-entropy.js';
import { argmax } from '../ops/reduce.js';
import type { Optimizer } from './optimizer.js';

export interface EpochResult {
  /** Mean loss over the samples seen. */
  loss: number;
  accuracy: number;
  samples: number;
  seconds: number;
}

export interface LoopOptions {
  batchSize: number;
  /** Shuffle training batches (default true for training, never for evaluation). */
  shuffle?: boolean;
  generator?: Generator;
  /** Called after every batch with the batches done, the total, and the running figures. */
  onBatch?: (done: number, total: number, running: { loss: number; accuracy: number }) => void;
}

/** Count of rows of logits whose largest entry is the label. */
export function countCorrect(logits: Tensor, labels: Int32Array): number {
  const predicted = noGrad(() => argmax(logits, 1)).toArray();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct;
}

async function runEpoch(
  model: Module,
  data: ArrayDataset,
  opts: LoopOptions,
  step: ((loss: Tensor) => void) | null,
): Promise<EpochResult> {
  const started = performance.now();
  const total = batchCount(data, opts.batchSize);
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  let done = 0;
  const shuffle = step !== null && (opts.shuffle ?? true);
  for (const batch of batches(data, { batchSize: opts.batchSize, shuffle, generator: opts.generator })) {
    // The step only queues work on the native backend; awaiting synchronize() lets it run on the
    // worker thread while the event loop stays free, then the two small reads are immediate.
    const body = (): { loss: Tensor; logits: Tensor } =>
      scope(() => {
        const logits = model.call(batch.inputs);
        const loss = crossEntropy(logits, batch.labels);
        step?.(loss);
        return { loss: loss.detach(), logits: logits.detach() };
      });
    // Evaluation records no graph; noGrad wraps each batch, since it cannot span an await.
    const pending = step ? body() : noGrad(body);
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
    opts.onBatch?.(done, total, { loss: lossSum / samples, accuracy: correct / samples });
    await new Promise((resolve) => setImmediate(resolve));
  }
  return {
    loss: lossSum / samples,
    accuracy: correct / samples,
    samples,
    seconds: (performance.now() - started) / 1000,
  };
}

/** One training epoch: model.train(), then zeroGrad, forward, loss, backward, step per batch. */
export function trainEpoch(
  model: Module,
  optimizer: Optimizer,
  data: ArrayDataset,
  opts: LoopOptions,
): Promise<EpochResult> {
  model.train();
  return runEpoch(model, data, opts, (loss) => {
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
  });
}

/** Loss and accuracy in eval mode without recording gradients. */
export function evaluate(model: Module, data: ArrayDataset, opts: LoopOptions): Promise<EpochResult> {
  model.eval();
  return runEpoch(model, data, opts, null);
}
