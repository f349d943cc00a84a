import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { collapseAxis, composeAxis, effectivePadding, unionAxis } from '../../src/analysis/receptive-field.js';
import { summarize, type LayerRow } from '../../src/analysis/summary.js';
import { buildModel } from '../../src/models/registry.js';
import * as nn from '../../src/nn/index.js';
import type { TensorModule } from '../../src/nn/module.js';

/** Builds on the shape-only backend and returns each row by path. */
function rowsOf(build: () => TensorModule, input: number[]): Map<string, LayerRow> {
  const model = withBackend('meta', build);
  return new Map(summarize(model, { input }).rows.map((r) => [r.path, r]));
}

const rf = (
  rows: Map<string, LayerRow>,
  path: string,
): { size: number; jump: number; padding: number; global: boolean } => {
  const f = rows.get(path)?.receptiveField;
  assert.ok(f, `no receptive field for '${path}'`);
  assert.equal(f.size[0], f.size[1], 'square layers give square fields');
  return { size: f.size[0], jump: f.jump[0], padding: f.padding[0], global: f.global };
};

const conv = (k: number, opts: nn.Conv2dLayerOptions = {}): nn.Conv2d =>
  new nn.Conv2d(1, 1, k, { bias: false, ...opts });

describe('receptive field arithmetic', () => {
  it('composes a window: r + (k_eff - 1) j, j s, start + ((k_eff - 1) / 2 - p) j', () => {
    // 3x3, stride 2, padding 1 on a field of size 5, jump 2, centre 0: 5 + 2 * 2 = 9, jump 4, centre 0 + (1 - 1) * 2.
    assert.deepEqual(composeAxis({ size: 5, jump: 2, start: 0 }, 3, 2, 1), { size: 9, jump: 4, start: 0 });
    // A dilated 3x3 (dilation 2) spans 5 pixels, like a 5x5.
    assert.deepEqual(composeAxis({ size: 1, jump: 1, start: 0 }, 3, 1, 0, 2), { size: 5, jump: 1, start: 2 });
  });

  it('takes the interval covering both fields where paths meet, even when the centres differ', () => {
    // [-1, 1] and [0, 2] together cover [-1, 2]: 4 pixels centred on 0.5.
    assert.deepEqual(
      unionAxis([
        { size: 3, jump: 1, start: 0 },
        { size: 3, jump: 1, start: 1 },
      ]),
      { size: 4, jump: 1, start: 0.5 },
    );
    assert.deepEqual(
      unionAxis([
        { size: 5, jump: 2, start: 0 },
        { size: 1, jump: 2, start: 0 },
      ]),
      { size: 5, jump: 2, start: 0 },
    );
  });

  it('collapses a map of n units like a window of n: global pooling sees the union of all units', () => {
    // Units 0..6 with fields of 11 every 4 pixels: from -5 to 6 * 4 + 5 = 29, 35 pixels centred on 12.
    assert.deepEqual(collapseAxis({ size: 11, jump: 4, start: 0 }, 7), { size: 35, jump: 28, start: 12 });
    assert.equal(effectivePadding({ size: 35, jump: 28, start: 12 }), 5);
  });
});

describe('receptive fields traced through models', () => {
  it('two stacked 3x3 stride-1 convolutions see 5x5 (the lecture)', () => {
    const rows = rowsOf(() => new nn.Sequential(conv(3, { padding: 1 }), conv(3, { padding: 1 })), [1, 8, 8]);
    assert.deepEqual(rf(rows, '0'), { size: 3, jump: 1, padding: 1, global: false });
    assert.deepEqual(rf(rows, '1'), { size: 5, jump: 1, padding: 2, global: false });
  });

  it('a strided and pooled chain: sizes grow by (k - 1) x jump, effective padding is sum p_l x prod of earlier strides', () => {
    // conv 7x7/2 p3: r 7, j 2, P 3; maxpool 3x3/2 p1: r 7 + 2 * 2 = 11, j 4, P 3 + 1 * 2 = 5;
    // conv 3x3/1 p1: r 11 + 2 * 4 = 19, j 4, P 5 + 1 * 4 = 9 (Araujo et al. 2019, eq. for P).
    const rows = rowsOf(
      () =>
        new nn.Sequential(
          conv(7, { stride: 2, padding: 3 }),
          new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
          conv(3, { padding: 1 }),
        ),
      [1, 32, 32],
    );
    assert.deepEqual(rf(rows, '0'), { size: 7, jump: 2, padding: 3, global: false });
    assert.deepEqual(rf(rows, '1'), { size: 11, jump: 4, padding: 5, global: false });
    assert.deepEqual(rf(rows, '2'), { size: 19, jump: 4, padding: 9, global: false });
  });

  it('even pooling windows move the centre by half a pixel; unpadded layers have no effective padding', () => {
    // 3x3 p0, 3x3 p0: r 5, centre 2; 2x2/2: r 6, j 2, centre 2.5: unit 0 sees pixels 0..5 exactly.
    const rows = rowsOf(() => new nn.Sequential(conv(3), conv(3), new nn.AvgPool2d(2)), [1, 12, 12]);
    const f = rows.get('2')?.receptiveField;
    assert.deepEqual(f && { size: f.size, jump: f.jump, start: f.start, padding: f.padding }, {
      size: [6, 6],
      jump: [2, 2],
      start: [2.5, 2.5],
      padding: [0, 0],
    });
  });

  it('a dilated convolution sees as far as its dilated kernel', () => {
    const rows = rowsOf(() => new nn.Sequential(conv(3, { dilation: 2, padding: 2 })), [1, 9, 9]);
    assert.deepEqual(rf(rows, '0'), { size: 5, jump: 1, padding: 2, global: false });
  });

  it('a branch block (concatenation) takes the larger path', () => {
    const rows = rowsOf(
      () =>
        new nn.Concat({ small: conv(1), large: new nn.Sequential(conv(3, { padding: 1 }), conv(3, { padding: 1 })) }),
      [1, 8, 8],
    );
    assert.equal(rf(rows, 'small').size, 1);
    assert.equal(rf(rows, 'large').size, 5);
    assert.equal(rf(rows, '').size, 5);
  });

  it('a residual add takes the larger of body and shortcut, whichever it is', () => {
    const body = rowsOf(
      () => new nn.Residual(new nn.Sequential(conv(3, { padding: 1 }), conv(3, { padding: 1 }))),
      [1, 8, 8],
    );
    assert.equal(rf(body, '').size, 5, 'identity shortcut (1) + body (5)');
    const shortcut = rowsOf(() => new nn.Residual(conv(1), { shortcut: conv(7, { padding: 3 }) }), [1, 8, 8]);
    assert.equal(rf(shortcut, 'body').size, 1);
    assert.equal(rf(shortcut, '').size, 7, 'the 7x7 shortcut is the larger path');
  });

  it('flatten + linear make every output see the whole input', () => {
    // conv 3x3 p1 on 4x4: r 3, centre 0; the linear layer combines all 4 units per axis: 3 + 3 = 6 pixels,
    // from -1 to 4, which covers pixels 0..3.
    const rows = rowsOf(
      () => new nn.Sequential(conv(3, { padding: 1 }), new nn.Flatten(), new nn.Linear(16, 2)),
      [1, 4, 4],
    );
    assert.equal(rf(rows, '0').global, false);
    assert.deepEqual(rf(rows, '2'), { size: 6, jump: 4, padding: 1, global: true });
  });
});

