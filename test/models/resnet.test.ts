import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { noGrad } from '../../src/core/grad-mode.js';
import { manualSeed } from '../../src/core/random.js';
import { scope } from '../../src/core/scope.js';
import type { Tensor } from '../../src/core/tensor.js';
import type { TensorModule } from '../../src/nn/module.js';
import { BasicBlock, Bottleneck, ZeroPadShortcut } from '../../src/models/resnet-blocks.js';
import { CIFAR_STEM, resnetCifar } from '../../src/models/resnet-cifar.js';
import { ResNet } from '../../src/models/resnet-net.js';
import { RESNET_MODELS, resnet, type ResNetOptions } from '../../src/models/resnet.js';
import * as ops from '../../src/ops/index.js';
import { close, entryIn, forwardBackend, itMatchesPublished, macsOf } from './zoo-helpers.js';

/** Shape-only nets: instant, nothing allocated. */
const metaResnet = (opts: ResNetOptions): ResNet => withBackend('meta', () => resnet(opts));
const metaCifar = (opts: Parameters<typeof resnetCifar>[0]): ResNet => withBackend('meta', () => resnetCifar(opts));

const entry = (name: string) => entryIn(RESNET_MODELS, name);

describe("ResNet for ImageNet: counts equal torchvision's published ones", () => {
  // torchvision 0.14: sum of p.numel() over parameters(); "GFLOPS" (multiply-adds) at 224x224
  // (docs/architecture.md#published-reference-numbers).
  const published = [
    ['resnet18', 11_689_512, '1.814'],
    ['resnet34', 21_797_672, '3.664'],
    ['resnet50', 25_557_032, '4.089'],
    ['resnet101', 44_549_160, '7.801'],
    ['resnet152', 60_192_808, '11.514'],
  ] as const;
  itMatchesPublished(RESNET_MODELS, published);

  it("the paper's v1 layout has the same parameters and 231,211,008 fewer MACs at every depth", () => {
    // Only the first bottleneck of layer2..4 strides. v1.5 runs its 1x1 conv1 at the input
    // resolution: 56*56*256*128 = 28*28*512*256 = 14*14*1024*512 = 102,760,448 MACs each; v1 strides
    // that 1x1, so it sees a quarter of the pixels; the 3x3 outputs the low resolution in both
    // layouts, so costs the same. Saving: 3 * 3/4 * 102,760,448 = 231,211,008.
    for (const depth of [50, 101, 152] as const) {
      const v15 = metaResnet({ depth, strideOn: 'conv2' });
      const v1 = entry(`resnet${depth}_v1`).build({ backend: 'meta' });
      assert.equal(v1.numParameters(), v15.numParameters());
      assert.equal(macsOf(v15, [3, 224, 224]).macs - macsOf(v1, [3, 224, 224]).macs, 231_211_008);
    }
  });

  it('v1 MACs against the paper\'s Table 1 "FLOPs" (multiply-adds): 3.858 (printed 3.8), 7.570 (7.6), 11.282 (11.3)', () => {
    // 4.089 - 0.231 = 3.858 for ResNet-50: the paper's "3.8" is that number truncated; 101 and 152
    // round to the paper's figures. (v1 is cheaper than torchvision's v1.5, not dearer.)
    const g = (name: string): number => macsOf(entry(name).build({ backend: 'meta' }), [3, 224, 224]).macs / 1e9;
    assert.equal(g('resnet50_v1').toFixed(3), '3.858');
    assert.equal(Math.floor(g('resnet50_v1') * 10) / 10, 3.8);
    assert.equal(g('resnet101_v1').toFixed(1), '7.6');
    assert.equal(g('resnet152_v1').toFixed(1), '11.3');
  });

  it("state-dict keys follow torchvision's BasicBlock and Bottleneck attribute order", () => {
    const keys = [...metaResnet({ depth: 18 }).stateDict().keys()];
    const bn = (p: string): string[] =>
      ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((k) => `${p}.${k}`);
    assert.deepEqual(keys.slice(0, 6), ['conv1.weight', ...bn('bn1')]);
    const block = keys.filter((k) => k.startsWith('layer2.0.'));
    assert.deepEqual(block, [
      'layer2.0.conv1.weight',
      ...bn('layer2.0.bn1'),
      'layer2.0.conv2.weight',
      ...bn('layer2.0.bn2'),
      'layer2.0.downsample.0.weight',
      ...bn('layer2.0.downsample.1'),
    ]);
    assert.ok(
      !keys.some((k) => k.startsWith('layer1.0.downsample')),
      'resnet18 layer1 keeps 64 channels at stride 1: no projection',
    );
    assert.deepEqual(keys.slice(-2), ['fc.weight', 'fc.bias']);
    const bottleneck = [...metaResnet({ depth: 50 }).stateDict().keys()].filter(
      (k) => k.startsWith('layer1.0.') && k.endsWith('weight'),
    );
    assert.deepEqual(bottleneck, [
      'layer1.0.conv1.weight',
      'layer1.0.bn1.weight',
      'layer1.0.conv2.weight',
      'layer1.0.bn2.weight',
      'layer1.0.conv3.weight',
      'layer1.0.bn3.weight',
      'layer1.0.downsample.0.weight',
      'layer1.0.downsample.1.weight',
    ]);
  });

  it('v1 puts the stride on conv1, v1.5 on conv2', () => {
    const at = (strideOn: 'conv1' | 'conv2'): Bottleneck => {
      const b = metaResnet({ depth: 50, strideOn }).layers[1].at(0);
      assert.ok(b instanceof Bottleneck);
      return b;
    };
    assert.deepEqual(
      [at('conv1').conv1.stride, at('conv1').conv2.stride],
      [
        [2, 2],
        [1, 1],
      ],
    );
    assert.deepEqual(
      [at('conv2').conv1.stride, at('conv2').conv2.stride],
      [
        [1, 1],
        [2, 2],
      ],
    );
    assert.throws(
      () => metaResnet({ depth: 18, strideOn: 'conv1' }),
      /^ArgumentError: ResNet: strideOn 'conv1' applies to bottleneck blocks only/,
    );
  });
});

