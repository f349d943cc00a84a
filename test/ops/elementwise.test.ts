import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kernels } from '../../src/backend/backend.js';
import type { Storage } from '../../src/core/storage.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

describe('elementwise ops', () => {
  it('broadcast add/mul/sub/div match hand-computed values', () => {
    const a = ops.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = ops.tensor([10, 20, 30]);
    close(ops.add(a, b).toArray(), [11, 22, 33, 14, 25, 36]);
    close(ops.mul(a, ops.tensor([[2], [3]])).toArray(), [2, 4, 6, 12, 15, 18]);
    close(ops.sub(b, a).toArray(), [9, 18, 27, 6, 15, 24]);
    close(ops.div(a, 2).toArray(), [0.5, 1, 1.5, 2, 2.5, 3]);
    assert.deepEqual(ops.add(a, b).shape, [2, 3]);
  });

  it('rejects shapes that cannot broadcast, naming both shapes', () => {
    assert.throws(
      () => ops.add(ops.zeros([2, 3]), ops.zeros([4])),
      /add: shapes \[2, 3\] and \[4\] cannot be broadcast/,
    );
  });

  it('gradients of broadcasting binary ops', () => {
    for (const f of [ops.add, ops.sub, ops.mul, ops.div, ops.maximum, ops.minimum]) {
      gradCheck((x, y) => f(x, y), [rand64([2, 3, 4], 1), rand64([3, 1], 2)]);
    }
  });

  it('gradients of unary ops', () => {
    const pos = ops
      .add(ops.abs(rand64([3, 4], 3, false)), 0.5)
      .detach()
      .requireGrad();
    gradCheck((x) => ops.log(x), [pos]);
    gradCheck((x) => ops.sqrt(x), [pos]);
    gradCheck((x) => ops.pow(x, 2.5), [pos]);
    for (const f of [ops.exp, ops.neg, ops.square, ops.relu, ops.sigmoid, ops.tanh, ops.abs])
      gradCheck((x) => f(x), [rand64([3, 5], 4)]);
    gradCheck((x) => ops.clamp(x, -0.3, 0.4), [rand64([4, 4], 5)]);
  });

  it('addRelu: relu(add) exactly (NaN, infinities, -0), its gradients, and a broadcast as the two ops', () => {
    const a = ops.fromArray([1, -2, 0.5, Number.NaN, Number.POSITIVE_INFINITY, -0, 3, -1], [2, 4], {
      dtype: 'float64',
    });
    const b = ops.fromArray([-0.5, 1, -0.5, 1, Number.NEGATIVE_INFINITY, 0, -4, 1], [2, 4], { dtype: 'float64' });
    const fused = ops.addRelu(a, b).toArray();
    const twoOps = ops.relu(ops.add(a, b)).toArray();
    assert.deepEqual(
      [...fused].map(Object.is.bind(null, 0)),
      [...twoOps].map(Object.is.bind(null, 0)),
      '+0 where the two ops give +0',
    );
    assert.deepEqual([...fused], [...twoOps]);
    assert.ok(Number.isNaN(fused[3]) && Number.isNaN(fused[4]), 'NaN + 1 and inf - inf stay NaN');
    gradCheck((x, y) => ops.addRelu(x, y), [rand64([3, 4], 3), rand64([3, 4], 4)]);
    const row = rand64([1, 4], 5);
    const x = rand64([3, 4], 6);
    assert.deepEqual(
      [...ops.addRelu(x, row).toArray()],
      [...ops.relu(ops.add(x, row)).toArray()],
      'a broadcast runs as the two ops',
    );
    assert.throws(
      () => ops.addRelu(x, ops.zeros([3, 4], { backend: x.backend.name })),
      /addRelu: operands have different dtypes/,
    );
  });

  it("relu's gradient in parts (its output feeds two or three ops) is summed and masked by one kernel", () => {
    const x = rand64([3, 4], 7);
    const kernels: { reluBackwardOfSum: Kernels['reluBackwardOfSum'] } = x.backend.kernels;
    const original = kernels.reluBackwardOfSum;
    const calls: number[] = [];
    const parts: Storage[] = [];
    kernels.reluBackwardOfSum = (args) => {
      calls.push(args.gys.length);
      parts.push(...args.gys);
      return original(args);
    };
    try {
      // A residual join's output feeding the next block's branch and its shortcut; a relu read three times.
      gradCheck(
        (a, b) => {
          const y = ops.addRelu(a, b);
          return ops.add(ops.mul(ops.tanh(y), 2), y);
        },
        [x, rand64([3, 4], 8)],
      );
      gradCheck(
        (a) => {
          const y = ops.relu(a);
          return ops.add(ops.add(ops.sigmoid(y), ops.tanh(y)), y);
        },
        [rand64([3, 4], 9)],
      );
    } finally {
      kernels.reluBackwardOfSum = original;
    }
    assert.ok(calls.includes(2) && calls.includes(3), `parts summed per call: ${calls}`);
    assert.ok(
      parts.every((s) => s.released),
      'every part is released after backward',
    );
  });

  it('reluBackwardOfSum adds the parts in order, rounding each sum to the dtype, and passes NaN inputs', () => {
    const k = ops.zeros([1]).backend.kernels;
    const f32 = (v: number[]) => ops.tensor(v).storage;
    const [big, small] = [2 ** 24, 1];
    // In float32, (2^24 + 1) + 1 rounds twice to 2^24; 2^24 + (1 + 1) would be 2^24 + 2.
    const g = k.reluBackwardOfSum({
      gys: [f32([big, -1, 5]), f32([small, 2, 5]), f32([small, 3, 5])],
      saved: f32([1, 0, Number.NaN]),
    });
    assert.deepEqual([...ops.zeros([3]).backend.read(g, [3])], [big, 0, 15]);
  });

  it('relu, sigmoid, tanh values', () => {
    const x = ops.tensor([-2, 0, 3]);
    close(ops.relu(x).toArray(), [0, 0, 3]);
    close(ops.sigmoid(x).toArray(), [1 / (1 + Math.exp(2)), 0.5, 1 / (1 + Math.exp(-3))]);
    close(ops.tanh(x).toArray(), [Math.tanh(-2), 0, Math.tanh(3)]);
  });
});

