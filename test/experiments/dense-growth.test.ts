import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { ModelChannels } from '../../src/experiments/dense-growth.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment dense-growth', () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('dense-growth');
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
  });

  it("DenseNet-121's channels as in the paper: 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024", () => {
    const [d121, bc] = r.data.data.channels as ModelChannels[];
    assert.equal(d121.model, 'densenet121');
    assert.deepEqual(d121.path, [64, 256, 128, 512, 256, 1024, 512, 1024]);
    assert.deepEqual(
      d121.blocks.map((b) => b.layers),
      [6, 12, 24, 16],
    );
    assert.deepEqual(d121.blocks[0].layerInputs, [64, 96, 128, 160, 192, 224]);
    // DenseNet-BC (L = 100, k = 12): 2k = 24 in, 16 layers per block, compression 0.5.
    assert.deepEqual(bc.path, [24, 216, 108, 300, 150, 342]);
    assert.ok(r.markdown.includes('64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024'));
  });

  it('naive concatenation grows quadratically: each layer adds 3 k H W floats more than the last', () => {
    const curve = r.data.data.curve as { denseSecond: number[]; residualSecond: number[] };
    // Concatenation, BN and ReLU outputs each grow by k = 32 channels at 14x14, float32.
    assert.ok(curve.denseSecond.every((d) => d === 3 * 32 * 14 * 14 * 4));
    assert.ok(curve.residualSecond.every((d) => d === 0));
    assert.equal(r.data.claims.find((c) => c.id === 'concat-quadratic')?.held, true);
  });
});
