import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setBackend } from '../../src/backend/registry.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

// float64 checks against hand computations: the reference backend is their home, whatever the default.
setBackend('ref');

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-9): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

const f64 = (values: number[], shape: number[]): Tensor => ops.fromArray(values, shape, { dtype: 'float64' });

/** Batch norm written out with loops over (n, c, s): the independent reference. */
function handBatchNorm(
  x: Tensor,
  gamma: ArrayLike<number> | null,
  beta: ArrayLike<number> | null,
  stats: { mean: number[]; variance: number[] } | null,
  eps = 1e-5,
): number[] {
  const X = x.toArray();
  const [N, C] = x.shape;
  const S = x.size / (N * C);
  const at = (n: number, c: number, s: number): number => (n * C + c) * S + s;
  const out = new Array<number>(X.length);
  for (let c = 0; c < C; c++) {
    let mean: number;
    let variance: number;
    if (stats) {
      mean = stats.mean[c];
      variance = stats.variance[c];
    } else {
      let sum = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sum += X[at(n, c, s)];
      mean = sum / (N * S);
      let sq = 0;
      for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) sq += (X[at(n, c, s)] - mean) ** 2;
      variance = sq / (N * S);
    }
    for (let n = 0; n < N; n++) {
      for (let s = 0; s < S; s++) {
        out[at(n, c, s)] =
          ((X[at(n, c, s)] - mean) / Math.sqrt(variance + eps)) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
      }
    }
  }
  return out;
}

describe('batchNorm forward', () => {
  it('training mode normalises with the biased batch variance, [N, C, H, W] and [N, C]', () => {
    const x4 = rand64([3, 2, 2, 3], 11, false);
    const w = [1.5, -0.5];
    const b = [0.25, 2];
    close(ops.batchNorm(x4, { weight: f64(w, [2]), bias: f64(b, [2]) }).toArray(), handBatchNorm(x4, w, b, null));
    close(ops.batchNorm(x4).toArray(), handBatchNorm(x4, null, null, null));
    const x2 = rand64([5, 3], 12, false);
    close(ops.batchNorm(x2, { eps: 0.1 }).toArray(), handBatchNorm(x2, null, null, null, 0.1));
  });

  it('a two-element channel becomes -1 and +1 (biased variance: std = half the gap)', () => {
    const y = ops.batchNorm(f64([1, 10, 3, 20], [2, 2]), { eps: 0 });
    close(y.toArray(), [-1, -1, 1, 1], 1e-12);
  });

  it('updates running statistics in place with the unbiased variance, over two steps', () => {
    const runningMean = ops.zeros([2], { dtype: 'float64' });
    const runningVar = ops.ones([2], { dtype: 'float64' });
    const sameMean = runningMean;
    // Step 1, channels {1, 3} and {10, 20}: means 2 and 15, unbiased variances 2 and 50.
    ops.batchNorm(f64([1, 10, 3, 20], [2, 2]), { runningMean, runningVar });
    close(runningMean.toArray(), [0.9 * 0 + 0.1 * 2, 0.9 * 0 + 0.1 * 15]);
    close(runningVar.toArray(), [0.9 * 1 + 0.1 * 2, 0.9 * 1 + 0.1 * 50]);
    // Step 2, channels {0, 4, 2} and {-4, 4, 0}: means 2 and 0, unbiased variances 8/2 and 32/2.
    // (torch 1.13's F.batch_norm on the same two batches gives 0.38, 1.35 and 1.39, 6.91.)
    ops.batchNorm(f64([0, -4, 4, 4, 2, 0], [3, 2]), { runningMean, runningVar });
    close(runningMean.toArray(), [0.9 * 0.2 + 0.1 * 2, 0.9 * 1.5 + 0.1 * 0]);
    close(runningVar.toArray(), [0.9 * 1.1 + 0.1 * 4, 0.9 * 5.9 + 0.1 * 16]);
    assert.equal(runningMean, sameMean, 'the buffer keeps its identity');
  });

  it('honours momentum, and counts spatial positions in the unbiased correction', () => {
    const runningMean = ops.zeros([1], { dtype: 'float64' });
    const runningVar = ops.zeros([1], { dtype: 'float64' });
    // One channel, values 0, 2, 4, 6 over N = 2 and 2 spatial positions: mean 3, unbiased variance 20/3.
    ops.batchNorm(f64([0, 2, 4, 6], [2, 1, 2]), { runningMean, runningVar, momentum: 0.5 });
    close(runningMean.toArray(), [1.5]);
    close(runningVar.toArray(), [0.5 * (20 / 3)]);
  });

  it('eval mode uses the running statistics and leaves them alone', () => {
    const x = rand64([2, 3, 2, 2], 13, false);
    const mean = [0.5, -1, 0];
    const variance = [2, 0.25, 1];
    const w = [1, 2, 3];
    const b = [0, -1, 1];
    const runningMean = f64(mean, [3]);
    const runningVar = f64(variance, [3]);
    const y = ops.batchNorm(x, { weight: f64(w, [3]), bias: f64(b, [3]), runningMean, runningVar, training: false });
    close(y.toArray(), handBatchNorm(x, w, b, { mean, variance }));
    close(runningMean.toArray(), mean);
    close(runningVar.toArray(), variance);
  });

  it('float32 agrees with float64', () => {
    const x = rand64([4, 3, 5], 14, false);
    const y32 = ops.batchNorm(ops.cast(x, 'float32'));
    assert.equal(y32.dtype, 'float32');
    close(y32.toArray(), handBatchNorm(x, null, null, null), 1e-5);
  });

  it('runs on the shape-only backend, running statistics included', () => {
    const meta = { backend: 'meta' } as const;
    const y = ops.batchNorm(ops.zeros([2, 4, 3, 3], meta), {
      weight: ops.ones([4], meta),
      runningMean: ops.zeros([4], meta),
      runningVar: ops.ones([4], meta),
    });
    assert.deepEqual(y.shape, [2, 4, 3, 3]);
  });
});

