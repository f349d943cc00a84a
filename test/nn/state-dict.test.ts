import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resetSettings } from '../../src/core/config.js';
import { WeightsError } from '../../src/core/errors.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import { Linear } from '../../src/nn/linear.js';
import { Sequential } from '../../src/nn/containers.js';
import * as ops from '../../src/ops/index.js';
import { Net } from './small-net.js';

/*
 * The keys below were printed by PyTorch 1.13 (/usr/bin/python3) for the twin of small-net.ts:
 *
 *   class Block(nn.Module):
 *       def __init__(self, cin, cout, stride):
 *           super().__init__()
 *           self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
 *           self.bn1 = nn.BatchNorm2d(cout)
 *           self.relu = nn.ReLU(inplace=True)
 *           self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
 *           self.bn2 = nn.BatchNorm2d(cout)
 *           self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
 *   class Net(nn.Module):
 *       def __init__(self):
 *           super().__init__()
 *           self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
 *           self.layer1 = nn.Sequential(Block(8, 16, 2))
 *           self.avgpool = nn.AdaptiveAvgPool2d(1)
 *           self.fc = nn.Linear(16, 10)
 *
 *   for k, v in Net().state_dict().items(): print(repr(k), list(v.shape))
 */
const PYTORCH_KEYS: [string, number[]][] = [
  ['features.0.weight', [8, 3, 3, 3]],
  ['features.0.bias', [8]],
  ['layer1.0.conv1.weight', [16, 8, 3, 3]],
  ['layer1.0.bn1.weight', [16]],
  ['layer1.0.bn1.bias', [16]],
  ['layer1.0.bn1.running_mean', [16]],
  ['layer1.0.bn1.running_var', [16]],
  ['layer1.0.bn1.num_batches_tracked', []],
  ['layer1.0.conv2.weight', [16, 16, 3, 3]],
  ['layer1.0.bn2.weight', [16]],
  ['layer1.0.bn2.bias', [16]],
  ['layer1.0.bn2.running_mean', [16]],
  ['layer1.0.bn2.running_var', [16]],
  ['layer1.0.bn2.num_batches_tracked', []],
  ['layer1.0.downsample.0.weight', [16, 8, 1, 1]],
  ['layer1.0.downsample.1.weight', [16]],
  ['layer1.0.downsample.1.bias', [16]],
  ['layer1.0.downsample.1.running_mean', [16]],
  ['layer1.0.downsample.1.running_var', [16]],
  ['layer1.0.downsample.1.num_batches_tracked', []],
  ['fc.weight', [10, 16]],
  ['fc.bias', [10]],
];

/** Net plus members registered after the children (PyTorch twin: nn.Parameter + register_buffer). */
class NetWithOwnState extends Net {
  constructor() {
    super();
    this.registerParameter('scale', ops.ones([1]));
    this.registerBuffer('step', ops.zeros([]));
    this.registerBuffer('scratch', ops.zeros([2]), { persistent: false });
  }
}

const values = (t: Tensor | null | undefined): number[] => {
  assert.ok(t, 'tensor present');
  return [...t.toArray()];
};

describe('stateDict', () => {
  it('has the keys, order and shapes PyTorch gives the same network', () => {
    const dict = new Net().stateDict();
    assert.deepEqual(
      [...dict].map(([k, v]) => [k, [...v.shape]]),
      PYTORCH_KEYS,
    );
  });

  it("puts a module's own parameters and persistent buffers before its children's, as PyTorch", () => {
    // PyTorch 1.13: first four keys ['scale', 'step', 'features.0.weight', 'features.0.bias'], 24 keys in all.
    const m = new NetWithOwnState();
    const keys = [...m.stateDict().keys()];
    assert.deepEqual(keys.slice(0, 4), ['scale', 'step', 'features.0.weight', 'features.0.bias']);
    assert.equal(keys.length, 24);
    assert.ok(!keys.includes('scratch'), 'non-persistent buffers stay out of the state dict');
    assert.deepEqual(
      m
        .namedBuffers()
        .slice(0, 3)
        .map(([k]) => k),
      ['step', 'scratch', 'layer1.0.bn1.running_mean'],
    );
  });

  it('returns detached tensors sharing memory, or the live ones with keepVars', () => {
    const m = new Linear(3, 2);
    const detached = m.stateDict().get('weight');
    assert.ok(detached && detached !== m.weight && !detached.requiresGrad);
    assert.equal(detached.storage, m.weight.storage);
    assert.equal(m.stateDict({ keepVars: true }).get('weight'), m.weight);
  });
});

