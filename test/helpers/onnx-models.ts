/** Models and weights shared by the ONNX export and import tests. */
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { Flatten } from '../../src/nn/flatten.js';
import { Linear } from '../../src/nn/linear.js';
import { LocalResponseNorm } from '../../src/nn/local-response-norm.js';
import type { TensorModule } from '../../src/nn/module.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../../src/nn/pooling.js';
import { normal, uniform } from '../../src/ops/creation.js';

/** Random biases, batch-norm scales and running statistics, so none of them is a no-op. */
export function perturb(model: TensorModule): void {
  noGrad(() => {
    const set = (t: Tensor, v: Tensor): void => {
      t.assign(v);
      v.dispose();
    };
    const backend = (t: Tensor) => ({ backend: t.backend.name });
    for (const [name, t] of model.namedParameters()) {
      if (name.endsWith('bias')) set(t, normal(t.shape, 0, 0.1, backend(t)));
      else if (t.ndim === 1) set(t, uniform(t.shape, 0.5, 1.5, backend(t)));
    }
    for (const [name, t] of model.namedBuffers()) {
      if (name.endsWith('running_mean')) set(t, uniform(t.shape, -0.2, 0.2, backend(t)));
      if (name.endsWith('running_var')) set(t, uniform(t.shape, 0.5, 2, backend(t)));
    }
  });
}

/**
 * The pooling edge cases, for inputs [3, 23, 19]: asymmetric conv padding, ceil mode with
 * padding, count_include_pad both ways, LRN, adaptive pooling with uneven bins.
 */
export function poolingEdgeCases(): Sequential {
  return new Sequential(
    new Conv2d(3, 6, 3, { padding: [0, 1, 1, 2] }),
    new MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
    new AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: true }),
    new AvgPool2d(2, { stride: 2, ceilMode: true, countIncludePad: false }),
    new LocalResponseNorm(3, { alpha: 0.01, beta: 0.75, k: 2 }),
    new AdaptiveAvgPool2d([3, 2]),
    new Flatten(),
    new Linear(36, 4),
  );
}
