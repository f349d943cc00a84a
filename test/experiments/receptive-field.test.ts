import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { withSetting } from '../../src/core/config.js';
import { Generator } from '../../src/core/random.js';
import { Sequential } from '../../src/nn/containers.js';
import { nativeSkipReason } from '../backend/native-helpers.js';
import type { ModelFieldRow, StackRow } from '../../src/experiments/receptive-field.js';
import type { StageFields } from '../../src/experiments/receptive-field-stages.js';
import {
  centreGradient,
  type EffectiveFields,
  measureField,
  STACK_PLAN,
} from '../../src/experiments/receptive-field-effective.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { fromArray } from '../../src/ops/creation.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment receptive-field', () => {
  let r: ReportFiles;
  before(async () => {
    // Tiny training: one step of 32 images; the gradient is averaged over the 32 test images.
    r = await runQuick('receptive-field', { limit: 32, testLimit: 32, epochs: 1 });
  });

  it('writes a report that parses, with both effective-field heatmaps and the radial profile', async () => {
    await checkReport(r);
    for (const f of [
      'effective-field-untrained.svg',
      'effective-field-trained.svg',
      'effective-field-radial.svg',
      'effective-field-stages.svg',
    ])
      assert.ok(r.markdown.includes(`](${f})`), f);
    // --test-limit below 100 measures the stages of one small model (receptive-field-stages.test.ts checks the numbers).
    const stages = r.data.data.stages as StageFields;
    assert.deepEqual(
      stages.models.map((m) => [m.model, m.stages.length]),
      [['resnet20_cifar', 3]],
    );
    assert.ok(r.data.claims.some((c) => c.id === 'effective-by-stage'));
  });

  it('n stacked 3x3 see 2n + 1 pixels with 9 n C^2 weights', () => {
    const stack = r.data.data.stack as StackRow[];
    assert.deepEqual(
      stack.map((s) => s.field),
      [3, 5, 7, 9, 11],
    );
    for (const s of stack) {
      assert.equal(s.stackedParams, 9 * s.count * 64 * 64);
      assert.equal(s.singleParams, (2 * s.count + 1) ** 2 * 64 * 64);
    }
  });

  it('the fields of the last feature maps match docs/analysis.md', () => {
    const models = new Map((r.data.data.models as ModelFieldRow[]).map((m) => [m.model, m]));
    assert.equal(models.get('vgg16')?.final, 212);
    assert.equal(models.get('resnet18')?.final, 435);
    assert.equal(models.get('resnet50')?.final, 427);
    assert.equal(models.get('alexnet')?.final, 195);
  });

  it('the effective field of the 3x3 stack: untrained and trained, both 0 outside the theoretical field', () => {
    const eff = r.data.data.effectiveField as EffectiveFields;
    assert.deepEqual(eff.input, [1, 28, 28]);
    assert.equal(eff.depth, STACK_PLAN.quick.depth);
    // 12 stride-1 3x3 layers: 2 x 12 + 1 pixels, centred on the centre unit's own pixel.
    assert.equal(eff.theoretical, 25);
    assert.deepEqual(eff.centre, [14, 14]);
    assert.equal(eff.images, 32);
    assert.equal(eff.trainImages, 32);
    for (const which of ['untrained', 'trained'] as const) {
      const m = eff[which];
      assert.equal(m.share.length, 28 * 28, which);
      assert.ok(
        m.share.every((v) => Number.isFinite(v) && v >= 0),
        which,
      );
      assert.ok(Math.abs(m.share.reduce((a, b) => a + b, 0) - 1) < 1e-9, which);
      // Pixels 2..26 of each axis are inside; the other 28^2 - 25^2 see nothing, exactly.
      let outside = 0;
      let edge = 0;
      for (let y = 0; y < 28; y++)
        for (let x = 0; x < 28; x++) {
          const d = Math.max(Math.abs(y - 14), Math.abs(x - 14));
          const v = m.share[y * 28 + x];
          if (d > 12) {
            assert.equal(v, 0, `${which}: gradient at (${y}, ${x}), outside the field`);
            outside++;
          } else if (d === 12 && v > 0) edge++;
        }
      assert.equal(outside, 28 * 28 - 25 * 25);
      assert.equal(m.outsidePixels, outside);
      assert.equal(m.outsideNonzero, 0);
      // The theoretical field is tight: its outermost ring is reached.
      assert.ok(edge > 0, `${which}: no gradient on the field's edge`);
      assert.ok(m.side95 % 2 === 1 && m.side95 <= 27, which);
      assert.ok(m.side95Interpolated > m.side95 - 2 && m.side95Interpolated <= m.side95, which);
      assert.equal(m.radial.length, 15);
      assert.equal(Math.max(...m.radial), 1);
      assert.deepEqual(m.radial.slice(13), [0, 0]);
    }
    assert.notDeepEqual(eff.trained.share, eff.untrained.share, 'training changed the field');
    const claim = (id: string) => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(claim('outside-zero'), true);
    assert.equal(claim('effective-field'), eff.untrained.areaFraction95 < 0.5 && eff.trained.areaFraction95 < 0.5);
    assert.equal(claim('training-grows'), eff.trained.side95Interpolated > eff.untrained.side95Interpolated);
  });
});

