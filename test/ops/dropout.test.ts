import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator, manualSeed } from '../../src/core/random.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

describe('dropout', () => {
  it('zeroes elements or scales them by 1 / (1 - p)', () => {
    const x = rand64([8, 16], 1, false);
    const X = x.toArray();
    const Y = ops.dropout(x, { p: 0.25, generator: new Generator(3) }).toArray();
    let zeros = 0;
    for (let i = 0; i < X.length; i++) {
      if (Y[i] === 0) zeros++;
      else assert.ok(Math.abs(Y[i] - X[i] / 0.75) < 1e-12, `element ${i}: ${Y[i]} is neither 0 nor ${X[i] / 0.75}`);
    }
    assert.ok(zeros > 0 && zeros < X.length, `${zeros} of ${X.length} zeroed`);
  });

  it('keeps about 1 - p of the elements and preserves the mean in expectation', () => {
    // 200k ones: the kept fraction has standard deviation sqrt(p(1-p)/n) ~ 0.001 and the mean
    // sqrt(p/(1-p)/n) ~ 0.0015, so 0.01 is a tolerance of more than six standard deviations.
    const n = 200_000;
    const p = 0.3;
    const Y = ops.dropout(ops.ones([n]), { p, generator: new Generator(11) }).toArray();
    let kept = 0;
    let sum = 0;
    for (const v of Y) {
      if (v !== 0) kept++;
      sum += v;
    }
    assert.ok(Math.abs(kept / n - (1 - p)) < 0.01, `kept fraction ${kept / n}`);
    assert.ok(Math.abs(sum / n - 1) < 0.01, `mean ${sum / n}`);
  });

  it('repeats exactly for a seed, and differs between seeds', () => {
    const x = ops.ones([64]);
    const a = ops.dropout(x, { generator: new Generator(5) }).toArray();
    const b = ops.dropout(x, { generator: new Generator(5) }).toArray();
    const c = ops.dropout(x, { generator: new Generator(6) }).toArray();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    // The default generator follows manualSeed, and each call draws a fresh mask.
    manualSeed(42);
    const first = ops.dropout(x).toArray();
    const second = ops.dropout(x).toArray();
    manualSeed(42);
    assert.deepEqual(ops.dropout(x).toArray(), first);
    assert.notDeepEqual(first, second);
  });

  it('is the identity in eval mode and for p = 0; p = 1 gives zeros', () => {
    const x = rand64([3, 4], 2, false);
    assert.equal(ops.dropout(x, { training: false }), x);
    assert.equal(ops.dropout(x, { p: 0 }), x);
    // x * 0, as PyTorch computes it: negative inputs give -0, which === 0.
    assert.ok(
      ops
        .dropout(x, { p: 1 })
        .toArray()
        .every((v) => v === 0),
    );
  });

  it('rejects p outside [0, 1]', () => {
    for (const p of [-0.1, 1.5, Number.NaN]) {
      assert.throws(
        () => ops.dropout(ops.ones([2]), { p }),
        new RegExp(`^ArgumentError: dropout: p must be a probability in \\[0, 1\\], got ${p}$`),
      );
    }
  });

  it('gradient: numerically, and equal to the mask of the forward pass', () => {
    gradCheck((x) => ops.dropout(x, { p: 0.4, generator: new Generator(9) }), [rand64([4, 5], 3)]);
    const x = rand64([50], 4);
    const y = ops.dropout(x, { p: 0.5, generator: new Generator(10) });
    ops.sum(y).backward();
    assert.ok(x.grad);
    const G = x.grad.toArray();
    const X = x.toArray();
    const Y = y.toArray();
    // d sum(y) / dx is the mask, and y = x * mask.
    for (let i = 0; i < X.length; i++) assert.ok(Math.abs(G[i] * X[i] - Y[i]) < 1e-12, `element ${i}`);
    assert.ok(G.every((g) => g === 0 || g === 2));
  });

  it('float32 masks and values', () => {
    const y = ops.dropout(ops.ones([100]), { p: 0.2, generator: new Generator(1) });
    assert.equal(y.dtype, 'float32');
    assert.ok(y.toArray().every((v) => v === 0 || v === Math.fround(1 / 0.8)));
  });
});
