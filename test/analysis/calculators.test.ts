import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CALC_LIMITS,
  compareBlocks,
  compareInception,
  compareReduction,
  compareStack,
  convParams,
  denseBlock,
} from '../../src/analysis/calculators.js';
import { answerQuiz, type Measured } from '../../src/analysis/quiz.js';
import { ArgumentError } from '../../src/core/errors.js';

describe("the lecture's calculators", () => {
  it('two 3x3 at 128->128 vs one 5x5: 294,912 vs 409,600, both seeing 5x5', () => {
    const c = compareStack();
    assert.equal(c.receptiveField, 5);
    assert.equal(c.stacked.params, 3 * 3 * 128 * 128 + 3 * 3 * 128 * 128);
    assert.equal(c.stacked.params, 294_912);
    assert.equal(c.single.params, 409_600);
    assert.equal(c.single.kernel, 5);
    assert.deepEqual([c.stacked.nonlinearities, c.single.nonlinearities], [2, 1]);
  });

  it('generalises: three 3x3 see 7x7 (VGG), with 27 C^2 weights against 49 C^2', () => {
    const c = compareStack({ count: 3, channels: 64 });
    assert.equal(c.receptiveField, 7);
    assert.equal(c.stacked.params, 27 * 64 * 64);
    assert.equal(c.single.params, 49 * 64 * 64);
    assert.equal(compareStack({ bias: true, channels: 2 }).stacked.params, 2 * (9 * 4 + 2));
  });

  it('1x1 reduction before a 3x3: 147,456 vs 40,960 for 128->32->128', () => {
    const c = compareReduction();
    assert.equal(c.direct.params, 147_456);
    assert.equal(c.withReduction.reduceParams, 128 * 32);
    assert.equal(c.withReduction.convParams, 9 * 32 * 128);
    assert.equal(c.withReduction.params, 40_960);
  });

  it("an Inception module with and without reductions (the paper's inception (3a), by hand)", () => {
    const c = compareInception();
    // With: 192*64 + (192*96 + 9*96*128) + (192*16 + 25*16*32) + 192*32 = 12,288 + 129,024 + 15,872 + 6,144.
    assert.equal(c.withReduction.params, 163_328);
    assert.equal(c.withReduction.outChannels, 64 + 128 + 32 + 32);
    // Without: 192*64 + 9*192*128 + 25*192*32 + 0, and the pool branch passes all 192 channels.
    assert.equal(c.withoutReduction.params, 12_288 + 221_184 + 153_600);
    assert.equal(c.withoutReduction.outChannels, 64 + 128 + 32 + 192);
  });

  it('basic block vs bottleneck at width 64 match torchvision (resnet18 layer1.0: 73,984; resnet50 layer1.1: 70,400)', () => {
    // Values from PyTorch 1.13: sum(p.numel() for p in torchvision.models.resnet18().layer1[0].parameters()) and
    // resnet50().layer1[1] (a bottleneck without downsample).
    const b = compareBlocks();
    assert.equal(b.basic.params, 73_984);
    assert.equal(b.bottleneck.params, 70_400);
    assert.equal(b.bottleneck.convParams, 256 * 64 + 9 * 64 * 64 + 64 * 256);
    assert.deepEqual([b.bottleneck.inChannels, b.bottleneck.outChannels], [256, 256]);
    assert.equal(b.wideBasic.convParams, 2 * 9 * 256 * 256);
    assert.equal(b.basic.macs, 2 * 9 * 64 * 64 * 56 * 56);
  });

  it("dense block growth and transition compression match torchvision's densenet121 block 1 (335,040) and transition 1 (33,280)", () => {
    // PyTorch 1.13: sum(p.numel() for p in densenet121().features.denseblock1.parameters()) and .transition1.
    const d = denseBlock();
    assert.deepEqual(
      d.layers.map((l) => l.inChannels),
      [64, 96, 128, 160, 192, 224],
    );
    assert.equal(d.outChannels, 256);
    assert.equal(d.blockParams, 335_040);
    assert.deepEqual(d.transition, { inChannels: 256, outChannels: 128, params: 33_280 });
    // Block 2: 128 in, 12 layers -> 512 channels; torchvision: 919,680 and 132,096.
    const d2 = denseBlock({ inChannels: 128, layers: 12 });
    assert.equal(d2.blockParams, 919_680);
    assert.equal(d2.transition.params, 132_096);
    // Without bottleneck, a layer is BN(c) + 3x3 c->k: 2*10 + 9*10*4 for c = 10, k = 4.
    assert.equal(denseBlock({ inChannels: 10, growthRate: 4, layers: 1, bottleneckFactor: 0 }).blockParams, 20 + 360);
  });

  it('rejects sizes that make no sense, naming the calculator', () => {
    assert.throws(
      () => compareStack({ kernel: 0 }),
      (e: unknown) =>
        e instanceof ArgumentError && /calc stack: kernel must be an integer from 1 to 10000, got 0/.test(e.message),
    );
    assert.throws(() => denseBlock({ compression: 0 }), /calc dense: compression must be in \(0, 1\], got 0/);
    assert.equal(convParams(4, 6, 3, { groups: 2, bias: true }), 9 * 2 * 6 + 6);
  });

  it('take sizes up to CALC_LIMITS and refuse results past exact integers instead of rounding them', () => {
    assert.throws(
      () => denseBlock({ layers: 1e9 }),
      /calc dense: layers must be an integer from 1 to 10000, got 1000000000/,
    );
    assert.throws(() => compareReduction({ inChannels: 1e308 }), /inChannels must be an integer from 1 to 1000000/);
    assert.throws(() => compareStack({ kernel: 1.5 }), /kernel must be an integer from 1 to 10000, got 1.5/);
    assert.throws(() => denseBlock({ bottleneckFactor: -1 }), /bottleneckFactor must be an integer from 0 to 1000/);
    // A thousand stacked 10^4 kernels are exact; 10^4 of them at 1,000 channels are not.
    assert.equal(compareStack({ kernel: 10_000, count: 1_000, channels: 1 }).receptiveField, 9_999_001);
    assert.throws(
      () => compareStack({ kernel: 10_000, count: 10_000, channels: 1_000 }),
      /calc stack: stacked\.params would be 1000000000000000000, past 2\^53 - 1 = 9007199254740991/,
    );
    assert.throws(() => compareBlocks({ width: 1_000_000, expansion: 1_000, size: 100_000 }), /past 2\^53 - 1/);
    // The largest dense block is quick and exact.
    const d = denseBlock({ layers: CALC_LIMITS.layers });
    assert.equal(d.outChannels, 64 + 10_000 * 32);
    assert.ok(Number.isSafeInteger(d.blockParams));
  });
});

