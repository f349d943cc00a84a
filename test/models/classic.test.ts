/**
 * AlexNet, VGG and GoogLeNet: published parameter and MAC counts (meta backend, instant), the paper
 * variants with their counts derived by hand from the papers, GoogLeNet's aux heads and
 * transform_input, BN/dropout train/eval switches, the too-small-input error, registry lookups.
 * Real 224x224 forward passes and initialisation statistics are in classic-forward.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { manualSeed } from '../../src/core/random.js';
import { traceOps } from '../../src/core/trace.js';
import type { Tensor } from '../../src/core/tensor.js';
import { fromArray, randn, zeros } from '../../src/ops/creation.js';
import type { ModelEntry } from '../../src/models/entry.js';
import { googlenet, googlenetPaper, torchvisionTransformInput, type GoogLeNet } from '../../src/models/googlenet.js';
import { BatchNorm2d, Conv2d, LocalResponseNorm, type AnyModule, type TensorModule } from '../../src/nn/index.js';
import { classicEntry, CLASSIC_MODELS, loadRegistry } from './load-registry.js';

/** Parameters, multiply-adds and output shape of one image through the model, on the meta backend. */
function countOnMeta(
  build: () => TensorModule,
  input: readonly number[],
): { params: number; macs: number; shape: number[] } {
  const model = withBackend('meta', build).eval();
  let macs = 0;
  const out = traceOps(
    (e) => {
      macs += e.macs;
    },
    () => model.call(zeros([1, ...input], { backend: 'meta' })),
  );
  return { params: model.numParameters(), macs, shape: [...out.shape] };
}

const metaCount = (entry: ModelEntry): ReturnType<typeof countOnMeta> => countOnMeta(() => entry.build(), entry.input);

/** docs/architecture.md#published-reference-numbers (torchvision's parameters; GMACs at 224x224 as torchvision prints them). */
const PUBLISHED = [
  { name: 'alexnet', params: 61_100_840, gmacs: '0.714' },
  { name: 'vgg11', params: 132_863_336, gmacs: '7.609' },
  { name: 'vgg11_bn', params: 132_868_840, gmacs: '7.609' },
  { name: 'vgg13', params: 133_047_848, gmacs: '11.308' },
  { name: 'vgg13_bn', params: 133_053_736, gmacs: '11.308' },
  { name: 'vgg16', params: 138_357_544, gmacs: '15.470' },
  { name: 'vgg16_bn', params: 138_365_992, gmacs: '15.470' },
  { name: 'vgg19', params: 143_667_240, gmacs: '19.632' },
  { name: 'vgg19_bn', params: 143_678_248, gmacs: '19.632' },
  { name: 'googlenet', params: 6_624_904, gmacs: '1.498' },
] as const;

const moduleAt = (model: AnyModule, path: string): AnyModule => {
  const found = new Map(model.namedModules()).get(path);
  return found ?? assert.fail(`no module '${path}'`);
};

describe('published numbers of the torchvision layouts', () => {
  for (const { name, params, gmacs } of PUBLISHED) {
    it(`${name}: ${params.toLocaleString('en-US')} parameters, ${gmacs} GMACs at 224x224, output [1, 1000]`, () => {
      const entry = classicEntry(name);
      const got = metaCount(entry);
      assert.equal(got.params, params);
      assert.equal((got.macs / 1e9).toFixed(3), gmacs);
      assert.deepEqual(got.shape, [1, 1000]);
      assert.deepEqual(
        [entry.published.params, entry.published.gmacs?.toFixed(3)],
        [params, gmacs],
        'registry entry.published',
      );
    });
  }

  it('alexnet: exactly 714,188,480 MACs, derived layer by layer', () => {
    // 224 -> conv1 11/4 pad 2: 55 -> pool: 27 -> conv2: 27 -> pool: 13 -> conv3..5: 13 -> pool: 6.
    // conv1 55*55*64*(3*11*11) = 70,276,800; conv2 27*27*192*(64*25) = 223,948,800;
    // conv3 13*13*384*(192*9) = 112,140,288; conv4 13*13*256*(384*9) = 149,520,384;
    // conv5 13*13*256*(256*9) = 99,680,256; FC 9216*4096 + 4096*4096 + 4096*1000 = 58,621,952.
    const expected = 70_276_800 + 223_948_800 + 112_140_288 + 149_520_384 + 99_680_256 + 58_621_952;
    assert.equal(metaCount(classicEntry('alexnet')).macs, expected);
  });

  it('classes changes only the last layer', () => {
    for (const name of ['alexnet', 'vgg16', 'googlenet']) {
      const got = countOnMeta(() => classicEntry(name).build({ classes: 10 }), [3, 224, 224]);
      const full = metaCount(classicEntry(name));
      assert.deepEqual(got.shape, [1, 10], name);
      // The last Linear has in*(1000 - 10) + (1000 - 10) fewer parameters: in = 4096 or 1024.
      const inFeatures = name === 'googlenet' ? 1024 : 4096;
      assert.equal(full.params - got.params, (inFeatures + 1) * 990, name);
    }
  });
});

