import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as nn from '../../src/nn/index.js';
import { init } from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';

function stats(t: Tensor | null): { mean: number; std: number; min: number; max: number } {
  assert.ok(t, 'tensor present');
  const v = t.toArray();
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of v) {
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  const mean = sum / v.length;
  let sq = 0;
  for (const x of v) sq += (x - mean) ** 2;
  return { mean, std: Math.sqrt(sq / v.length), min, max };
}

/** Checks U(-b, b): inside the bounds, reaching close to both, std b/sqrt(3), mean 0. */
function assertUniform(t: Tensor, b: number): void {
  const s = stats(t);
  assert.ok(s.min >= -b && s.max <= b, `values within +-${b}: [${s.min}, ${s.max}]`);
  assert.ok(s.min < -0.99 * b && s.max > 0.99 * b, `values fill +-${b}: [${s.min}, ${s.max}]`);
  assert.ok(Math.abs(s.std / (b / Math.sqrt(3)) - 1) < 0.02, `std ${s.std} vs ${b / Math.sqrt(3)}`);
  assert.ok(Math.abs(s.mean) < 0.02 * b, `mean ${s.mean}`);
}

function assertNormal(t: Tensor, mean: number, std: number): void {
  const s = stats(t);
  assert.ok(Math.abs(s.std / std - 1) < 0.02, `std ${s.std} vs ${std}`);
  assert.ok(Math.abs(s.mean - mean) < 0.02 * std, `mean ${s.mean} vs ${mean}`);
}

describe('default layer initialisation (PyTorch reset_parameters)', () => {
  it('Conv2d(64, 64, 3): weight and bias U(-1/sqrt(576), 1/sqrt(576))', () => {
    // kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound gain*sqrt(3/fan_in) = 1/sqrt(fan_in), fan_in = 64*3*3.
    const conv = new nn.Conv2d(64, 64, 3, { generator: new Generator(1) });
    assertUniform(conv.weight, 1 / Math.sqrt(576));
    const bias = stats(conv.bias);
    assert.ok(bias.min >= -1 / 24 && bias.max <= 1 / 24);
  });

  it('grouped Conv2d uses fan_in = in/groups * kH * kW', () => {
    const conv = new nn.Conv2d(64, 128, 3, { groups: 4, generator: new Generator(2) });
    assertUniform(conv.weight, 1 / Math.sqrt((64 / 4) * 9));
  });

  it('Linear(1000, 300): U(-1/sqrt(1000), 1/sqrt(1000))', () => {
    const fc = new nn.Linear(1000, 300, { generator: new Generator(3) });
    assertUniform(fc.weight, 1 / Math.sqrt(1000));
    const bias = stats(fc.bias);
    assert.ok(bias.min >= -1 / Math.sqrt(1000) && bias.max <= 1 / Math.sqrt(1000));
  });

  it('is repeatable for a seed, and layers with different seeds differ', () => {
    const a = new nn.Linear(4, 4, { generator: new Generator(9) });
    const b = new nn.Linear(4, 4, { generator: new Generator(9) });
    const c = new nn.Linear(4, 4, { generator: new Generator(10) });
    assert.deepEqual([...a.weight.toArray()], [...b.weight.toArray()]);
    assert.notDeepEqual([...a.weight.toArray()], [...c.weight.toArray()]);
  });

  it('draws nothing on the meta backend (no values to fill)', () => {
    const g = new Generator(5);
    const before = new Generator(5).nextUint32();
    new nn.Conv2d(3, 64, 11, { backend: 'meta', generator: g });
    assert.equal(g.nextUint32(), before);
  });
});