describe('ResNet for CIFAR-10 (He et al. 2015, section 4.2)', () => {
  // Parameters with option A (its shortcuts have none), n blocks per stage:
  //   first conv 3*16*9 + BN 2*16 = 464; fc 64*10 + 10 = 650;
  //   stage 1: n blocks of two (16*16*9 + 2*16) = 4,672 n;
  //   stage 2: 16*32*9 + 32*32*9 + 4*32 = 13,952, then (n-1) * 2 * (32*32*9 + 64) = 18,560 (n-1);
  //   stage 3: 32*64*9 + 64*64*9 + 4*64 = 55,552, then (n-1) * 2 * (64*64*9 + 128) = 73,984 (n-1);
  //   total = 97,216 n - 21,926.
  const expected = (n: number): number => 97_216 * n - 21_926;
  const table = [
    [20, 3, 269_722, '0.27'],
    [32, 5, 464_154, '0.46'],
    [44, 7, 658_586, '0.66'],
    [56, 9, 853_018, '0.85'],
    [110, 18, 1_727_962, '1.7'],
  ] as const;
  for (const [depth, n, params, paper] of table) {
    it(`resnet${depth}_cifar and plain${depth}_cifar: ${params.toLocaleString('en-US')} parameters (paper: ${paper}M)`, () => {
      assert.equal(expected(n), params);
      const res = entry(`resnet${depth}_cifar`).build({ backend: 'meta' });
      const plain = entry(`plain${depth}_cifar`).build({ backend: 'meta' });
      assert.equal(res.numParameters(), params);
      assert.equal(plain.numParameters(), params, 'option A adds no parameters, so the plain twin has the same count');
      assert.equal((params / 1e6).toFixed(paper.length - 2), paper);
      assert.deepEqual(macsOf(res, [3, 32, 32]).outShape, [1, 10]);
    });
  }

  it('shortcut options on ResNet-20: B adds 2,752 parameters, C adds 14,240', () => {
    // B projects where the shape changes: 16->32 (1x1 512 + BN 64) and 32->64 (2,048 + 128) = 2,752.
    // C projects on every block: stage 1 3 * (256 + 32); stage 2 576 + 2 * (1,024 + 64);
    // stage 3 2,176 + 2 * (4,096 + 128): 864 + 2,752 + 2,176 + 8,448 = 14,240.
    const count = (shortcut: 'A' | 'B' | 'C'): number => metaCifar({ depth: 20, shortcut }).numParameters();
    assert.equal(count('B') - count('A'), 2_752);
    assert.equal(count('C') - count('A'), 14_240);
    // On ResNet-18, A drops torchvision's three projections: 8,448 + 33,280 + 132,096 = 173,824.
    assert.equal(
      metaResnet({ depth: 18, shortcut: 'B' }).numParameters() -
        metaResnet({ depth: 18, shortcut: 'A' }).numParameters(),
      173_824,
    );
  });

  it('plain nets have no downsample module; ResNets have the parameter-free one where shapes change', () => {
    const names = (m: TensorModule): string[] =>
      m
        .namedModules()
        .map(([n]) => n)
        .filter((n) => n.endsWith('downsample'));
    assert.deepEqual(names(metaCifar({ depth: 20, residual: false })), []);
    assert.deepEqual(names(metaCifar({ depth: 20 })), ['layer2.0.downsample', 'layer3.0.downsample']);
    assert.throws(
      () => metaCifar({ depth: 21 }),
      /^ArgumentError: resnetCifar: depth must be 6n \+ 2 for a whole n >= 1 .*got 21/,
    );
  });
});