describe('alexnet_paper: the 2012 two-tower net', () => {
  it('has 60,965,224 parameters (the paper: "60 million")', () => {
    // weights + biases per layer (a groups=2 conv's kernels see half the input channels):
    // conv1 96*3*11*11 + 96 = 34,944;      conv2 256*(96/2)*5*5 + 256 = 307,456;
    // conv3 384*256*3*3 + 384 = 885,120;   conv4 384*(384/2)*3*3 + 384 = 663,936;
    // conv5 256*(384/2)*3*3 + 256 = 442,624;
    // fc6 (256*6*6)*4096 + 4096 = 37,752,832; fc7 4096*4096 + 4096 = 16,781,312; fc8 4096*1000 + 1000 = 4,097,000.
    const total = 34_944 + 307_456 + 885_120 + 663_936 + 442_624 + 37_752_832 + 16_781_312 + 4_097_000;
    assert.equal(total, 60_965_224);
    assert.equal(metaCount(classicEntry('alexnet_paper')).params, total);
  });

  it("costs 724,406,816 MACs at 227x227 (1.4% more than torchvision's 0.714G: 96 wider conv1, 384-wide conv4)", () => {
    // 227 -> conv1 11/4: 55 -> pool: 27 -> conv2: 27 -> pool: 13 -> conv3..5: 13 -> pool: 6.
    // conv1 55*55*96*363 = 105,415,200; conv2 27*27*256*(48*25) = 223,948,800; conv3 13*13*384*(256*9) = 149,520,384;
    // conv4 13*13*384*(192*9) = 112,140,288; conv5 13*13*256*(192*9) = 74,760,192; FC 58,621,952 as torchvision.
    const expected = 105_415_200 + 223_948_800 + 149_520_384 + 112_140_288 + 74_760_192 + 58_621_952;
    const got = metaCount(classicEntry('alexnet_paper'));
    assert.equal(got.macs, expected);
    assert.deepEqual(got.shape, [1, 1000]);
  });

  it('has grouped convs where the towers stay separate and LRN after conv1 and conv2', () => {
    const model = withBackend('meta', () => classicEntry('alexnet_paper').build());
    const convs = model.namedModules().filter((e): e is [string, Conv2d] => e[1] instanceof Conv2d);
    assert.deepEqual(
      convs.map(([path, c]) => [path, c.groups, c.outChannels]),
      [
        ['features.0', 1, 96],
        ['features.4', 2, 256],
        ['features.8', 1, 384],
        ['features.10', 2, 384],
        ['features.12', 2, 256],
      ],
    );
    const lrns = model
      .namedModules()
      .filter(([, m]) => m instanceof LocalResponseNorm)
      .map(([path]) => path);
    assert.deepEqual(lrns, ['features.2', 'features.6']);
    // Dropout on the hidden neurons' outputs: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
    assert.deepEqual(
      [...model.stateDict().keys()].filter((k) => k.startsWith('classifier')),
      [
        'classifier.0.weight',
        'classifier.0.bias',
        'classifier.3.weight',
        'classifier.3.bias',
        'classifier.6.weight',
        'classifier.6.bias',
      ],
    );
  });

  it("normalises with the paper's formula: b = a / (2 + 1e-4 * sum a^2)^0.75 over 5 channels", () => {
    // The layer holds no tensors, so the one of a meta-built net runs on a reference-backend input.
    const lrn = moduleAt(
      withBackend('meta', () => classicEntry('alexnet_paper').build()),
      'features.2',
    );
    assert.ok(lrn instanceof LocalResponseNorm);
    // One active channel (a = 10) among five: its own window sums 100.
    const y = lrn.call(fromArray([0, 0, 10, 0, 0], [1, 5, 1, 1], { backend: 'ref' })).toArray();
    assert.ok(Math.abs(y[2] - 10 / (2 + 1e-4 * 100) ** 0.75) < 1e-5, `got ${y[2]}`);
  });

  it('wants its 227 input: at 224 the features end at 5x5 and fc6 names the mismatch', () => {
    // 224 -> conv1: floor(213/4)+1 = 54 -> pool: 26 -> pool: 12 -> pool: 5; 256*5*5 = 6400 features.
    const model = withBackend('meta', () => classicEntry('alexnet_paper').build());
    assert.throws(
      () => model.call(zeros([1, 3, 224, 224], { backend: 'meta' })),
      /^ShapeError: linear \(classifier\.0\): input has 6400 features .*weight expects 9216/,
    );
  });
});

