import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { BlockCount } from '../../src/experiments/one-by-one.js';
import { checkReport, runQuick, type ReportFiles } from './helpers.js';

describe('experiment one-by-one', () => {
  let r: ReportFiles;
  before(async () => {
    r = await runQuick('one-by-one');
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

  it('the verdicts follow from the numbers; the trained pair is not run', () => {
    const held = (id: string) => r.data.claims.find((c) => c.id === id)?.held;
    assert.equal(held('inception'), true);
    assert.equal(held('bottleneck'), true);
    assert.equal(held('trained-pair'), null);
    assert.ok(r.markdown.includes('### Not run'));
  });
});