describe('effective field measures', () => {
  it('the gradient of a conv unit with respect to its input is the kernel around it', () => {
    withBackend('ref', () => {
      const conv = new Conv2d(1, 1, 3, { padding: 1, bias: false });
      const k = [1, -2, 3, -4, 5, -6, 7, -8, 9];
      conv.loadStateDict({ weight: fromArray(k, [1, 1, 3, 3]) });
      // Two images: the gradient does not depend on them (linear), so the mean is |k|.
      const heat = centreGradient(
        conv,
        Float32Array.from({ length: 50 }, (_, i) => i / 7),
        [2, 1, 5, 5],
        [2, 2],
      );
      const want = new Array<number>(25).fill(0);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) want[(1 + i) * 5 + 1 + j] = Math.abs(k[i * 3 + j]);
      assert.deepEqual(heat, want);
    });
  });

  it('exact zeros outside the field even where the native backend would run Winograd', {
    skip: nativeSkipReason('effective field'),
  }, () => {
    // Winograd's transforms leave residues of about 1e-14 outside the field (one CI run's tuning
    // picked it); centreGradient runs its convs direct, whatever the setting.
    withBackend('native', () => {
      const g = new Generator(3);
      const layers = [1, 8, 8, 8, 8].map((c) => new Conv2d(c, 8, 3, { padding: 1, bias: false, generator: g }));
      const stack = new Sequential(...layers);
      const input = Float32Array.from({ length: 2 * 28 * 28 }, () => g.uniform() * 2 - 1);
      const heat = withSetting('convAlgorithm', 'winograd', () =>
        centreGradient(stack, input, [2, 1, 28, 28], [14, 14]),
      );
      heat.forEach((v, i) => {
        const d = Math.max(Math.abs(Math.floor(i / 28) - 14), Math.abs((i % 28) - 14));
        if (d > 5) assert.equal(v, 0, `gradient at (${Math.floor(i / 28)}, ${i % 28}), outside the 11x11 field`);
      });
      assert.ok(
        heat.some((v, i) => v > 0 && Math.abs(Math.floor(i / 28) - 14) === 5),
        'the field edge is reached',
      );
    });
  });

  it('the 95% square of a map worked out by hand', () => {
    // Uniform over the 5x5 square around (3, 3) of a 7x7 map: the 3x3 square holds 9/25, the 5x5 all of it.
    const heat = Array.from({ length: 49 }, (_, i) =>
      Math.abs((i % 7) - 3) <= 2 && Math.abs(Math.floor(i / 7) - 3) <= 2 ? 1 : 0,
    );
    const m = measureField(heat, [7, 7], [3, 3], 5);
    assert.equal(m.side95, 5);
    assert.equal(m.side95Interpolated, 3 + (2 * (0.95 * 25 - 9)) / 16);
    assert.equal(m.areaFraction95, (m.side95Interpolated / 5) ** 2);
    assert.equal(m.outsidePixels, 49 - 25);
    assert.equal(m.outsideNonzero, 0);
    assert.deepEqual(m.radial, [1, 1, 1, 0]);
    // Mean of dy^2 + dx^2 over the 5x5 square: 2 x (4 + 1 + 0 + 1 + 4) / 5 = 4.
    assert.ok(Math.abs(m.rmsRadius - 2) < 1e-12);
    // All of the mass on the centre pixel: a 1-pixel square.
    const point = measureField(
      heat.map((_, i) => (i === 24 ? 1 : 0)),
      [7, 7],
      [3, 3],
      5,
    );
    assert.equal(point.side95, 1);
    assert.equal(point.side95Interpolated, 0.95);
  });
});