describe('reductions', () => {
  it('sum, mean, max over axes with keepDims', () => {
    const x = ops.arange(24).view([2, 3, 4]);
    assert.equal(ops.sum(x).item(), 276);
    close(ops.sum(x, [0, 2]).toArray(), [60, 92, 124]);
    assert.deepEqual(ops.mean(x, 1, { keepDims: true }).shape, [2, 1, 4]);
    close(ops.max(x, -1).toArray(), [3, 7, 11, 15, 19, 23]);
    close(
      ops
        .argmax(
          ops.tensor([
            [1, 5, 2],
            [7, 0, 7],
          ]),
          1,
        )
        .toArray(),
      [1, 0],
    );
  });

  it('gradients of reductions', () => {
    gradCheck((x) => ops.sum(x, [0, 2]), [rand64([2, 3, 4], 6)]);
    gradCheck((x) => ops.mean(x, 1, { keepDims: true }), [rand64([2, 3, 4], 7)]);
    gradCheck((x) => ops.max(x, 1), [rand64([3, 5], 8)]);
    gradCheck((x) => ops.min(x), [rand64([3, 5], 9)]);
  });

  it('rejects out-of-range axes', () => {
    assert.throws(() => ops.sum(ops.zeros([2, 2]), 2), /sum: axis 2 is out of range for a tensor of rank 2/);
  });
});

describe('layout ops', () => {
  it('reshape infers -1 and rejects impossible shapes', () => {
    assert.deepEqual(ops.reshape(ops.zeros([2, 6]), [3, -1]).shape, [3, 4]);
    assert.throws(() => ops.reshape(ops.zeros([2, 6]), [5, -1]), /reshape: cannot reshape \[2, 6\]/);
  });

  it('permute, slice, concat and pad values', () => {
    const x = ops.arange(6).view([2, 3]);
    close(ops.transpose(x).toArray(), [0, 3, 1, 4, 2, 5]);
    close(ops.slice(x, 1, 1, 3).toArray(), [1, 2, 4, 5]);
    close(ops.slice(x, 1, -1).toArray(), [2, 5]);
    close(ops.concat([x, ops.full([2, 1], 9)], 1).toArray(), [0, 1, 2, 9, 3, 4, 5, 9]);
    close(ops.pad(ops.tensor([[1, 2]]), [1, 0, 0, 1]).toArray(), [0, 1, 2, 0, 0, 0]);
  });

  it('gradients of layout ops', () => {
    gradCheck((x) => ops.permute(x, [2, 0, 1]), [rand64([2, 3, 4], 10)]);
    gradCheck((x) => ops.slice(x, 1, 1, 3), [rand64([2, 4, 3], 11)]);
    gradCheck((x, y) => ops.concat([x, y], 1), [rand64([2, 2, 3], 12), rand64([2, 3, 3], 13)]);
    gradCheck((x) => ops.pad(x, [1, 2, 0, 1], 0.5), [rand64([2, 3, 2], 14)]);
    gradCheck((x) => ops.expand(x, [3, 2, 4]), [rand64([2, 1], 15)]);
    gradCheck((x) => ops.flatten(x, 1), [rand64([2, 3, 2], 16)]);
  });

  it('gradients that reach a tensor as boxes of joins sum correctly (a dense block)', () => {
    // x and y are in every join and x also feeds a product, so each gathers more parts than the
    // engine holds before summing (PENDING_PARTS): boxes and whole tensors, summed in steps.
    const denseBlock = (x: Tensor, y: Tensor): Tensor => {
      const features = [x];
      for (let k = 0; k < 6; k++) {
        const joined = ops.concat([...features, y], 1);
        features.push(ops.tanh(ops.slice(joined, 1, k, k + 2)));
      }
      return ops.concat([ops.concat(features, 1), ops.mul(x, x)], 1);
    };
    gradCheck(denseBlock, [rand64([2, 2, 3], 16), rand64([2, 1, 3], 17)]);
  });

  it('the boxes summed for a gradient are freed once summed', () => {
    const x = rand64([2, 2, 3], 18);
    // A spy on the reference backend's kernel (its kernels are typed read-only, not frozen).
    const kernels: { sumSlices: Kernels['sumSlices'] } = x.backend.kernels;
    const original = kernels.sumSlices;
    const summed: Storage[] = [];
    kernels.sumSlices = (args) => {
      summed.push(...args.xs);
      return original(args);
    };
    try {
      const joins = [0, 1, 2, 3, 4, 5].map(() => ops.concat([x, ops.mul(x, 2)], 1));
      ops.sum(ops.concat(joins, 2)).backward();
    } finally {
      kernels.sumSlices = original;
    }
    assert.ok(summed.length >= 6, `expected the join gradients to be summed as boxes, got ${summed.length} parts`);
    assert.ok(
      summed.every((s) => s.released),
      'every join gradient is released after backward',
    );
    assert.deepEqual([...(x.grad?.toArray() ?? [])], new Array(12).fill(18));
  });

  it('concat names the mismatching tensor', () => {
    assert.throws(() => ops.concat([ops.zeros([2, 3]), ops.zeros([3, 3])], 1), /concat: tensor 1 has shape \[3, 3\]/);
  });
});

