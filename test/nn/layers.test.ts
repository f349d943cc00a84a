import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as nn from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};
const buffer = (m: nn.AnyModule, name: string): Tensor => {
  const t = m.ownBuffers.get(name);
  assert.ok(t, `buffer ${name}`);
  return t;
};

describe('BatchNorm2d', () => {
  // One channel, values 1, 3, 5, 7: batch mean 4, biased variance 5, unbiased variance 20/3.
  const x = ops.tensor([1, 3, 5, 7]).view([2, 1, 1, 2]);

  it('normalises with batch statistics in training and updates the running ones with momentum 0.1', () => {
    const bn = new nn.BatchNorm2d(1);
    close(
      bn.call(x).toArray(),
      [1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5 + 1e-5)),
    );
    close(buffer(bn, 'running_mean').toArray(), [0.9 * 0 + 0.1 * 4]);
    close(buffer(bn, 'running_var').toArray(), [0.9 * 1 + 0.1 * (20 / 3)]);
    assert.equal(buffer(bn, 'num_batches_tracked').item(), 1);
  });

  it('uses the running statistics in eval mode and leaves them (and the count) alone', () => {
    const bn = new nn.BatchNorm2d(1);
    bn.call(x);
    bn.eval();
    const [mean, variance] = [0.4, 0.9 + 0.1 * (20 / 3)];
    close(
      bn.call(x).toArray(),
      [1, 3, 5, 7].map((v) => (v - mean) / Math.sqrt(variance + 1e-5)),
    );
    close(buffer(bn, 'running_mean').toArray(), [mean]);
    assert.equal(buffer(bn, 'num_batches_tracked').item(), 1);
  });

  it('counts training batches in num_batches_tracked, a float tensor of shape []', () => {
    const bn = new nn.BatchNorm2d(1);
    for (let i = 0; i < 3; i++) bn.call(x);
    bn.eval().call(x);
    const count = buffer(bn, 'num_batches_tracked');
    assert.deepEqual(count.shape, []);
    assert.equal(count.dtype, 'float32');
    assert.equal(count.item(), 3);
  });

  it('momentum null keeps the cumulative average of the batch statistics', () => {
    const bn = new nn.BatchNorm2d(1, { momentum: null });
    bn.call(x); // mean 4, unbiased variance 20/3
    bn.call(ops.tensor([0, 2, 0, 2]).view([2, 1, 1, 2])); // mean 1, unbiased variance 4/3
    close(buffer(bn, 'running_mean').toArray(), [(4 + 1) / 2]);
    close(buffer(bn, 'running_var').toArray(), [(20 / 3 + 4 / 3) / 2]);
  });

  it('weight and bias scale and shift; trackRunningStats false uses batch statistics even in eval', () => {
    const bn = new nn.BatchNorm2d(1, { trackRunningStats: false });
    bn.loadStateDict({ weight: ops.tensor([2]), bias: ops.tensor([1]) });
    assert.deepEqual([...bn.stateDict().keys()], ['weight', 'bias']);
    bn.eval();
    close(
      bn.call(x).toArray(),
      [1, 3, 5, 7].map((v) => (2 * (v - 4)) / Math.sqrt(5 + 1e-5) + 1),
    );
    const plain = new nn.BatchNorm2d(3, { affine: false });
    assert.deepEqual([...plain.stateDict().keys()], ['running_mean', 'running_var', 'num_batches_tracked']);
    assert.equal(plain.numParameters(), 0);
  });

  it('starts at weight 1, bias 0, running mean 0, running variance 1', () => {
    const bn = new nn.BatchNorm2d(3);
    const d = bn.stateDict();
    assert.deepEqual(
      [...d].map(([k, t]) => [k, [...t.toArray()]]),
      [
        ['weight', [1, 1, 1]],
        ['bias', [0, 0, 0]],
        ['running_mean', [0, 0, 0]],
        ['running_var', [1, 1, 1]],
        ['num_batches_tracked', [0]],
      ],
    );
  });

  it('checks the input rank; BatchNorm1d takes [N, C] and [N, C, L]', () => {
    assert.throws(
      () => new nn.BatchNorm2d(2).call(ops.zeros([4, 2])),
      /^ShapeError: BatchNorm2d: expected a 4-D input, got \[4, 2\]$/,
    );
    const bn1 = new nn.BatchNorm1d(1);
    close(
      bn1.call(ops.tensor([[1], [3], [5], [7]])).toArray(),
      [1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5 + 1e-5)),
    );
    assert.deepEqual(bn1.call(ops.zeros([2, 1, 3])).shape, [2, 1, 3]);
    assert.throws(() => bn1.call(x), /^ShapeError: BatchNorm1d: expected a 2-D or 3-D input, got \[2, 1, 1, 2\]$/);
  });
});