/** Table 1 of the GoogLeNet paper, typed from the paper (not from src/): in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj. */
const PAPER_TABLE = [
  { at: 28, in: 192, c1: 64, r3: 96, c3: 128, r5: 16, c5: 32, pp: 32 },
  { at: 28, in: 256, c1: 128, r3: 128, c3: 192, r5: 32, c5: 96, pp: 64 },
  { at: 14, in: 480, c1: 192, r3: 96, c3: 208, r5: 16, c5: 48, pp: 64 },
  { at: 14, in: 512, c1: 160, r3: 112, c3: 224, r5: 24, c5: 64, pp: 64 },
  { at: 14, in: 512, c1: 128, r3: 128, c3: 256, r5: 24, c5: 64, pp: 64 },
  { at: 14, in: 512, c1: 112, r3: 144, c3: 288, r5: 32, c5: 64, pp: 64 },
  { at: 14, in: 528, c1: 256, r3: 160, c3: 320, r5: 32, c5: 128, pp: 128 },
  { at: 7, in: 832, c1: 256, r3: 160, c3: 320, r5: 32, c5: 128, pp: 128 },
  { at: 7, in: 832, c1: 384, r3: 192, c3: 384, r5: 48, c5: 128, pp: 128 },
];

describe('googlenet_paper: true 5x5, LRN, no BN', () => {
  // Weights of one Inception module with a k x k "5x5" branch; biases = one per output channel of each conv.
  const weights = (b: (typeof PAPER_TABLE)[number], k: number): number =>
    b.in * (b.c1 + b.r3 + b.r5 + b.pp) + b.r3 * b.c3 * 9 + b.r5 * b.c5 * k * k;
  const biases = (b: (typeof PAPER_TABLE)[number]): number => b.c1 + b.r3 + b.c3 + b.r5 + b.c5 + b.pp;
  // Stem: conv1 7x7 3->64 at 112x112, conv2 1x1 64->64 and conv3 3x3 64->192 at 56x56; classifier 1024->1000.
  const stem = [
    { w: 7 * 7 * 3 * 64, out: 64, at: 112 },
    { w: 64 * 64, out: 64, at: 56 },
    { w: 9 * 64 * 192, out: 192, at: 56 },
  ];

  it('has 6,998,552 parameters: the paper\'s "about 6.8M" is Table 1\'s column, in K = 1024 weights without biases', () => {
    const stemParams = stem.reduce((n, c) => n + c.w + c.out, 0);
    const expected = stemParams + PAPER_TABLE.reduce((n, b) => n + weights(b, 5) + biases(b), 0) + 1024 * 1000 + 1000;
    assert.equal(expected, 6_998_552);
    assert.equal(metaCount(classicEntry('googlenet_paper')).params, expected);
    // Table 1 counts weights only, in units of 1024: inception3a is 163,328 weights = "159K", the
    // classifier 1,024,000 = "1000K". Its conv1 row (2.7K) is far below 7*7*3*64 = 9,408 weights and
    // its 4c and 5a rows (463K, 1072K) disagree with the widths in the same table (497.5K, 1018K):
    // summed, the widths give 6,990,272 weights = 6826K, the column says 6798K. Biases add 8,280.
    assert.equal(weights(PAPER_TABLE[0], 5), 159.5 * 1024);
  });

  it("costs 1.583 GMACs: the paper's 1.5G, plus 84M because Table 1 lists conv1 at 34M instead of 118M", () => {
    const spatial = (b: (typeof PAPER_TABLE)[number]): number => b.at * b.at * weights(b, 5);
    const expected =
      stem.reduce((n, c) => n + c.at * c.at * c.w, 0) + PAPER_TABLE.reduce((n, b) => n + spatial(b), 0) + 1024 * 1000;
    const got = metaCount(classicEntry('googlenet_paper'));
    assert.equal(got.macs, expected);
    assert.equal((got.macs / 1e9).toFixed(3), '1.583');
    // conv1 costs 112*112*9408 = 118,013,952 MACs; with Table 1's 34M instead, the total is Table 1's ~1.5G.
    assert.equal(((expected - 112 * 112 * 9408 + 34e6) / 1e9).toFixed(1), '1.5');
    assert.deepEqual(got.shape, [1, 1000]);
  });

  it('uses 5x5 kernels where torchvision uses 3x3 (the upstream bug), LRN in the stem, biases instead of BN', () => {
    const paper = withBackend('meta', () => googlenetPaper()).stateDict();
    const tv = withBackend('meta', () => googlenet()).stateDict();
    assert.deepEqual(paper.get('inception3a.branch3.1.conv.weight')?.shape, [32, 16, 5, 5]);
    assert.deepEqual(tv.get('inception3a.branch3.1.conv.weight')?.shape, [32, 16, 3, 3]);
    assert.ok(paper.has('conv1.conv.bias') && !paper.has('conv1.bn.weight'));
    assert.ok(!tv.has('conv1.conv.bias') && tv.has('conv1.bn.weight'));
    const lrns = withBackend('meta', () => googlenetPaper())
      .namedModules()
      .filter(([, m]) => m instanceof LocalResponseNorm);
    assert.deepEqual(
      lrns.map(([p]) => p),
      ['lrn1', 'lrn2'],
    );
  });
});