describe("the lecture's quiz", () => {
  // The published torchvision counts (docs/architecture.md#published-reference-numbers), standing in for the built models.
  const published: Record<string, Measured> = {
    alexnet: { params: 61_100_840, macs: 0.714e9 },
    vgg19: { params: 143_667_240, macs: 19.632e9 },
    googlenet: { params: 6_624_904, macs: 1.498e9 },
    alexnet_paper: { params: 60_000_000, macs: 0.7e9 },
    googlenet_paper: { params: 6_800_000, macs: 1.5e9 },
  };
  const measure = (name: string): Measured => {
    const m = published[name];
    assert.ok(m, `unexpected model ${name}`);
    return m;
  };

  it('answers GoogLeNet and measures how far the lecture is off (VGG19: 143.7M, not 110M)', () => {
    const a = answerQuiz(measure);
    assert.equal(a.fewest.choice.model, 'googlenet');
    assert.equal(a.lectureRight, true);
    const vgg = a.rows.find((r) => r.choice.model === 'vgg19');
    assert.ok(vgg);
    assert.equal(vgg.exact.params, 143_667_240);
    assert.equal(vgg.lectureRatio, 143_667_240 / 110e6);
    assert.equal(vgg.paper, null);
    assert.equal(a.rows.find((r) => r.choice.model === 'googlenet')?.paper?.params, 6_800_000);
  });

  it('says so when the exact counts disagree with the lecture', () => {
    const a = answerQuiz((name) => (name === 'vgg19' ? { params: 1, macs: 1 } : measure(name)));
    assert.equal(a.fewest.choice.model, 'vgg19');
    assert.equal(a.lectureRight, false);
  });
});