describe('Dropout', () => {
  it('drops in training (kept values scaled by 1/(1-p)) and is the identity in eval', () => {
    const drop = new nn.Dropout({ p: 0.5, generator: new Generator(3) });
    const x = ops.ones([1000]);
    const y = [...drop.call(x).toArray()];
    assert.ok(y.every((v) => v === 0 || v === 2));
    const kept = y.filter((v) => v === 2).length;
    assert.ok(kept > 400 && kept < 600, `kept ${kept} of 1000`);
    drop.eval();
    assert.equal(drop.call(x), x);
  });

  it('checks p', () => {
    assert.throws(
      () => new nn.Dropout({ p: 1.5 }),
      /^ArgumentError: Dropout: p must be a probability in \[0, 1\], got 1.5$/,
    );
  });
});

describe('Conv2d, Linear, pooling, LRN, Flatten, activations', () => {
  it('Conv2d computes a hand-checked cross-correlation plus bias', () => {
    const conv = new nn.Conv2d(1, 1, 2);
    conv.loadStateDict({
      weight: ops.tensor([
        [
          [
            [1, 2],
            [3, 4],
          ],
        ],
      ]),
      bias: ops.tensor([0.5]),
    });
    // x = [[0,1,2],[3,4,5],[6,7,8]]; top-left window: 0*1 + 1*2 + 3*3 + 4*4 = 27.
    close(conv.call(ops.arange(9).view([1, 1, 3, 3])).toArray(), [27.5, 37.5, 57.5, 67.5]);
  });

  it('Conv2d shapes its weight [out, in/groups, kH, kW] and checks its arguments', () => {
    const conv = new nn.Conv2d(4, 6, [3, 5], { groups: 2, bias: false });
    assert.deepEqual(conv.weight.shape, [6, 2, 3, 5]);
    assert.equal(conv.bias, null);
    assert.deepEqual(conv.call(ops.zeros([1, 4, 7, 7])).shape, [1, 6, 5, 3]);
    assert.throws(
      () => new nn.Conv2d(3, 8, 3, { groups: 2 }),
      /^ArgumentError: Conv2d: inChannels \(3\) must be divisible by groups \(2\)$/,
    );
    assert.throws(
      () => new nn.Conv2d(3, 8, 3, { padding: 'same', stride: 2 }),
      /^ArgumentError: Conv2d: padding 'same' is not supported for strided convolutions/,
    );
    assert.throws(
      () => new nn.Conv2d(3, 0, 3),
      /^ArgumentError: Conv2d: outChannels must be a positive integer, got 0$/,
    );
  });

  it('Linear computes x W^T + b', () => {
    const fc = new nn.Linear(2, 2);
    fc.loadStateDict({
      weight: ops.tensor([
        [1, 2],
        [3, 4],
      ]),
      bias: ops.tensor([10, 20]),
    });
    close(
      fc
        .call(
          ops.tensor([
            [1, 1],
            [2, 0],
          ]),
        )
        .toArray(),
      [13, 27, 12, 26],
    );
  });

  it('pooling layers with PyTorch defaults (stride = kernel)', () => {
    const x = ops.arange(16).view([1, 1, 4, 4]);
    close(new nn.MaxPool2d(2).call(x).toArray(), [5, 7, 13, 15]);
    close(new nn.AvgPool2d(2).call(x).toArray(), [2.5, 4.5, 10.5, 12.5]);
    close(new nn.AdaptiveAvgPool2d(1).call(x).toArray(), [7.5]);
    assert.deepEqual(
      new nn.MaxPool2d(3, { stride: 2, ceilMode: true }).call(ops.zeros([1, 1, 6, 6])).shape,
      [1, 1, 3, 3],
    );
  });

  it('LocalResponseNorm divides by (k + alpha/size * sum of squares over neighbouring channels)^beta', () => {
    // size 2: channel c sums channels c-1..c. Channel 0: 1 / (1 + 0.5 * 1), channel 1: 2 / (1 + 0.5 * (1 + 4)).
    const lrn = new nn.LocalResponseNorm(2, { alpha: 1, beta: 1, k: 1 });
    close(lrn.call(ops.tensor([1, 2]).view([1, 2, 1, 1])).toArray(), [1 / 1.5, 2 / 3.5]);
  });

  it('Flatten keeps the batch axis by default; activations apply elementwise', () => {
    assert.deepEqual(new nn.Flatten().call(ops.zeros([2, 3, 4, 5])).shape, [2, 60]);
    assert.deepEqual(new nn.Flatten({ startDim: 0 }).call(ops.zeros([2, 3])).shape, [6]);
    const x = ops.tensor([-1, 0, 2]);
    close(new nn.ReLU({ inplace: true }).call(x).toArray(), [0, 0, 2]);
    close(
      new nn.Sigmoid().call(x).toArray(),
      [-1, 0, 2].map((v) => 1 / (1 + Math.exp(-v))),
    );
    close(new nn.Tanh().call(x).toArray(), [-1, 0, 2].map(Math.tanh));
  });
});