describe('googlenet: auxiliary classifiers', () => {
  const x = (): Tensor => zeros([2, 3, 224, 224], { backend: 'meta' });

  it('are off in the registry entry (published count) and add 6,379,984 parameters when on', () => {
    // aux1 on 512 channels: conv 512*128 + BN 2*128 + fc1 2048*1024 + 1024 + fc2 1024*1000 + 1000 = 3,188,968;
    // aux2 on 528 channels: 528*128 + 256 + 2,098,176 + 1,025,000 = 3,191,016.
    const withAux = withBackend('meta', () => googlenet({ auxLogits: true }));
    assert.equal(withAux.numParameters(), 6_624_904 + 3_188_968 + 3_191_016);
    assert.ok(withAux.aux1 && withAux.aux2);
    assert.equal(withBackend('meta', () => googlenet()).aux1, null);
  });

  it('run only in training mode: callWithAux gives [N, 1000] aux logits, eval gives null', () => {
    const model = withBackend('meta', () => googlenet({ auxLogits: true }));
    model.train();
    const trained = model.callWithAux(x());
    assert.deepEqual(
      [trained.logits.shape, trained.aux1?.shape, trained.aux2?.shape],
      [
        [2, 1000],
        [2, 1000],
        [2, 1000],
      ],
    );
    model.eval();
    const evaluated = model.callWithAux(x());
    assert.deepEqual([evaluated.logits.shape, evaluated.aux1, evaluated.aux2], [[2, 1000], null, null]);
    // call() is the plain Module interface: the main logits in every mode.
    assert.deepEqual(model.train().call(x()).shape, [2, 1000]);
    const without = withBackend('meta', () => googlenet())
      .train()
      .callWithAux(x());
    assert.deepEqual([without.aux1, without.aux2], [null, null]);
  });

  it('cost 8,372,224 MACs per image in training mode and nothing in eval mode', () => {
    // aux1: 4*4*512*128 + 2048*1024 + 1024*1000 = 4,169,728; aux2: 4*4*528*128 + 2,097,152 + 1,024,000 = 4,202,496.
    const model = withBackend('meta', () => googlenet({ auxLogits: true }));
    const macs = (m: GoogLeNet): number => {
      let n = 0;
      traceOps(
        (e) => {
          n += e.macs;
        },
        () => m.callWithAux(zeros([1, 3, 224, 224], { backend: 'meta' })),
      );
      return n;
    };
    const evalMacs = macs(model.eval());
    assert.equal(evalMacs, metaCount(classicEntry('googlenet')).macs);
    assert.equal(macs(model.train()) - evalMacs, 4_169_728 + 4_202_496);
  });

  it("have torchvision's keys and place: aux1 and aux2 after inception5b, before fc", () => {
    const model = withBackend('meta', () => googlenet({ auxLogits: true }));
    const keys = [...model.stateDict().keys()];
    assert.deepEqual(keys.filter((k) => k.startsWith('aux1.')).slice(0, 2), [
      'aux1.conv.conv.weight',
      'aux1.conv.bn.weight',
    ]);
    // As torchvision: after inception5b, before fc.
    assert.ok(keys.indexOf('aux1.conv.conv.weight') > keys.indexOf('inception5b.branch4.1.bn.num_batches_tracked'));
    assert.ok(keys.indexOf('aux2.fc2.bias') < keys.indexOf('fc.weight'));
  });
});

