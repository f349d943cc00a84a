import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getBackend, withBackend } from '../../src/backend/registry.js';
import { withSetting } from '../../src/core/config.js';
import { Generator } from '../../src/core/random.js';
import { resize } from '../../src/data/resize.js';
import { measureStages, STAGE_PLAN, stageClaim, stageFields } from '../../src/experiments/receptive-field-stages.js';
import type { ModelEntry } from '../../src/models/entry.js';
import { Sequential } from '../../src/nn/containers.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { fromArray } from '../../src/ops/creation.js';

describe('effective field per stage', () => {
  it('resizes as torch.nn.functional.interpolate(bilinear, align_corners=False)', () => {
    // torch 1.13: F.interpolate(tensor([[0, 1, 2], [3, 4, 5]])[None, None], size=(4, 4), mode='bilinear')
    const torch = [0, 0.625, 1.375, 2, 0.75, 1.375, 2.125, 2.75, 2.25, 2.875, 3.625, 4.25, 3, 3.625, 4.375, 5];
    const got = resize(4).apply(Float32Array.from([0, 1, 2, 3, 4, 5]), 1, [1, 2, 3], new Generator(0));
    assert.deepEqual([...got], torch);
  });

  it('differentiates each stage of a linear two-stage net: the kernels composed around the centre unit', () => {
    // Stage 1: 3x3 conv (8x8 map, field 3); stage 2: 3x3 conv of stride 2 (4x4 map, field 3 + 2 = 5). Linear,
    // so d unit / d input is the second kernel's taps, each placing the first kernel around its pixel.
    const k1 = [1, -2, 3, -4, 5, -6, 7, -8, 9];
    const k2 = [0.5, 1, -1.5, 2, -2.5, 3, -3.5, 4, 4.5];
    const build = ({ backend = getBackend().name } = {}) =>
      withBackend(backend, () => {
        const net = new Sequential(
          new Conv2d(1, 1, 3, { padding: 1, bias: false }),
          new Conv2d(1, 1, 3, { stride: 2, padding: 1, bias: false }),
        );
        if (backend !== 'meta')
          net.loadStateDict({ '0.weight': fromArray(k1, [1, 1, 3, 3]), '1.weight': fromArray(k2, [1, 1, 3, 3]) });
        return net;
      });
    const entry = { name: 'two-convs', family: 'vgg', input: [1, 8, 8], build } as unknown as ModelEntry;
    const inputs = Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i));
    const m = measureStages(entry, inputs, [2, 1, 8, 8], 0);
    assert.deepEqual(
      m.stages.map((s) => [s.layer, s.map, s.theoretical, s.unit, s.centre]),
      [
        ['0', [8, 8], 3, [4, 4], [4, 4]],
        ['1', [4, 4], 5, [2, 2], [4, 4]],
      ],
    );
    const want = (stage: 1 | 2): number[] => {
      const g = new Array<number>(64).fill(0);
      const place = (cy: number, cx: number, scale: number) => {
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) g[(cy - 1 + i) * 8 + cx - 1 + j] += scale * k1[i * 3 + j];
      };
      if (stage === 1) place(4, 4, 1);
      // The stride-2 unit 2 reads intermediate pixels 3..5 of each axis.
      else for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) place(3 + a, 3 + b, k2[a * 3 + b]);
      return g.map(Math.abs);
    };
    for (const [i, s] of m.stages.entries()) {
      const heat = want((i + 1) as 1 | 2);
      const total = heat.reduce((a, b) => a + b, 0);
      // The radial profile is the mean |gradient| per ring over the peak ring: rebuild it from the composed kernels.
      const ring = new Array<number>(5).fill(0);
      const count = new Array<number>(5).fill(0);
      for (let p = 0; p < 64; p++) {
        const d = Math.max(Math.abs(Math.floor(p / 8) - 4), Math.abs((p % 8) - 4));
        ring[d] += heat[p];
        count[d]++;
      }
      const perPixel = ring.map((v, d) => v / count[d]);
      const peak = Math.max(...perPixel);
      s.effective.radial.forEach((v, d) => {
        assert.ok(Math.abs(v - perPixel[d] / peak) < 1e-6, `stage ${i + 1}, ring ${d}: ${v}`);
      });
      const second = heat.reduce((a, v, p) => a + v * ((Math.floor(p / 8) - 4) ** 2 + ((p % 8) - 4) ** 2), 0);
      assert.ok(Math.abs(s.effective.rmsRadius - Math.sqrt(second / total)) < 1e-6);
      assert.equal(s.effective.outsideNonzero, 0);
    }
  });

  it('measures with direct convs whatever the conv algorithm setting: no Winograd residues outside the field', () => {
    // The native backend may pick Winograd by measuring (CONVKIT_CONV_ALGORITHM=tune); its
    // transforms leave rounding residues where the gradient is exactly 0.
    const f = withSetting('convAlgorithm', 'winograd', () =>
      stageFields({ mode: 'quick', data: 'fashion-mnist', seed: 1, testLimit: 32, log: () => {} }, STAGE_PLAN.tiny),
    );
    for (const s of f.models[0].stages) assert.equal(s.effective.outsideNonzero, 0, `stage ${s.stage}`);
  });

  it('tiny settings: every stage of resnet20_cifar measured, the effective field within the theoretical one', () => {
    const lines: string[] = [];
    const f = stageFields(
      { mode: 'quick', data: 'fashion-mnist', seed: 0, testLimit: 32, log: (l) => lines.push(l) },
      STAGE_PLAN.tiny,
    );
    assert.deepEqual(f.input, [1, 32, 32]);
    assert.deepEqual(f.source, [1, 28, 28]);
    assert.equal(f.images, STAGE_PLAN.tiny.images);
    const [m] = f.models;
    assert.equal(m.model, 'resnet20_cifar');
    // conv1 3 px, then 6 stride-1 3x3 convs: 15; layer2: stride 2 (+2), 5 more at jump 2: 37; layer3: +4, 5 at jump 4: 81.
    assert.deepEqual(
      m.stages.map((s) => [s.layer, s.map, s.theoretical]),
      [
        ['layer1', [32, 32], 15],
        ['layer2', [16, 16], 37],
        ['layer3', [8, 8], 81],
      ],
    );
    for (const s of m.stages) {
      const e = s.effective;
      assert.ok(e.side95 <= s.theoretical && e.sideInImage95 <= s.theoreticalInImage, `stage ${s.stage}`);
      assert.ok(e.areaFraction95 > 0 && e.areaFraction95 <= 1, `stage ${s.stage}`);
      assert.equal(e.outsideNonzero, 0, `stage ${s.stage}: gradient outside the theoretical field`);
    }
    // The first stage's field (15 px) lies inside the 32 px image: pixels outside it exist and see nothing.
    assert.equal(m.stages[0].effective.outsidePixels, 32 * 32 - 15 * 15);
    assert.equal(lines.length, 1);
    const claim = stageClaim(f);
    const shares = m.stages.map((s) => s.effective.areaFraction95);
    assert.equal(claim.held, shares.every((v) => v < 0.5) && shares.every((v, i) => i === 0 || v <= shares[i - 1]));
  });
});
