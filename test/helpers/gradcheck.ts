/**
 * Central-difference gradient checks in float64 on the reference backend. The checked scalar is
 * sum(f(inputs) * R) for a fixed random R, so every output element carries a different upstream
 * gradient and mistakes in the backward pass cannot cancel out.
 */
import assert from 'node:assert/strict';
import { data } from '../../src/backend/ref/storage.js';
import { Generator } from '../../src/core/random.js';
import { noGrad } from '../../src/core/grad-mode.js';
import type { Tensor } from '../../src/core/tensor.js';
import { fromArray } from '../../src/ops/creation.js';
import { mul } from '../../src/ops/arithmetic.js';
import { sum } from '../../src/ops/reduce.js';

export interface GradCheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the random projection R. */
  seed?: number;
}

/** Random float64 tensor with requiresGrad, values in [-1, 1). */
export function rand64(shape: readonly number[], seed = 1, requiresGrad = true): Tensor {
  const g = new Generator(seed);
  const values = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g.uniform() * 2 - 1);
  return fromArray(values, shape, { dtype: 'float64', backend: 'ref', requiresGrad });
}

export function gradCheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradCheckOptions = {}): void {
  const { eps = 1e-6, atol = 1e-7, rtol = 1e-5, seed = 7 } = opts;
  for (const x of inputs) assert.equal(x.dtype, 'float64', 'gradient checks run in float64');
  const out = f(...inputs);
  const rng = new Generator(seed);
  const r = fromArray(
    Float64Array.from({ length: out.size }, () => rng.uniform() * 2 - 1),
    out.shape,
    { dtype: 'float64', backend: 'ref' },
  );
  const objective = (): number => noGrad(() => sum(mul(f(...inputs), r)).item());
  for (const x of inputs) x.grad = null;
  sum(mul(out, r)).backward();
  inputs.forEach((x, which) => {
    if (!x.requiresGrad) return;
    assert.ok(x.grad, `input ${which} got no gradient`);
    const analytic = x.grad.toArray();
    const values = data(x.storage);
    for (let i = 0; i < values.length; i++) {
      const keep = values[i];
      values[i] = keep + eps;
      const up = objective();
      values[i] = keep - eps;
      const down = objective();
      values[i] = keep;
      const numeric = (up - down) / (2 * eps);
      const tol = atol + rtol * Math.abs(numeric);
      if (Math.abs(analytic[i] - numeric) > tol) {
        assert.fail(
          `input ${which} element ${i}: analytic gradient ${analytic[i]} vs numeric ${numeric} (shape [${x.shape}])`,
        );
      }
    }
  });
}