describe('googlenet: transform_input', () => {
  // torchvision: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
  const scale = [0.458, 0.448, 0.45];
  const shift = [-0.03, -0.088, -0.188];

  it('maps each channel as torchvision: [1, 0, -1] -> [0.428, -0.088, -0.638]', () => {
    const y = torchvisionTransformInput(fromArray([1, 0, -1], [1, 3, 1, 1])).toArray();
    [0.428, -0.088, -0.638].forEach((v, c) => assert.ok(Math.abs(y[c] - v) < 1e-6, `channel ${c}: ${y[c]} vs ${v}`));
  });

  it('is off by default; on, the net computes what the plain net computes on the transformed input', () => {
    const on = googlenet({ transformInput: true });
    const off = googlenet();
    off.loadStateDict(on.stateDict());
    assert.deepEqual([on.transformInput, off.transformInput], [true, false]);
    const hw = 64 * 64;
    const x = randn([2, 3, 64, 64]);
    const transformed = Array.from(
      x.toArray(),
      (v, i) => v * scale[Math.floor(i / hw) % 3] + shift[Math.floor(i / hw) % 3],
    );
    // Training mode: batch statistics keep activations O(1) through the freshly initialised net
    // (in eval mode its std-0.01 weights shrink everything to the fc bias). Same seed, same dropout masks.
    const run = (model: GoogLeNet, input: Tensor): Float32Array | Float64Array => {
      manualSeed(11);
      return model.train().call(input).toArray();
    };
    const a = run(on, x);
    const b = run(off, fromArray(transformed, x.shape));
    const plain = run(off, x);
    const maxDiff = (p: ArrayLike<number>, q: ArrayLike<number>): number =>
      Array.from(p).reduce((m, v, i) => Math.max(m, Math.abs(v - q[i])), 0);
    assert.ok(maxDiff(a, b) < 1e-4, `with transform vs transformed input: ${maxDiff(a, b)}`);
    assert.ok(maxDiff(a, plain) > 1e-2, `the transform should change the output: ${maxDiff(a, plain)}`);
  });
});

