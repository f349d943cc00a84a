import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

const f64 = (rows: number[][]): Tensor => ops.tensor(rows, { dtype: 'float64' });

/**
 * Per-row cross entropy by hand: -log softmax, smoothed as PyTorch's label_smoothing defines
 * (agrees with torch 1.13's F.cross_entropy on LOGITS for smoothing 0, 0.1 and 1).
 */
function handCrossEntropy(rows: number[][], target: number[], smoothing = 0): number[] {
  return rows.map((row, i) => {
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    const nll = lse - row[target[i]];
    const uniform = row.reduce((s, v) => s + (lse - v), 0) / row.length;
    return (1 - smoothing) * nll + smoothing * uniform;
  });
}

const LOGITS = [
  [1, 2, 3],
  [1, 1, 1],
  [-2, 0.5, 4],
];
const TARGET = [2, 0, 1];

describe('crossEntropy', () => {
  it('softmax of [1, 2, 3] gives the last class 0.6652, so its loss is -log(0.6652) = 0.4076', () => {
    close(
      [ops.crossEntropy(f64([[1, 2, 3]]), [2]).item()],
      [-Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)))],
    );
    assert.ok(Math.abs(ops.crossEntropy(f64([[1, 2, 3]]), [2]).item() - 0.4076) < 1e-4);
    // Equal logits: log(C) whatever the target.
    close([ops.crossEntropy(f64([[1, 1, 1, 1]]), [3]).item()], [Math.log(4)]);
  });

  it('each reduction, with and without label smoothing', () => {
    for (const smoothing of [0, 0.1, 1]) {
      const rows = handCrossEntropy(LOGITS, TARGET, smoothing);
      const total = rows.reduce((a, b) => a + b, 0);
      const opts = { labelSmoothing: smoothing };
      close(ops.crossEntropy(f64(LOGITS), TARGET, { ...opts, reduction: 'none' }).toArray(), rows);
      close([ops.crossEntropy(f64(LOGITS), TARGET, { ...opts, reduction: 'sum' }).item()], [total]);
      close([ops.crossEntropy(f64(LOGITS), TARGET, opts).item()], [total / 3]);
    }
    assert.deepEqual(ops.crossEntropy(f64(LOGITS), TARGET, { reduction: 'none' }).shape, [3]);
    assert.deepEqual(ops.crossEntropy(f64(LOGITS), TARGET).shape, []);
  });

  it('accepts targets as number[], Int32Array and a tensor', () => {
    const expected = ops.crossEntropy(f64(LOGITS), TARGET).item();
    close([ops.crossEntropy(f64(LOGITS), Int32Array.from(TARGET)).item()], [expected]);
    close([ops.crossEntropy(f64(LOGITS), ops.tensor(TARGET)).item()], [expected]);
  });

  it('float32 logits', () => {
    const loss = ops.crossEntropy(ops.tensor(LOGITS), TARGET);
    assert.equal(loss.dtype, 'float32');
    close([loss.item()], [handCrossEntropy(LOGITS, TARGET).reduce((a, b) => a + b) / 3], 1e-6);
  });

  it('the gradient of the mean loss is (softmax - onehot) / N, and only logits get one', () => {
    const logits = f64(LOGITS).requireGrad();
    const target = ops.tensor(TARGET, { dtype: 'float64', requiresGrad: true });
    ops.crossEntropy(logits, target).backward();
    const expected = LOGITS.flatMap((row, i) => {
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      return row.map((v, c) => (Math.exp(v) / z - (c === TARGET[i] ? 1 : 0)) / 3);
    });
    assert.ok(logits.grad);
    close(logits.grad.toArray(), expected);
    assert.equal(target.grad, null);
  });

  it('numerical gradients for every reduction, with and without smoothing', () => {
    const target = [3, 0, 1, 3];
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      for (const labelSmoothing of [0, 0.2]) {
        gradCheck((x) => ops.crossEntropy(x, target, { reduction, labelSmoothing }), [rand64([4, 5], 60)]);
      }
    }
  });

  it('runs on the shape-only backend', () => {
    const meta = { backend: 'meta' } as const;
    assert.deepEqual(ops.crossEntropy(ops.zeros([4, 10], meta), ops.zeros([4], meta)).shape, []);
  });
});

describe('nllLoss', () => {
  it('picks -logProbs[i, t_i] and reduces', () => {
    const logp = f64([
      [-0.5, -1, -2],
      [-3, -0.1, -4],
    ]);
    close(ops.nllLoss(logp, [1, 2], { reduction: 'none' }).toArray(), [1, 4]);
    close([ops.nllLoss(logp, [1, 2], { reduction: 'sum' }).item()], [5]);
    close([ops.nllLoss(logp, [1, 2]).item()], [2.5]);
    // Smoothing 0.5 mixes in the row's mean of -logp: (1 + 3.5/3) / 2 and (4 + 7.1/3) / 2.
    close(ops.nllLoss(logp, [1, 2], { reduction: 'none', labelSmoothing: 0.5 }).toArray(), [
      (1 + 3.5 / 3) / 2,
      (4 + 7.1 / 3) / 2,
    ]);
  });

  it('a -Infinity log-probability in another class does not poison the loss without smoothing', () => {
    close([ops.nllLoss(f64([[0, -Infinity]]), [0]).item()], [0]);
  });

  it('numerical gradients', () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      gradCheck((x) => ops.nllLoss(x, [0, 2, 2], { reduction, labelSmoothing: 0.3 }), [rand64([3, 3], 61)]);
      gradCheck((x) => ops.nllLoss(x, [1, 0, 2], { reduction }), [rand64([3, 3], 62)]);
    }
  });
});

describe('loss errors', () => {
  const logits = ops.zeros([2, 3]);
  it('targets out of range, not integers, or of the wrong length', () => {
    assert.throws(
      () => ops.crossEntropy(logits, [0, 3]),
      /^ArgumentError: crossEntropy: target 1 is 3, expected an integer class index in \[0, 3\)$/,
    );
    assert.throws(
      () => ops.crossEntropy(logits, [-1, 0]),
      /crossEntropy: target 0 is -1, expected an integer class index in \[0, 3\)/,
    );
    assert.throws(
      () => ops.nllLoss(logits, ops.tensor([0.5, 1])),
      /nllLoss: target 0 is 0.5, expected an integer class index/,
    );
    assert.throws(
      () => ops.crossEntropy(logits, [0, 1, 2]),
      /crossEntropy: got 3 targets for 2 rows; expected one class index per row/,
    );
    assert.throws(
      () => ops.crossEntropy(logits, ops.zeros([2, 1])),
      /crossEntropy: target must have shape \[2\] \(one class index per row\), got \[2, 1\]/,
    );
  });

  it('logits that are not [N, C], bad reductions and smoothing', () => {
    assert.throws(
      () => ops.crossEntropy(ops.zeros([3]), [0]),
      /crossEntropy: expected logits of shape \[N, C\], got \[3\]/,
    );
    assert.throws(
      () => ops.nllLoss(ops.zeros([1, 2, 3]), [0]),
      /nllLoss: expected log-probabilities of shape \[N, C\], got \[1, 2, 3\]/,
    );
    assert.throws(
      // @ts-expect-error: an invalid reduction, as untyped callers could pass
      () => ops.crossEntropy(logits, [0, 1], { reduction: 'avg' }),
      /crossEntropy: reduction must be 'mean', 'sum' or 'none', got 'avg'/,
    );
    assert.throws(
      () => ops.crossEntropy(logits, [0, 1], { labelSmoothing: 1.5 }),
      /crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/,
    );
  });
});
