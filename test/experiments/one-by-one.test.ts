import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { BlockCount } from '../../src/experiments/one-by-one.js';
import type { PairCost } from '../../src/experiments/one-by-one-trained.js';
import type { TrainedNet } from '../../src/experiments/train-nets.js';
import { writeTinyIdx } from '../cli/train-helpers.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment one-by-one', () => {
  let r: ReportFiles;
  before(async () => {
    // The trained pair on a tiny 8x8 task (three classes of bars), so the test needs no data set.
    const data = writeTinyIdx({ train: 48, test: 30 });
    r = await runQuick('one-by-one', { data: `idx:${data}`, limit: 48, testLimit: 30, epochs: 1 });
  });

  it('writes a report that parses', async () => {
    await checkReport(r);
    assert.ok(r.lines.some((l) => l.startsWith('report: ')));
  });

  it("the lecture's worked example: 147,456 against 40,960", () => {
    const ex = r.data.data.lectureExample as { direct: number; withReduction: number };
    assert.equal(ex.direct, 3 * 3 * 128 * 128);
    assert.equal(ex.withReduction, 128 * 32 + 3 * 3 * 32 * 128);
    assert.equal(ex.direct, 147_456);
    assert.equal(ex.withReduction, 40_960);
    assert.ok(r.markdown.includes('147,456') && r.markdown.includes('40,960'));
    assert.equal(r.data.claims.find((c) => c.id === 'lecture-example')?.held, true);
  });

  it('inception (3a) by hand, both layouts', () => {
    const inc = r.data.data.inception as Record<string, BlockCount[]>;
    const paper = inc.googlenet_paper.find((b) => b.block === 'inception3a') as BlockCount;
    // 1x1 64; 1x1 96 + 3x3 96->128; 1x1 16 + 5x5 16->32; pool proj 32; input 192 at 28x28.
    const withP = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32;
    const withoutP = 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32;
    assert.equal(withP, 163_328);
    assert.equal(withoutP, 387_072);
    assert.deepEqual([paper.with.params, paper.without.params], [withP, withoutP]);
    assert.deepEqual([paper.with.macs, paper.without.macs], [withP * 784, withoutP * 784]);
    assert.equal(paper.without.outChannels, 64 + 128 + 32 + 192);
    const tv = inc.googlenet.find((b) => b.block === 'inception3a') as BlockCount;
    const tvWith = 192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 9 * 16 * 32 + 192 * 32;
    assert.equal(tv.with.params, tvWith);
    assert.equal(tv.with.macs, 121_626_624);
    assert.equal(tv.modelMacs, tv.with.macs);
    assert.equal(inc.googlenet.length, 9);
    assert.equal(inc.googlenet_paper.length, 9);
  });

  it('every ResNet-50 bottleneck, layer1.0 by hand', () => {
    const b = (r.data.data.bottleneck as { resnet50: BlockCount[] }).resnet50;
    assert.equal(b.length, 16);
    const first = b[0];
    assert.equal(first.block, 'layer1.0');
    assert.equal(first.with.params, 64 * 64 + 9 * 64 * 64 + 64 * 256);
    assert.equal(first.without.params, 9 * 64 * 256 + 9 * 256 * 256);
    assert.equal(first.with.macs, first.with.params * 56 * 56);
    for (const x of b) assert.equal(x.with.macs, x.modelMacs, x.block);
  });

  it('the verdicts follow from the numbers', () => {
    const held = (id: string) => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(held('inception'), true);
    assert.equal(held('bottleneck'), true);
    assert.ok(r.markdown.includes('### Not run'), '--quick says what --full adds');
  });

  it('trains the pair; the block costs by hand; the verdict from the two accuracies', () => {
    const pair = r.data.data.trainedPair as {
      costs: PairCost[];
      trained: TrainedNet[];
      difference: { diff: number; se: number };
    };
    // Two blocks at width 32 on the 4x4 map after the stem: 1x1 32->8 and 3x3 8->32, or 3x3 32->32.
    const withP = 2 * (32 * 8 + 9 * 8 * 32);
    const withoutP = 2 * (9 * 32 * 32);
    assert.deepEqual(
      pair.costs.map((c) => [c.net, c.blockParams, c.blockMacs]),
      [
        ['with 1x1 reduction', withP, withP * 16],
        ['without', withoutP, withoutP * 16],
      ],
    );
    assert.deepEqual(
      pair.trained.map((t) => t.name),
      ['with 1x1 reduction', 'without'],
    );
    const [a, b] = pair.trained.map((t) => t.testAccuracy);
    for (const t of pair.trained) assert.ok(t.testAccuracy >= 0 && t.testAccuracy <= 1 && Number.isFinite(t.testLoss));
    assert.equal(pair.difference.diff, a - b);
    const se = Math.sqrt((a * (1 - a)) / 30 + (b * (1 - b)) / 30);
    assert.ok(Math.abs(pair.difference.se - se) < 1e-12);
    const held = r.data.claims.find((c) => c.id === 'trained-pair')?.held;
    assert.equal(held, Math.abs(a - b) < 2 * se || a >= b);
    assert.ok(r.markdown.includes('](trained-pair.svg)'));
  });
});
