/**
 * The explorer's folding (web/src/fold.ts): whatever is folded, the shown nodes partition the
 * network, so their parameters and multiply-adds add up to the model's totals; unfolding a block
 * replaces it by its contents inside a box, and AlexNet's grouped convolutions split into towers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceDataflow } from '../../src/analysis/dataflow.js';
import { summarize } from '../../src/analysis/summary.js';
import { getModel } from '../../src/models/registry.js';
import { defaultFolded, foldable, shownGraph, type ShownGraph } from '../../web/src/fold.js';

function analysed(name: string) {
  const entry = getModel(name);
  const model = entry.build({ backend: 'meta' });
  const summary = summarize(model, { input: entry.input });
  return { summary, flow: traceDataflow(model, entry.input) };
}

const sum = (g: ShownGraph, key: 'params' | 'macs'): number => g.nodes.reduce((n, x) => n + x[key], 0);

describe('shownGraph', () => {
  for (const name of ['alexnet_paper', 'googlenet', 'resnet50', 'densenet121']) {
    it(`${name}: folded, default and unfolded graphs all add up to the totals`, () => {
      const { summary, flow } = analysed(name);
      const rows = summary.rows;
      const top = new Set(rows.filter((r) => r.depth === 1 && foldable(rows).has(r.index)).map((r) => r.index));
      for (const folded of [new Set<number>(), defaultFolded(rows), top]) {
        const g = shownGraph(rows, flow, folded);
        assert.equal(sum(g, 'params'), summary.totals.params, `${name}, ${folded.size} folded`);
        assert.equal(sum(g, 'macs'), summary.totals.macs, `${name}, ${folded.size} folded`);
        const ids = new Set(g.nodes.map((n) => n.id));
        for (const e of g.edges) assert.ok(ids.has(e.from) && ids.has(e.to), `${e.from} -> ${e.to}`);
      }
    });
  }

  it('unfolding a ResNet bottleneck shows its layers and the residual sum inside its box', () => {
    const { summary, flow } = analysed('resnet50');
    const folded = defaultFolded(summary.rows);
    const block = summary.rows.find((r) => r.path === 'layer1.0');
    assert.ok(block && folded.has(block.index));
    const before = shownGraph(summary.rows, flow, folded);
    const open = new Set(folded);
    open.delete(block.index);
    const after = shownGraph(summary.rows, flow, open);
    const inside = after.nodes.filter((n) => n.cluster === `g${block.index}`);
    // conv1-3, bn1-3, three ReLU calls, the downsample Sequential (folded) and the sum.
    assert.deepEqual(inside.map((n) => n.title).sort(), [
      'add',
      'layer1.0.bn1',
      'layer1.0.bn2',
      'layer1.0.bn3',
      'layer1.0.conv1',
      'layer1.0.conv2',
      'layer1.0.conv3',
      'layer1.0.downsample',
      'layer1.0.relu',
      'layer1.0.relu',
      'layer1.0.relu',
    ]);
    assert.equal(after.nodes.length, before.nodes.length - 1 + inside.length);
  });

  it("AlexNet's grouped convolution splits into two towers with half the weights each", () => {
    const { summary, flow } = analysed('alexnet_paper');
    const conv = summary.rows.find((r) => r.path === 'features.4');
    assert.ok(conv && conv.window?.groups === 2);
    const g = shownGraph(summary.rows, flow, defaultFolded(summary.rows), new Set([conv.index]));
    const towers = g.nodes.filter((n) => n.title.startsWith('features.4 tower'));
    assert.deepEqual(
      towers.map((t) => [t.params, t.shape]),
      [
        [conv.params / 2, [1, 128, 27, 27]],
        [conv.params / 2, [1, 128, 27, 27]],
      ],
    );
    assert.equal(sum(g, 'params'), summary.totals.params);
    assert.deepEqual(
      g.edges.filter((e) => e.to.startsWith(`c${conv.index}/t`)).map((e) => e.shape),
      [
        [1, 48, 27, 27],
        [1, 48, 27, 27],
      ],
    );
  });
});
