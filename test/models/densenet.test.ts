import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import { DenseBlock, DenseLayer, Transition } from '../../src/models/densenet-blocks.js';
import { DENSENET_MODELS, densenet, densenetBcCifar } from '../../src/models/densenet.js';
import * as ops from '../../src/ops/index.js';
import { close, entryIn, forwardBackend, itMatchesPublished, macsOf } from './zoo-helpers.js';

const entry = (name: string) => entryIn(DENSENET_MODELS, name);

describe("DenseNet for ImageNet: counts equal torchvision's published ones", () => {
  // docs/architecture.md#published-reference-numbers
  const published = [
    ['densenet121', 7_978_856, '2.834'],
    ['densenet161', 28_681_000, '7.728'],
    ['densenet169', 14_149_480, '3.360'],
    ['densenet201', 20_013_928, '4.291'],
  ] as const;
  itMatchesPublished(DENSENET_MODELS, published);

  it('keys and channel bookkeeping follow torchvision (densenet121: 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024)', () => {
    const model = withBackend('meta', () => densenet('densenet121'));
    const keys = [...model.stateDict().keys()];
    const bn = (p: string): string[] =>
      ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((k) => `features.${p}.${k}`);
    assert.deepEqual(keys.slice(0, 6), ['features.conv0.weight', ...bn('norm0')]);
    const layer = 'denseblock1.denselayer1';
    assert.deepEqual(keys.slice(6, 18), [
      ...bn(`${layer}.norm1`),
      `features.${layer}.conv1.weight`,
      ...bn(`${layer}.norm2`),
      `features.${layer}.conv2.weight`,
    ]);
    assert.deepEqual(
      keys.filter((k) => k.startsWith('features.transition1.')),
      [...bn('transition1.norm'), 'features.transition1.conv.weight'],
    );
    assert.deepEqual(keys.slice(-7), [...bn('norm5'), 'classifier.weight', 'classifier.bias']);
    // 64 + 6*32 = 256, halved; 128 + 12*32 = 512, halved; 256 + 24*32 = 1024, halved; 512 + 16*32 = 1024.
    const shapeOf = (k: string): readonly number[] | undefined => model.stateDict().get(k)?.shape;
    assert.deepEqual(shapeOf('features.transition1.conv.weight'), [128, 256, 1, 1]);
    assert.deepEqual(shapeOf('features.transition2.conv.weight'), [256, 512, 1, 1]);
    assert.deepEqual(shapeOf('features.transition3.conv.weight'), [512, 1024, 1, 1]);
    assert.deepEqual(shapeOf('features.denseblock4.denselayer16.conv1.weight'), [128, 512 + 15 * 32, 1, 1]);
    assert.deepEqual(shapeOf('classifier.weight'), [1000, 1024]);
  });
});

describe('DenseNet-BC for CIFAR-10 (L=100, k=12)', () => {
  it('has 769,162 parameters (paper: 0.8M)', () => {
    // (100 - 4) / 6 = 16 bottleneck layers per block; conv0 3 -> 24: 3*24*9 = 648.
    // A layer with C inputs: BN 2C + 1x1 48C + BN 96 + 3x3 48*12*9 = 50 C + 5,280.
    // Block 1 from C = 24: sum of C over 16 layers = 16*24 + 12*120 = 1,824 -> 50*1,824 + 16*5,280 = 175,680.
    // Transition 216 -> 108: 2*216 + 216*108 = 23,760. Block 2 from 108: sum C = 3,168 -> 242,880.
    // Transition 300 -> 150: 600 + 45,000 = 45,600. Block 3 from 150: sum C = 3,840 -> 276,480.
    // norm5 2*342 = 684; fc 342*10 + 10 = 3,430. Total 769,162.
    const model = entry('densenet_bc_100_cifar').build({ backend: 'meta' });
    assert.equal(model.numParameters(), 769_162);
    assert.equal((769_162 / 1e6).toFixed(1), '0.8');
    assert.deepEqual(macsOf(model, [3, 32, 32]).outShape, [1, 10]);
    const names = model.namedModules().map(([n]) => n);
    assert.deepEqual(
      names.filter((n) => /^features\.[a-z]+\d*$/.test(n)),
      [
        'features.conv0',
        'features.denseblock1',
        'features.transition1',
        'features.denseblock2',
        'features.transition2',
        'features.denseblock3',
        'features.norm5',
      ],
    );
    assert.throws(
      () => densenetBcCifar({ depth: 99 }),
      /^ArgumentError: densenetBcCifar: depth must be 6n \+ 4 .*got 99/,
    );
  });
});

