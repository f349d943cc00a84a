/**
 * What the eval and predict commands compute with a trained classifier: the confusion matrix and
 * summed loss over a data set, one sample's class probabilities, and whether a model takes an
 * input shape (tried on the shape-only meta backend).
 */
import { synchronize, withBackend } from '../backend/registry.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import type { Shape } from '../core/shape.js';
import { type ArrayDataset, type BatchTransform, batches } from '../data/dataset.js';
import type { TensorModule } from '../nn/module.js';
import { fromArray, zeros } from '../ops/creation.js';
import { crossEntropy } from '../ops/cross-entropy.js';
import { argmax } from '../ops/reduce.js';
import { softmax } from '../ops/softmax.js';

export type { TensorModule };

export interface ConfusionResult {
  /** confusion[true][predicted]: counts. */
  confusion: number[][];
  /** Sum over the samples of the cross-entropy loss. */
  lossSum: number;
  samples: number;
}

/** Runs the model in eval mode over `data` (no gradients) and counts true x predicted classes. */
export async function confusionMatrix(
  model: TensorModule,
  data: ArrayDataset,
  opts: { batchSize: number; transform?: BatchTransform },
): Promise<ConfusionResult> {
  const classes = data.classes.length;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let lossSum = 0;
  model.eval();
  for (const batch of batches(data, { batchSize: opts.batchSize, transform: opts.transform })) {
    const { loss, predicted } = noGrad(() =>
      scope(() => {
        const logits = model.call(batch.inputs);
        return {
          loss: crossEntropy(logits, batch.labels).detach(),
          predicted: argmax(logits, 1).detach(),
        };
      }),
    );
    batch.inputs.dispose();
    await synchronize();
    lossSum += loss.item() * batch.labels.length;
    const p = predicted.toArray();
    batch.labels.forEach((label, i) => {
      confusion[label][p[i]]++;
    });
    loss.dispose();
    predicted.dispose();
  }
  return { confusion, lossSum, samples: data.labels.length };
}

/** Softmax probabilities of one sample (values of shape `shape`, without the batch dimension). */
export async function classProbabilities(
  model: TensorModule,
  sample: Float32Array,
  shape: Shape,
): Promise<Float32Array | Float64Array> {
  model.eval();
  const probabilities = noGrad(() => scope(() => softmax(model.call(fromArray(sample, [1, ...shape])), 1).detach()));
  await synchronize();
  const p = probabilities.toArray();
  probabilities.dispose();
  return p;
}

/** null when the model (built on the meta backend) takes one input of `shape`; else why not. */
export function refusesInput(metaModel: TensorModule, shape: Shape): string | null {
  try {
    withBackend('meta', () => metaModel.call(zeros([1, ...shape])));
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