describe('loadStateDict', () => {
  it('round-trips: a fresh network loaded from another computes the same outputs', (t) => {
    // Bit for bit, so every conv runs one algorithm: the tuner may pick another one for a weight
    // used before (a's) than for one used the first time (b's), and they round differently.
    const saved = process.env.CONVKIT_CONV_ALGORITHM;
    process.env.CONVKIT_CONV_ALGORITHM = 'direct';
    resetSettings();
    t.after(() => {
      if (saved === undefined) delete process.env.CONVKIT_CONV_ALGORITHM;
      else process.env.CONVKIT_CONV_ALGORITHM = saved;
      resetSettings();
    });
    const a = new Net().eval();
    const b = new Net().eval();
    // Make the BN buffers non-trivial so that they are checked too.
    a.train();
    a.call(ops.randn([2, 3, 8, 8]));
    a.eval();
    const x = ops.randn([2, 3, 8, 8]);
    assert.notDeepEqual(values(a.call(x)), values(b.call(x)));
    const result = b.loadStateDict(a.stateDict());
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
    assert.deepEqual(values(b.call(x)), values(a.call(x)));
    for (const [key, t] of b.stateDict()) assert.deepEqual(values(t), values(a.stateDict().get(key)), key);
    assert.equal(b.stateDict().get('layer1.0.bn1.num_batches_tracked')?.item(), 1);
  });

  it('copies values instead of sharing memory with the source', () => {
    const src = ops.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const m = new Linear(3, 2, { bias: false });
    m.loadStateDict({ weight: src });
    assert.notEqual(m.weight.storage, src.storage);
    assert.deepEqual(values(m.weight), [1, 2, 3, 4, 5, 6]);
    assert.ok(m.weight.requiresGrad, 'the parameter stays a parameter');
  });

  it('casts float64 values to the float32 parameter', () => {
    const m = new Linear(2, 1);
    m.loadStateDict({
      weight: ops.tensor([[0.5, -1]], { dtype: 'float64' }),
      bias: ops.tensor([2], { dtype: 'float64' }),
    });
    assert.equal(m.weight.dtype, 'float32');
    assert.deepEqual(values(m.call(ops.tensor([[2, 1]]))), [2]);
  });

  it('strict: lists every missing, unexpected and wrong-shaped key in one WeightsError, and copies nothing', () => {
    const m = new Sequential(new Linear(4, 3), new Linear(3, 2));
    const before = values(m.at(0).ownParameters.get('weight'));
    const bad = new Map([
      ['0.weight', ops.zeros([3, 5])],
      ['0.bias', ops.zeros([3])],
      ['2.weight', ops.zeros([2, 3])],
    ]);
    assert.throws(
      () => m.loadStateDict(bad),
      (e: unknown) => {
        assert.ok(e instanceof WeightsError);
        assert.equal(
          e.message,
          'loadStateDict: 2 missing keys (1.weight, 1.bias), 1 unexpected key (2.weight), 1 shape mismatch (0.weight: expected [3, 4], got [3, 5])',
        );
        return true;
      },
    );
    assert.deepEqual(values(m.at(0).ownParameters.get('weight')), before, 'nothing was copied');
    assert.notDeepEqual(values(m.at(0).ownParameters.get('bias')), [0, 0, 0], 'not even the keys that fitted');
  });

  it('names the networks keys in the error (missing, unexpected and mismatched together)', () => {
    const dict = new Net().stateDict();
    dict.delete('fc.weight');
    dict.delete('fc.bias');
    dict.set('classifier.weight', ops.zeros([10, 16]));
    dict.set('features.0.weight', ops.zeros([8, 3, 5, 5]));
    assert.throws(
      () => new Net().loadStateDict(dict),
      /^WeightsError: loadStateDict: 2 missing keys \(fc\.weight, fc\.bias\), 1 unexpected key \(classifier\.weight\), 1 shape mismatch \(features\.0\.weight: expected \[8, 3, 3, 3\], got \[8, 3, 5, 5\]\)$/,
    );
  });

  it('non-strict: returns missing and unexpected keys, loads the rest, still refuses shape mismatches', () => {
    const m = new Sequential(new Linear(2, 2), new Linear(2, 1));
    const result = m.loadStateDict(
      {
        '0.weight': ops.tensor([
          [1, 0],
          [0, 1],
        ]),
        'extra.weight': ops.zeros([1]),
      },
      { strict: false },
    );
    assert.deepEqual(result, { missingKeys: ['0.bias', '1.weight', '1.bias'], unexpectedKeys: ['extra.weight'] });
    assert.deepEqual(values(m.at(0).ownParameters.get('weight')), [1, 0, 0, 1]);
    assert.throws(
      () => m.loadStateDict({ '0.weight': ops.zeros([2, 3]) }, { strict: false }),
      /^WeightsError: loadStateDict: 1 shape mismatch \(0\.weight: expected \[2, 2\], got \[2, 3\]\)$/,
    );
  });

  it('a model built inside scope() survives it, and so does a state dict returned from it', () => {
    const m = scope(() => new Net());
    const dict = scope(() => m.stateDict());
    for (const t of [...m.parameters(), ...m.buffers(), ...dict.values()]) assert.ok(!t.disposed);
    assert.deepEqual(m.call(ops.randn([2, 3, 4, 4])).shape, [2, 10]);
  });
});