describe('DenseNet blocks', () => {
  it("a dense block passes its input through and appends each layer's k channels, each layer seeing all earlier ones", () => {
    manualSeed(5);
    const block = new DenseBlock(3, { layers: 2, growthRate: 2, bnSize: 2 }).eval();
    const x = ops.randn([1, 3, 4, 4]);
    const y = block.call(x);
    assert.deepEqual(y.shape, [1, 3 + 2 * 2, 4, 4]);
    close(ops.slice(y, 1, 0, 3).toArray(), x.toArray());
    const [first, second] = block.layers;
    const f1 = first.call([x]);
    close(ops.slice(y, 1, 3, 5).toArray(), f1.toArray());
    // torchvision's _DenseLayer concatenates the list it gets: same as one concatenated tensor.
    close(ops.slice(y, 1, 5, 7).toArray(), second.call([ops.concat([x, f1], 1)]).toArray());
    assert.deepEqual(
      second.conv1.weight.shape,
      [4, 5, 1, 1],
      'the second layer reads 3 + 2 channels into bnSize*k = 4',
    );
  });

  it('a transition halves the channels and the resolution (BN, ReLU, 1x1, 2x2/2 average pooling)', () => {
    const t = new Transition(4, 2).eval();
    // 1x1 weights [[1, 0, 0, 0], [0, 0, 0, -1]]: channel 0 copies relu(x0 / s), channel 1 is -relu(x3 / s).
    t.conv.loadStateDict({
      weight: ops.tensor([
        [[[1]], [[0]], [[0]], [[0]]],
        [[[0]], [[0]], [[0]], [[-1]]],
      ]),
    });
    const x = ops.reshape(ops.arange(-8, 8), [1, 4, 2, 2]);
    const y = t.call(x);
    assert.deepEqual(y.shape, [1, 2, 1, 1]);
    // Channel 0 is -8..-5 (ReLU: 0); channel 3 is 4..7, mean 5.5; BN eval divides by sqrt(1 + 1e-5).
    close(y.toArray(), [0, -5.5 / Math.sqrt(1 + 1e-5)]);
  });

  it('dropout after a dense layer acts in training mode only', () => {
    manualSeed(2);
    const layer = new DenseLayer(2, { growthRate: 8, dropRate: 0.5 });
    const x = ops.randn([2, 2, 3, 3]);
    layer.eval();
    const a = layer.call([x]).toArray();
    const noDrop = new DenseLayer(2, { growthRate: 8 });
    noDrop.loadStateDict(layer.stateDict());
    close(a, noDrop.eval().call([x]).toArray());
    const dropped = layer.train().call([x]).toArray();
    assert.ok(
      Array.from(dropped).filter((v) => v === 0).length > 0.3 * dropped.length,
      'about half zeroed in training',
    );
  });

  it('initialises as torchvision: convs N(0, 2 / fan_in), BN 1 and 0, classifier bias 0', () => {
    manualSeed(11);
    const model = densenetBcCifar();
    const w = model.stateDict().get('features.denseblock3.denselayer16.conv1.weight');
    assert.ok(w);
    // [48, 330, 1, 1]: fan_in 330, std sqrt(2/330) = 0.0778; 15,840 draws: within about 0.6 %.
    const v = Array.from(w.toArray());
    const std = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    assert.ok(Math.abs(std / Math.sqrt(2 / 330) - 1) < 0.04, `std ${std}`);
    assert.deepEqual(new Set(model.classifier.bias?.toArray()), new Set([0]));
    assert.deepEqual(new Set(model.stateDict().get('features.norm5.weight')?.toArray()), new Set([1]));
  });
});

describe('DenseNet forward passes of one image', () => {
  // Every model for real: first the shape the meta-backend trace predicts, then one image
  // through the reference backend (the native one above 3 GMACs: forwardBackend) must give it.
  for (const e of DENSENET_MODELS) {
    const predicted = macsOf(e.build({ backend: 'meta' }), e.input);
    const backend = forwardBackend(predicted.macs);
    it(`${e.name}: [1, ${e.input.join(', ')}] -> [1, ${e.classes}] (${backend} backend, shape as the analysis predicts)`, () => {
      assert.deepEqual(predicted.outShape, [1, e.classes]);
      manualSeed(1);
      const model = e.build({ backend }).eval();
      const y = noGrad(() => scope(() => model.call(ops.randn([1, ...e.input], { backend }))));
      assert.deepEqual(y.shape, [1, e.classes]);
      assert.ok(y.toArray().every(Number.isFinite));
      model.dispose();
    });
  }
});