describe('BN and dropout follow train() and eval() (googlenet, 2 images of 64x64)', () => {
  it('training: batch statistics, running statistics updated, dropout draws; eval: running statistics, deterministic', () => {
    const model = googlenet();
    const x = randn([2, 3, 64, 64]);
    const conv = moduleAt(model, 'conv1.conv');
    const bn = moduleAt(model, 'conv1.bn');
    assert.ok(
      conv instanceof Conv2d && bn instanceof BatchNorm2d && bn.runningMean && bn.runningVar && bn.numBatchesTracked,
    );
    // PyTorch: running = 0.9 * running + 0.1 * batch statistic, the variance unbiased (n - 1), per channel.
    const c = conv.call(x);
    const [n, channels, h, w] = c.shape;
    const values = c.toArray();
    const count = n * h * w;
    const means: number[] = [];
    const vars: number[] = [];
    for (let ch = 0; ch < channels; ch++) {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) for (let j = 0; j < h * w; j++) xs.push(values[(i * channels + ch) * h * w + j]);
      const mean = xs.reduce((s, v) => s + v, 0) / count;
      means.push(mean);
      vars.push(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (count - 1));
    }
    const y1 = model.train().call(x).toArray();
    const rm = bn.runningMean.toArray();
    const rv = bn.runningVar.toArray();
    for (let ch = 0; ch < channels; ch++) {
      assert.ok(Math.abs(rm[ch] - 0.1 * means[ch]) < 1e-6, `running_mean[${ch}]`);
      assert.ok(Math.abs(rv[ch] - (0.9 + 0.1 * vars[ch])) < 1e-5 * (1 + rv[ch]), `running_var[${ch}]`);
    }
    assert.equal(bn.numBatchesTracked.item(), 1);
    const y2 = model.call(x).toArray();
    assert.notDeepEqual(y1, y2, 'dropout (p = 0.2) draws a new mask every call in training mode');
    assert.equal(bn.numBatchesTracked.item(), 2);

    model.eval();
    assert.ok(
      model.modules().every((m) => !m.training),
      'eval() reaches every submodule',
    );
    const before = bn.runningMean.toArray().slice();
    const y3 = model.call(x).toArray();
    assert.deepEqual(model.call(x).toArray(), y3, 'eval mode is deterministic');
    assert.deepEqual(bn.runningMean.toArray(), before, 'eval mode leaves the running statistics alone');
    assert.equal(bn.numBatchesTracked.item(), 2);
    // Eval BN normalises with the running statistics: (x - running_mean) / sqrt(running_var + 1e-3).
    const normalised = bn.call(c).toArray();
    const rmNow = bn.runningMean.toArray();
    const rvNow = bn.runningVar.toArray();
    const at = (i: number): number => Math.floor(i / (h * w)) % channels;
    for (let i = 0; i < normalised.length; i += 997) {
      const want = (values[i] - rmNow[at(i)]) / Math.sqrt(rvNow[at(i)] + 1e-3);
      assert.ok(Math.abs(normalised[i] - want) < 1e-5 * (1 + Math.abs(want)), `element ${i}`);
    }
  });
});

describe('too small an input', () => {
  it('AlexNet at 32x32 names the pool where the image vanishes: features.12', () => {
    // 32 -> conv1 11/4 pad 2: floor(25/4)+1 = 7 -> pool 3/2: 3 -> conv2: 3 -> pool: 1 -> conv3..5: 1 -> pool: 0.
    const model = withBackend('meta', () => classicEntry('alexnet').build());
    assert.throws(
      () => model.call(zeros([1, 3, 32, 32], { backend: 'meta' })),
      /^ShapeError: maxPool2d \(features\.12\): output would be 0x0: kernel 3x3 does not fit the input 1x1/,
    );
  });
});

describe('registry', async () => {
  const registry = await loadRegistry();

  it('has every classic model under its torchvision or paper name', () => {
    if (registry instanceof Error) return assert.fail(`src/models/registry.ts did not load: ${registry.message}`);
    const names = registry.modelNames();
    for (const e of CLASSIC_MODELS) assert.ok(names.includes(e.name), e.name);
    assert.deepEqual(
      CLASSIC_MODELS.map((e) => e.name),
      [
        'alexnet',
        'alexnet_paper',
        'vgg11',
        'vgg11_bn',
        'vgg13',
        'vgg13_bn',
        'vgg16',
        'vgg16_bn',
        'vgg19',
        'vgg19_bn',
        'googlenet',
        'googlenet_paper',
      ],
    );
    assert.equal(registry.getModel('vgg19_bn').family, 'vgg');
  });

  it('answers an unknown name with the closest names', () => {
    if (registry instanceof Error) return assert.fail(`src/models/registry.ts did not load: ${registry.message}`);
    assert.throws(
      () => registry.getModel('VGG16-BN'),
      /^ArgumentError: zoo: unknown model 'VGG16-BN'; closest: vgg16_bn, /,
    );
    assert.throws(() => registry.getModel('alexnet_papr'), /closest: alexnet_paper, alexnet\b/);
    assert.throws(() => registry.getModel('googlenett'), /closest: googlenet, /);
  });
});
