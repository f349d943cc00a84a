/**
 * `nn.prepare(model, shape)`: pays a model's first-pass costs before the first real request, for
 * servers. The native backend creates its oneDNN plans and reorders weights into blocked layouts
 * (inference folds batch norms into them) on the first pass at each input shape; one throwaway
 * pass does that work up front, so the first user's request runs at the steady speed.
 */
import { ArgumentError } from '../core/errors.js';
import { noGrad } from '../core/grad-mode.js';
import { scope } from '../core/scope.js';
import { zeros } from '../ops/creation.js';
import type { TensorModule } from './module.js';

/**
 * Runs one inference pass (eval mode, no graph) of `model` on zeros of `inputShape` (batch
 * included, e.g. [1, 3, 224, 224]) on the model's backend, and waits for it. The model's training
 * mode and the grad mode are restored; parameters and buffers are not changed (eval mode leaves
 * batch-norm statistics alone). Call it again for each further input shape the server expects.
 */
export function prepare(model: TensorModule, inputShape: readonly number[]): void {
  if (inputShape.length === 0 || !inputShape.every((n) => Number.isInteger(n) && n > 0))
    throw new ArgumentError('nn.prepare', `inputShape must be positive integers, got [${inputShape.join(', ')}]`);
  const first = model.parameters()[0] ?? model.buffers()[0];
  const wasTraining = model.training;
  model.eval();
  try {
    scope(() =>
      noGrad(() => {
        const x = zeros(inputShape, { backend: first?.backend.name, dtype: first?.dtype });
        model.call(x).toArray(); // reading the output waits for the queued work (plans, reorders)
      }),
    );
  } finally {
    model.train(wasTraining);
  }
}
