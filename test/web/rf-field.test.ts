/**
 * The receptive-field view's arithmetic outside the browser: the effective field of a first
 * convolution's unit (web/src/rf-effective.ts) against the seeded model's own weights, and the
 * numbers beside the picture (web/src/rf-stats.ts) on maps whose answers are known.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReceptiveField } from '../../src/analysis/receptive-field.js';
import { summarize } from '../../src/analysis/summary.js';
import { manualSeed } from '../../src/core/random.js';
import { getModel } from '../../src/models/registry.js';
import { effectiveField, FIELD_SEED } from '../../web/src/rf-effective.js';
import { fieldNumbers, unitAt, unitField } from '../../web/src/rf-stats.js';

describe('effective field on the reference backend', () => {
  it("a first convolution's unit: the summed output channels' weights, abs-summed over input channels, around the unit", () => {
    const side = 8;
    const entry = getModel('resnet20_cifar');
    const rows = summarize(entry.build({ backend: 'meta' }), { input: [3, side, side] }).rows;
    const conv1 = rows.find((r) => r.path === 'conv1');
    assert.ok(conv1);
    const image = Float32Array.from({ length: 3 * side * side }, (_, i) => Math.sin(i));
    const unit = [2, 5] as const;
    const { gradient, outputShape } = effectiveField({
      model: 'resnet20_cifar',
      input: [3, side, side],
      image,
      call: conv1.index,
      unit,
      channel: null,
    });
    assert.deepEqual(outputShape, [1, 16, side, side]);
    // The same seed gives the same weights: d sum_k out[k, y, x] / d in[c, y + i - 1, x + j - 1] = sum_k w[k, c, i, j].
    manualSeed(FIELD_SEED);
    const w = entry.build({ backend: 'ref' }).stateDict().get('conv1.weight');
    assert.ok(w);
    const wv = w.toArray();
    const [k, c] = w.shape;
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) {
        const [i, j] = [y - unit[0] + 1, x - unit[1] + 1];
        let expected = 0;
        if (i >= 0 && i < 3 && j >= 0 && j < 3)
          for (let ci = 0; ci < c; ci++) {
            let s = 0;
            for (let ko = 0; ko < k; ko++) s += wv[((ko * c + ci) * 3 + i) * 3 + j];
            expected += Math.abs(s);
          }
        assert.ok(Math.abs(gradient[y * side + x] - expected) < 1e-5, `pixel (${y}, ${x})`);
      }
  });
});

describe('field numbers', () => {
  const f: ReceptiveField = { size: [5, 5], jump: [2, 2], start: [0, 0], padding: [2, 2], global: false };

  it("a unit's pixels and the unit nearest a pixel", () => {
    assert.deepEqual(unitField(f, [1, 3]), { centre: [2, 6], lo: [0, 4], hi: [4, 8] });
    assert.deepEqual(unitAt(f, [2.9, 6.2], [4, 4]), [1, 3]);
    assert.deepEqual(unitAt(f, [-5, 40], [4, 4]), [0, 3]);
  });

  it('one pixel of gradient: the radius is its distance, 1 pixel of the field holds it all', () => {
    const g = new Float32Array(100);
    g[3 * 10 + 5] = 2; // (3, 5); the unit's centre is (2, 6)
    const n = fieldNumbers(g, [10, 10], unitField(f, [1, 3]));
    assert.equal(n.radius95, Math.SQRT2);
    assert.equal(n.fieldPixels, 25);
    assert.equal(n.share95, 1 / 25);
    assert.equal(n.outside, 0);
  });

  it('gradient spread evenly over a field clipped by the border; mass outside is reported', () => {
    const u = unitField(f, [0, 0]); // pixels -2..2 per axis: 3x3 inside a 10x10 image
    const g = new Float32Array(100);
    for (let y = 0; y <= 2; y++) for (let x = 0; x <= 2; x++) g[y * 10 + x] = 1;
    g[9 * 10 + 9] = 0.25;
    const n = fieldNumbers(g, [10, 10], u);
    assert.equal(n.fieldPixels, 9);
    assert.equal(n.outside, 0.25);
    assert.equal(n.nonZeroShare, 1);
    // 95% of 9.25 is 8.79: nine of the unit pixels.
    assert.equal(n.share95, 1);
    assert.equal(n.radius95, Math.SQRT2 * 2);
  });
});