describe('containers', () => {
  it('Sequential runs children in order and names them 0, 1, ...', () => {
    const seq = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU());
    seq.append(new nn.Linear(3, 1));
    assert.equal(seq.length, 3);
    assert.ok(seq.at(-1) instanceof nn.Linear);
    assert.deepEqual([...seq.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
    const x = ops.randn([4, 2]);
    const byHand = seq.at(2).call(ops.relu(seq.at(0).call(x)));
    close(seq.call(x).toArray(), byHand.toArray(), 0);
    assert.throws(() => seq.at(3), /^ArgumentError: Sequential: index 3 is out of range for 3 layers$/);
  });

  it('Sequential.named gives torchvision DenseNet-style keys', () => {
    const features = nn.Sequential.named([
      ['conv0', new nn.Conv2d(3, 4, 3, { bias: false })],
      ['norm0', new nn.BatchNorm2d(4)],
    ]);
    features.add('relu0', new nn.ReLU());
    assert.deepEqual(
      [...features.stateDict().keys()],
      [
        'conv0.weight',
        'norm0.weight',
        'norm0.bias',
        'norm0.running_mean',
        'norm0.running_var',
        'norm0.num_batches_tracked',
      ],
    );
    assert.deepEqual(
      features.namedChildren().map(([n]) => n),
      ['conv0', 'norm0', 'relu0'],
    );
  });

  it('ModuleList and ModuleDict hold children for a parent forward and have none of their own', () => {
    const list = new nn.ModuleList([new nn.Linear(1, 1), new nn.Linear(1, 1)]);
    assert.deepEqual([...list.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias']);
    assert.equal([...list].length, 2);
    const dict = new nn.ModuleDict({ a: new nn.Linear(1, 2) });
    assert.deepEqual([...dict.keys()], ['a']);
    assert.equal(dict.get('a')?.path, 'a');
    assert.throws(() => list.forward(), /ModuleList: a ModuleList has no forward/);
  });
});
