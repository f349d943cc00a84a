import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { EffectiveField, ModelFieldRow, StackRow } from '../../src/experiments/receptive-field.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment receptive-field', () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('receptive-field');
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
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

  it('the effective field of untrained resnet20_cifar: a gradient map and its 95% square', () => {
    const eff = r.data.data.effectiveField as EffectiveField;
    assert.equal(eff.input, 64);
    assert.deepEqual(eff.map, [64, 16, 16]);
    // Three stages of three blocks of two 3x3 convs (strides 1, 2, 2) after a 3x3 stem: 1 + 2 (1 + 6 + 12 + 24) = 81.
    assert.equal(eff.theoretical, 81);
    assert.deepEqual(eff.centre, [32, 32]);
    assert.equal(eff.heat.length, 64 * 64);
    assert.ok(eff.heat.every((v) => Number.isFinite(v) && v >= 0));
    assert.ok(eff.heat.some((v) => v > 0));
    assert.ok(eff.effective95 % 2 === 1 && eff.effective95 >= 3 && eff.effective95 <= 129);
    const claim = r.data.claims.find((c) => c.id === 'effective-field');
    assert.equal(claim?.held, eff.effective95 < eff.theoreticalInImage);
  });
});