describe('batchNorm gradients', () => {
  it('training mode with affine, [N, C, H, W] and [N, C]', () => {
    gradCheck(
      (x, w, b) => ops.batchNorm(x, { weight: w, bias: b }),
      [rand64([2, 3, 2, 2], 21), rand64([3], 22), rand64([3], 23)],
    );
    gradCheck(
      (x, w, b) => ops.batchNorm(x, { weight: w, bias: b }),
      [rand64([4, 3], 24), rand64([3], 25), rand64([3], 26)],
    );
  });

  it('training mode without affine, with running statistics being updated on the side', () => {
    const runningMean = ops.zeros([3], { dtype: 'float64' });
    const runningVar = ops.ones([3], { dtype: 'float64' });
    gradCheck((x) => ops.batchNorm(x, { runningMean, runningVar }), [rand64([2, 3, 3, 2], 27)]);
    gradCheck((x) => ops.batchNorm(x), [rand64([5, 2], 28)]);
  });

  it('weight without bias and bias without weight', () => {
    gradCheck((x, w) => ops.batchNorm(x, { weight: w }), [rand64([3, 2, 4], 29), rand64([2], 30)]);
    gradCheck((x, b) => ops.batchNorm(x, { bias: b }), [rand64([3, 2, 4], 31), rand64([2], 32)]);
  });

  it('eval mode (statistics are constants)', () => {
    const runningMean = f64([0.3, -0.2, 0.1], [3]);
    const runningVar = f64([0.5, 1.5, 2], [3]);
    gradCheck(
      (x, w, b) => ops.batchNorm(x, { weight: w, bias: b, runningMean, runningVar, training: false }),
      [rand64([2, 3, 2, 2], 33), rand64([3], 34), rand64([3], 35)],
    );
    gradCheck((x) => ops.batchNorm(x, { runningMean, runningVar, training: false }), [rand64([4, 3], 36)]);
  });

  it('fused relu: numerical gradients in training, and exactly the two ops in training and in eval with gradients', () => {
    gradCheck(
      (x, w, b) => ops.batchNorm(x, { weight: w, bias: b, relu: true }),
      [rand64([2, 3, 2, 2], 39), rand64([3], 40), rand64([3], 41)],
    );
    const runningMean = f64([0.3, -0.2, 0.1], [3]);
    const runningVar = f64([0.5, 1.5, 2], [3]);
    for (const training of [true, false]) {
      const grads = (fused: boolean): number[][] => {
        const inputs = [rand64([3, 3, 2, 2], 42), rand64([3], 43), rand64([3], 44)];
        const [x, weight, bias] = inputs;
        const opts = {
          weight,
          bias,
          runningMean: training ? null : runningMean,
          runningVar: training ? null : runningVar,
          training,
        };
        const y = fused ? ops.batchNorm(x, { ...opts, relu: true }) : ops.relu(ops.batchNorm(x, opts));
        ops.sum(ops.mul(y, ops.reshape(ops.arange(0, y.size, 1, { dtype: 'float64' }), y.shape))).backward();
        return [[...y.toArray()], ...inputs.map((t) => [...(t.grad as Tensor).toArray()])];
      };
      assert.deepEqual(grads(true), grads(false), `training: ${training}`);
    }
  });

  it('only the inputs that require a gradient get one', () => {
    const x = rand64([3, 2], 37, false);
    const w = rand64([2], 38);
    ops.sum(ops.batchNorm(x, { weight: w })).backward();
    assert.ok(w.grad);
    assert.equal(x.grad, null);
  });
});