describe('matmul, linear, softmax', () => {
  it('matmul values and batch broadcasting', () => {
    const a = ops.tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = ops.tensor([
      [5, 6],
      [7, 8],
    ]);
    close(ops.matmul(a, b).toArray(), [19, 22, 43, 50]);
    const batched = ops.matmul(ops.arange(12).view([3, 2, 2]), b);
    assert.deepEqual(batched.shape, [3, 2, 2]);
    close(batched.toArray().slice(8), [8 * 5 + 9 * 7, 8 * 6 + 9 * 8, 10 * 5 + 11 * 7, 10 * 6 + 11 * 8]);
  });

  it('gradients of matmul (shared and batched operands) and linear', () => {
    gradCheck((x, y) => ops.matmul(x, y), [rand64([3, 4], 20), rand64([4, 2], 21)]);
    gradCheck((x, y) => ops.matmul(x, y), [rand64([2, 3, 4], 22), rand64([4, 2], 23)]);
    gradCheck((x, y) => ops.matmul(x, y), [rand64([3, 4], 24), rand64([2, 4, 5], 25)]);
    gradCheck((x, y) => ops.matmul(x, y), [rand64([2, 1, 3, 4], 26), rand64([3, 4, 2], 27)]);
    gradCheck((x, w, b) => ops.linear(x, w, b), [rand64([2, 3, 5], 28), rand64([4, 5], 29), rand64([4], 30)]);
  });

  it('linear names the feature mismatch', () => {
    assert.throws(
      () => ops.linear(ops.zeros([2, 5]), ops.zeros([4, 6])),
      /linear: input has 5 features \(shape \[2, 5\]\), weight expects 6/,
    );
  });

  it('softmax sums to one; gradients of softmax and logSoftmax', () => {
    const s = ops
      .softmax(
        ops.tensor([
          [1, 2, 3],
          [0, 0, 0],
        ]),
        1,
      )
      .toArray();
    close([s[0] + s[1] + s[2], s[3]], [1, 1 / 3]);
    gradCheck((x) => ops.softmax(x, 1), [rand64([2, 4, 3], 31)]);
    gradCheck((x) => ops.logSoftmax(x, -1), [rand64([3, 5], 32)]);
  });
});

describe('variance and std', () => {
  it('unbiased by default, population with correction 0 (torch.var semantics)', () => {
    // [1, 2, 3, 4]: mean 2.5, squared deviations sum to 5.
    const x = ops.tensor([
      [1, 2, 3, 4],
      [2, 2, 2, 2],
    ]);
    close(ops.variance(x, 1).toArray(), [5 / 3, 0]);
    close(ops.variance(x, 1, { correction: 0 }).toArray(), [5 / 4, 0]);
    close(ops.std(x, -1, { keepDims: true }).toArray(), [Math.sqrt(5 / 3), 0]);
    assert.deepEqual(ops.variance(x, 1, { keepDims: true }).shape, [2, 1]);
    // All elements: mean 2.25, squared deviations 1.5625+0.0625+0.5625+3.0625+4*0.0625 = 5.5.
    close([ops.variance(x).item()], [5.5 / 7]);
  });

  it('gradients of variance and std', () => {
    gradCheck((x) => ops.variance(x, [0, 2]), [rand64([3, 2, 4], 40)]);
    gradCheck((x) => ops.std(x, 1, { correction: 0 }), [rand64([2, 5], 41)]);
  });
});