describe('receptive fields of the zoo (known values, derived by hand)', () => {
  const zoo = (name: string): Map<string, LayerRow> => {
    const model = buildModel(name, { backend: 'meta' });
    return new Map(summarize(model, { input: [3, 224, 224] }).rows.map((r) => [r.path, r]));
  };

  it('VGG16: conv5_3 sees 196 pixels and pool5 212', () => {
    // 3x3/1 convs add 2 x jump, 2x2/2 pools add 1 x jump and double it:
    // block1 1+2+2 = 5, pool 6 (j 2); block2 6+4+4 = 14, pool 16 (j 4); block3 16+3*8 = 40, pool 44 (j 8);
    // block4 44+3*16 = 92, pool 100 (j 16); block5 100+3*32 = 196 (conv5_3), pool5 196+16 = 212 (j 32).
    // 212 is the value in Araujo et al. (Distill 2019) for vgg_16, whose last feature layer is pool5.
    const rows = zoo('vgg16');
    assert.deepEqual(rf(rows, 'features.28'), { size: 196, jump: 16, padding: 90, global: false });
    assert.deepEqual(rf(rows, 'features.30'), { size: 212, jump: 32, padding: 90, global: false });
  });

  it('AlexNet 195, ResNet-18 435', () => {
    // AlexNet: 11/4 -> 11 (j 4); pool 3/2 -> 19 (j 8); 5x5 -> 51; pool -> 67 (j 16); three 3x3 -> 163; pool -> 195.
    assert.equal(rf(zoo('alexnet'), 'features.12').size, 195);
    // ResNet-18: conv1 7 (j 2), maxpool 11 (j 4), layer1 four 3x3 +8 -> 43, layer2 +8 (s2 at j 4) +3*16 -> 99,
    // layer3 +16 +3*32 -> 211, layer4 +32 +3*64 -> 435. Effective padding: sum of p_l x jump before layer l:
    // 3 + 1*2 + 4*(1*4) + (1*4 + 3*1*8) + (1*8 + 3*1*16) + (1*16 + 3*1*32) = 217, so unit 0 sees pixels -217..217:
    // not the whole 224-pixel image.
    assert.deepEqual(rf(zoo('resnet18'), 'layer4'), { size: 435, jump: 32, padding: 217, global: false });
  });

  it('ResNet-50 v1 483 and v1.5 427: where the stride sits changes what the 3x3 sees', () => {
    // v1: 11 after maxpool; layer1 3 x (+2*4) = 35; stride on the 1x1, so layer2 4 x (+2*8) = 99,
    // layer3 6 x (+2*16) = 291, layer4 3 x (+2*32) = 483 (Araujo et al.'s resnet_v1_50 value).
    assert.equal(rf(zoo('resnet50_v1'), 'layer4').size, 483);
    // v1.5: each stage's first 3x3 strides at the finer jump: 35 + 8 + 3*16 = 91, + 16 + 5*32 = 267, + 32 + 2*64 = 427.
    assert.equal(rf(zoo('resnet50'), 'layer4').size, 427);
  });
});

describe('inputs without an image grid', () => {
  it('have no receptive field', () => {
    const s = summarize(
      withBackend('meta', () => new nn.Sequential(new nn.Linear(4, 2))),
      { input: [4] },
    );
    assert.deepEqual(
      s.rows.map((r) => r.receptiveField),
      [null, null],
    );
    assert.equal(s.totals.receptiveField, null);
  });
});
