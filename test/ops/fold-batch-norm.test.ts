/**
 * foldBatchNorm: the folded conv computes what conv then eval-mode batch norm computed (float64,
 * against the two ops), the native loop equals the reference kernel bit for bit (float32, sizes
 * below and above its OpenMP threshold, every absent optional), and bad arguments are named.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNativeBackend } from '../../src/backend/native/index.js';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import { noGrad } from '../../src/core/grad-mode.js';
import * as ops from '../../src/ops/index.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

function values(size: number, seed: number, lo = -1, hi = 1): number[] {
  const g = new Generator(seed);
  return Array.from({ length: size }, () => lo + (hi - lo) * g.uniform());
}

interface Case {
  weight: Tensor;
  bias: Tensor | null;
  gamma: Tensor | null;
  beta: Tensor | null;
  mean: Tensor;
  variance: Tensor;
}

/** A conv weight [c, 3, 3, 3] and its norm's statistics; `present` says which optionals exist. */
function makeCase(
  c: number,
  present: { bias: boolean; gamma: boolean; beta: boolean },
  opts: { dtype: 'float32' | 'float64'; backend: string; inChannels?: number },
): Case {
  const { dtype, backend } = opts;
  const inC = opts.inChannels ?? 3;
  const t = (v: number[], shape: number[]): Tensor => ops.fromArray(v, shape, { dtype, backend });
  return {
    weight: t(values(c * inC * 9, 1), [c, inC, 3, 3]),
    bias: present.bias ? t(values(c, 2), [c]) : null,
    gamma: present.gamma ? t(values(c, 3, 0.2, 2), [c]) : null,
    beta: present.beta ? t(values(c, 4), [c]) : null,
    mean: t(values(c, 5), [c]),
    variance: t(values(c, 6, 0.01, 3), [c]),
  };
}

const fold = (k: Case, eps = 1e-5) =>
  ops.foldBatchNorm(k.weight, k.bias, {
    weight: k.gamma,
    bias: k.beta,
    runningMean: k.mean,
    runningVar: k.variance,
    eps,
  });

const PRESENCE = [
  { bias: true, gamma: true, beta: true },
  { bias: false, gamma: true, beta: true },
  { bias: true, gamma: false, beta: false },
  { bias: false, gamma: false, beta: true },
];

describe('foldBatchNorm', () => {
  it('the folded conv equals conv then eval-mode batch norm (float64, every absent optional)', () => {
    for (const present of PRESENCE) {
      const k = makeCase(5, present, { dtype: 'float64', backend: 'ref' });
      const x = ops.fromArray(values(2 * 3 * 6 * 6, 7), [2, 3, 6, 6], { dtype: 'float64', backend: 'ref' });
      const eps = 1e-3;
      const expected = ops
        .batchNorm(ops.conv2d(x, k.weight, k.bias, { padding: 1 }), {
          weight: k.gamma,
          bias: k.beta,
          runningMean: k.mean,
          runningVar: k.variance,
          training: false,
          eps,
        })
        .toArray();
      const folded = fold(k, eps);
      assert.deepEqual(folded.weight.shape, [5, 3, 3, 3]);
      assert.deepEqual(folded.bias.shape, [5]);
      const got = ops.conv2d(x, folded.weight, folded.bias, { padding: 1 }).toArray();
      for (let i = 0; i < got.length; i++)
        assert.ok(
          Math.abs(got[i] - expected[i]) < 1e-12,
          `${JSON.stringify(present)} element ${i}: ${got[i]} vs ${expected[i]}`,
        );
    }
  });

  const skip = nativeSkipReason('foldBatchNorm on native');
  it('native equals the reference kernel bit for bit (float32, one thread and the OpenMP loop)', { skip }, () => {
    loadNativeBackend();
    // 8 x 3 x 9 weights fold on one thread; 64 x 160 x 9 (92,160) above the 65,536 threshold.
    for (const [c, inChannels] of [
      [8, 3],
      [64, 160],
    ]) {
      for (const present of PRESENCE) {
        const results = ['ref', 'native'].map((backend) => {
          const r = fold(makeCase(c, present, { dtype: 'float32', backend, inChannels }));
          return [r.weight.toArray(), r.bias.toArray()];
        });
        assert.deepEqual(results[1][0], results[0][0], `weights, ${c} channels, ${JSON.stringify(present)}`);
        assert.deepEqual(results[1][1], results[0][1], `bias, ${c} channels, ${JSON.stringify(present)}`);
      }
    }
  });

  it('NaN and infinity in the statistics reach the outputs as they would through the norm', () => {
    const k = makeCase(3, PRESENCE[0], { dtype: 'float32', backend: 'ref' });
    k.variance = ops.fromArray([Number.NaN, -1, 1], [3], { backend: 'ref' });
    k.mean = ops.fromArray([0, 0, Number.POSITIVE_INFINITY], [3], { backend: 'ref' });
    const r = fold(k);
    const w = r.weight.toArray();
    const b = r.bias.toArray();
    assert.ok(w.subarray(0, 27).every(Number.isNaN), 'a NaN variance makes its channel NaN');
    assert.ok(w.subarray(27, 54).every(Number.isNaN), 'a negative variance (sqrt of < 0) makes its channel NaN');
    assert.ok(w.subarray(54).every(Number.isFinite), 'an infinite mean leaves the weights alone');
    assert.equal(b[2], Number.NEGATIVE_INFINITY, 'and moves the bias to -inf (gamma > 0)');
  });

  it('names a statistic of the wrong size, a bad eps, a rank-1 weight and an input that needs a gradient', () => {
    const k = makeCase(4, PRESENCE[0], { dtype: 'float32', backend: 'ref' });
    assert.throws(
      () => fold({ ...k, mean: ops.zeros([3], { backend: 'ref' }) }),
      /foldBatchNorm: runningMean must have shape \[4\] \(the layer's output channels\), got \[3\]/,
    );
    assert.throws(() => fold(k, -1), /foldBatchNorm: eps must be a finite number >= 0, got -1/);
    assert.throws(
      () => fold({ ...k, weight: ops.zeros([4], { backend: 'ref' }) }),
      /foldBatchNorm: the layer's weight must have rank >= 2 \(\[C, \.\.\.\]\), got rank 1/,
    );
    const trained = { ...k, weight: ops.zeros([4, 3, 3, 3], { backend: 'ref', requiresGrad: true }) };
    assert.throws(() => fold(trained), /foldBatchNorm: folded weights carry no gradient/);
    assert.doesNotThrow(() => noGrad(() => fold(trained)));
  });
});