describe('batchNorm errors', () => {
  it('names mismatched channel counts', () => {
    const x = ops.zeros([2, 4, 3, 3]);
    assert.throws(
      () => ops.batchNorm(x, { weight: ops.ones([3]) }),
      /^ShapeError: batchNorm: weight has 3 channels, input has 4$/,
    );
    assert.throws(() => ops.batchNorm(x, { bias: ops.ones([5]) }), /batchNorm: bias has 5 channels, input has 4/);
    assert.throws(
      () => ops.batchNorm(x, { runningMean: ops.zeros([4]), runningVar: ops.ones([2]) }),
      /batchNorm: runningVar has 2 channels, input has 4/,
    );
  });

  it('eval mode without running statistics', () => {
    assert.throws(
      () => ops.batchNorm(ops.zeros([2, 3]), { training: false }),
      /batchNorm: eval mode \(training: false\) needs runningMean and runningVar/,
    );
    assert.throws(
      () => ops.batchNorm(ops.zeros([2, 3]), { runningMean: ops.zeros([3]) }),
      /batchNorm: runningMean and runningVar go together; got only runningMean/,
    );
  });

  it('one value per channel in training mode, but not in eval mode', () => {
    assert.throws(
      () => ops.batchNorm(ops.zeros([1, 3])),
      /batchNorm: expected more than 1 value per channel when training, got input of shape \[1, 3\]/,
    );
    assert.throws(() => ops.batchNorm(ops.zeros([1, 3, 1, 1])), /more than 1 value per channel/);
    const y = ops.batchNorm(ops.zeros([1, 3]), {
      runningMean: ops.zeros([3]),
      runningVar: ops.ones([3]),
      training: false,
    });
    assert.deepEqual(y.shape, [1, 3]);
  });

  it('inputs of rank < 2, and mixed dtypes', () => {
    assert.throws(
      () => ops.batchNorm(ops.zeros([4])),
      /batchNorm: expected an input of rank >= 2 \(\[N, C, \.\.\.\]\), got \[4\]/,
    );
    assert.throws(
      () => ops.batchNorm(ops.zeros([2, 3]), { weight: ops.ones([3], { dtype: 'float64' }) }),
      /batchNorm: operands have different dtypes/,
    );
  });
});

/** LRN by the formula (checked against torch.nn.functional.local_response_norm, sizes 1 to 5). */
function handLrn(x: Tensor, size: number, alpha: number, beta: number, k: number): number[] {
  const X = x.toArray();
  const [N, C] = x.shape;
  const S = x.size / (N * C);
  const out = new Array<number>(X.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let s = 0; s < S; s++) {
        let sum = 0;
        for (let j = c - Math.floor(size / 2); j <= c + Math.floor((size - 1) / 2); j++) {
          if (j >= 0 && j < C) sum += X[(n * C + j) * S + s] ** 2;
        }
        out[(n * C + c) * S + s] = X[(n * C + c) * S + s] / (k + (alpha / size) * sum) ** beta;
      }
    }
  }
  return out;
}

describe('localResponseNorm', () => {
  it('matches the formula for odd and even sizes, rank 3 and 4', () => {
    const x3 = rand64([2, 7, 3], 41, false);
    const x4 = rand64([1, 6, 2, 2], 42, false);
    for (const size of [1, 2, 3, 4, 5, 8]) {
      close(
        ops.localResponseNorm(x3, { size, alpha: 0.5, beta: 0.75, k: 1 }).toArray(),
        handLrn(x3, size, 0.5, 0.75, 1),
      );
      close(ops.localResponseNorm(x4, { size, alpha: 0.9, beta: 1.5, k: 2 }).toArray(), handLrn(x4, size, 0.9, 1.5, 2));
    }
  });

  it('defaults are alpha 1e-4, beta 0.75, k 1 (with k = 1 and tiny alpha it is nearly the identity)', () => {
    const x = rand64([1, 5, 4], 43, false);
    close(ops.localResponseNorm(x, { size: 5 }).toArray(), handLrn(x, 5, 1e-4, 0.75, 1));
    close(ops.localResponseNorm(x, { size: 5 }).toArray(), x.toArray(), 1e-4);
  });

  it('gradients for odd and even sizes', () => {
    for (const size of [1, 2, 3, 4, 5]) {
      gradCheck(
        (x) => ops.localResponseNorm(x, { size, alpha: 0.5, beta: 0.75, k: 1 }),
        [rand64([2, 5, 3], 44 + size)],
      );
    }
    gradCheck((x) => ops.localResponseNorm(x, { size: 4, alpha: 1.2, beta: 2, k: 0.5 }), [rand64([1, 6, 2, 2], 50)]);
  });

  it('rejects inputs of rank < 3 and bad sizes', () => {
    assert.throws(
      () => ops.localResponseNorm(ops.zeros([2, 3]), { size: 2 }),
      /localResponseNorm: expected an input of rank >= 3 \(\[N, C, \.\.\.spatial\]\), got \[2, 3\]/,
    );
    assert.throws(
      () => ops.localResponseNorm(ops.zeros([1, 3, 2]), { size: 0 }),
      /localResponseNorm: size must be a positive integer, got 0/,
    );
    assert.throws(
      () => ops.localResponseNorm(ops.zeros([1, 3, 2]), { size: 2.5 }),
      /size must be a positive integer, got 2.5/,
    );
  });
});