describe('init functions', () => {
  it('fan in and fan out as PyTorch computes them', () => {
    assert.deepEqual(init.calculateFanInAndFanOut(ops.zeros([64, 3, 11, 11])), { fanIn: 363, fanOut: 7744 });
    assert.deepEqual(init.calculateFanInAndFanOut([10, 20]), { fanIn: 20, fanOut: 10 });
    assert.throws(
      () => init.calculateFanInAndFanOut([5]),
      /^ShapeError: calculateFanInAndFanOut: fan in and fan out need a tensor of rank >= 2, got \[5\]$/,
    );
  });

  it('gains of torch.nn.init.calculate_gain', () => {
    assert.equal(init.calculateGain('relu'), Math.sqrt(2));
    assert.equal(init.calculateGain('tanh'), 5 / 3);
    assert.equal(init.calculateGain('conv2d'), 1);
    assert.equal(init.calculateGain('leakyRelu'), Math.sqrt(2 / (1 + 0.01 ** 2)));
    assert.equal(init.calculateGain('leakyRelu', Math.sqrt(5)), Math.sqrt(1 / 3));
  });

  it('kaimingNormal (fanOut, relu) as torchvision ResNet uses: std sqrt(2 / (out * kH * kW))', () => {
    const w = ops.zeros([256, 64, 3, 3]);
    const same = init.kaimingNormal(w, { mode: 'fanOut', nonlinearity: 'relu', generator: new Generator(4) });
    assert.equal(same, w, 'fills in place and returns the tensor');
    assertNormal(w, 0, Math.sqrt(2 / (256 * 9)));
    assertNormal(
      init.kaimingNormal(ops.zeros([128, 256, 3, 3]), { nonlinearity: 'relu', generator: new Generator(5) }),
      0,
      Math.sqrt(2 / (256 * 9)),
    );
  });

  it('kaimingUniform defaults (a = 0, leaky ReLU, fanIn): bound sqrt(6 / fan_in)', () => {
    assertUniform(init.kaimingUniform(ops.zeros([200, 300]), { generator: new Generator(6) }), Math.sqrt(6 / 300));
  });

  it('xavierUniform and xavierNormal with a gain', () => {
    assertUniform(
      init.xavierUniform(ops.zeros([200, 300]), { gain: 2, generator: new Generator(7) }),
      2 * Math.sqrt(6 / 500),
    );
    assertNormal(init.xavierNormal(ops.zeros([200, 300]), { generator: new Generator(8) }), 0, Math.sqrt(2 / 500));
  });

  it('normal, uniform, constant, zeros, ones, in float32 and float64', () => {
    assertNormal(init.normal(ops.zeros([100000]), 3, 0.01, new Generator(9)), 3, 0.01);
    const u = init.uniform(ops.zeros([100000], { dtype: 'float64' }), -1, 3, new Generator(10));
    assert.equal(u.dtype, 'float64');
    const s = stats(u);
    assert.ok(s.min >= -1 && s.max < 3 && Math.abs(s.mean - 1) < 0.02);
    assert.deepEqual([...init.constant(ops.zeros([3]), 0.25).toArray()], [0.25, 0.25, 0.25]);
    assert.deepEqual([...init.ones(ops.zeros([2])).toArray()], [1, 1]);
    assert.deepEqual([...init.zeros(ops.ones([2])).toArray()], [0, 0]);
  });

  it('truncNormal stays in [a, b] with the truncated normal std', () => {
    // A standard normal cut to [-2, 2] has variance 1 - 2*2*phi(2) / (Phi(2) - Phi(-2)) = 1 - 4*0.0539910/0.9544997.
    const t = init.truncNormal(ops.zeros([100000]), { generator: new Generator(11) });
    const s = stats(t);
    assert.ok(s.min >= -2 && s.max <= 2);
    assert.ok(Math.abs(s.std - Math.sqrt(1 - (4 * 0.053991) / 0.9545)) < 0.01, `std ${s.std}`);
    const shifted = stats(
      init.truncNormal(ops.zeros([1000]), { mean: 1, std: 0.1, a: 0.9, b: 1.2, generator: new Generator(12) }),
    );
    assert.ok(shifted.min >= 0.9 && shifted.max <= 1.2);
  });

  it('keeps a parameter a parameter (identity, requiresGrad, no graph)', () => {
    const fc = new nn.Linear(3, 3);
    const w = fc.weight;
    init.xavierUniform(fc.weight);
    assert.equal(fc.weight, w);
    assert.ok(w.requiresGrad && w.isLeaf);
  });
});