describe('ResNet blocks', () => {
  it('option A shortcut: x[:, :, ::2, ::2] with zero channels appended, no parameters', () => {
    // x = 0..17 as [1, 2, 3, 3]; every second row and column of a 3x3 map: positions (0,0), (0,2),
    // (2,0), (2,2), i.e. offsets 0, 2, 6, 8 in channel 0 and 9 + those in channel 1.
    const shortcut = new ZeroPadShortcut(2, 4, 2);
    const y = shortcut.call(ops.reshape(ops.arange(18), [1, 2, 3, 3]));
    assert.deepEqual(y.shape, [1, 4, 2, 2]);
    assert.deepEqual([...y.toArray()], [0, 2, 6, 8, 9, 11, 15, 17, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(shortcut.numParameters(), 0);
    assert.throws(
      () => new ZeroPadShortcut(4, 2, 1),
      /^ArgumentError: ZeroPadShortcut: option A can only add channels, got 4 -> 2/,
    );
  });

  it('a block with option A and a zero main branch returns relu(subsampled, zero-padded x)', () => {
    const block = new BasicBlock({ inChannels: 1, planes: 2, stride: 2, shortcut: 'A' });
    for (const conv of [block.conv1, block.conv2]) conv.weight.assign(ops.zerosLike(conv.weight));
    // [1, 1, 2, 2] = [[1, -2], [-3, 4]]: stride 2 keeps the 1 at (0, 0); channel 2 is padding.
    const y = block.eval().call(
      ops.tensor([
        [
          [
            [1, -2],
            [-3, 4],
          ],
        ],
      ]),
    );
    assert.deepEqual(y.shape, [1, 2, 1, 1]);
    assert.deepEqual([...y.toArray()], [1, 0]);
    const plain = new BasicBlock({ inChannels: 1, planes: 1, residual: false });
    for (const conv of [plain.conv1, plain.conv2]) conv.weight.assign(ops.zerosLike(conv.weight));
    assert.deepEqual(
      [
        ...plain
          .eval()
          .call(ops.tensor([[[[5]]]]))
          .toArray(),
      ],
      [0],
      'a plain block adds no input back',
    );
  });

  it('BN switches between batch statistics (train) and running statistics (eval) in a block', () => {
    manualSeed(3);
    const block = new BasicBlock({ inChannels: 2, planes: 2 });
    const x = ops.randn([2, 2, 4, 4]);
    const conv = (t: Tensor, w: Tensor): Tensor => ops.conv2d(t, w, null, { padding: 1 });
    // eval, fresh buffers (mean 0, var 1, weight 1, bias 0): BN divides by s = sqrt(1 + eps), and
    // ReLU and bias-free convs are positively homogeneous, so y = relu(conv2(relu(conv1 x)) / s^2 + x).
    const evalOut = block.eval().call(x);
    assert.equal(block.bn1.training, false);
    const branch = conv(ops.relu(conv(x, block.conv1.weight)), block.conv2.weight);
    close(evalOut.toArray(), ops.relu(ops.add(ops.div(branch, 1 + 1e-5), x)).toArray());
    assert.equal(block.bn1.numBatchesTracked?.item(), 0, 'eval leaves the running statistics alone');
    // train: normalise with the batch statistics, and move the running mean 0.1 of the way.
    const trainOut = block.train().call(x);
    const c1 = conv(x, block.conv1.weight);
    const bnBatch = (t: Tensor): Tensor => ops.batchNorm(t, { training: true });
    const expected = ops.relu(ops.add(bnBatch(conv(ops.relu(bnBatch(c1)), block.conv2.weight)), x));
    close(trainOut.toArray(), expected.toArray());
    const channelMean = (t: Tensor, c: number): number => {
      const v = t.toArray(),
        hw = 16;
      let s = 0;
      for (let n = 0; n < 2; n++) for (let i = 0; i < hw; i++) s += v[(n * 2 + c) * hw + i];
      return s / (2 * hw);
    };
    close(block.bn1.runningMean?.toArray() ?? [], [0.1 * channelMean(c1, 0), 0.1 * channelMean(c1, 1)]);
    assert.equal(block.bn1.numBatchesTracked?.item(), 1);
  });

  it('zeroInitResidual zeroes the last BN weight of every block (bn2 basic, bn3 bottleneck), as torchvision', () => {
    // Small real nets (values needed): a CIFAR ResNet-8 and a one-stage bottleneck net.
    const bottleneckNet = (zeroInitResidual: boolean): ResNet =>
      new ResNet({
        block: 'bottleneck',
        stem: CIFAR_STEM,
        stages: [{ planes: 4, blocks: 2, stride: 1 }],
        classes: 10,
        shortcut: 'B',
        strideOn: 'conv2',
        residual: true,
        zeroInitResidual,
        inChannels: 3,
      });
    const nets = [
      [(z: boolean) => resnetCifar({ depth: 8, zeroInitResidual: z }), 'bn2'],
      [bottleneckNet, 'bn3'],
    ] as const;
    for (const [make, last] of nets) {
      for (const zero of [true, false]) {
        const weights = make(zero)
          .namedParameters()
          .filter(([k]) => /bn\d\.weight$/.test(k));
        assert.ok(weights.some(([k]) => k.endsWith(`.${last}.weight`)));
        for (const [k, t] of weights)
          assert.deepEqual(new Set(t.toArray()), new Set([zero && k.endsWith(`.${last}.weight`) ? 0 : 1]), k);
      }
    }
  });

  it('initialises as torchvision: convs N(0, 2 / fan_out), BN 1 and 0, fc U(+-1/sqrt(in))', () => {
    manualSeed(7);
    const model = resnetCifar({ depth: 20 });
    // layer3.1.conv2: [64, 64, 3, 3], fan_out = 64 * 9, std sqrt(2 / 576) = 0.0589; 36,864 draws
    // estimate the std within about 0.4 %, so 3 % is a safe bound.
    const w = model.layers[2].at(1);
    assert.ok(w instanceof BasicBlock);
    const v = w.conv2.weight.toArray();
    const std = Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0) / v.length);
    assert.ok(Math.abs(std / Math.sqrt(2 / 576) - 1) < 0.03, `std ${std}`);
    const fc = model.fc.weight.toArray();
    const bound = 1 / Math.sqrt(64);
    assert.ok(fc.every((x) => Math.abs(x) <= bound) && Math.max(...fc.map(Math.abs)) > 0.9 * bound);
  });
});

describe('ResNet forward passes of one image', () => {
  // Every model for real: first the shape the meta-backend trace predicts, then one image
  // through the reference backend (the native one above 3 GMACs: forwardBackend) must give it.
  for (const e of RESNET_MODELS) {
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
