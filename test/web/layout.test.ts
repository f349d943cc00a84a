/**
 * The model view's layout, box by box, checked as geometry: every node inside its box and every
 * box inside its parent, no two nodes of a box overlapping, every laid-out edge starting on its
 * source's border and ending on its target's, the lanes of a dense block's fan-in to the right of
 * everything they pass; for whole unfolded models (DenseNet-121, GoogLeNet, ResNet-50) and
 * AlexNet's towers. A box of the same make is laid out once and reused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceDataflow } from '../../src/analysis/dataflow.js';
import { summarize } from '../../src/analysis/summary.js';
import { getModel } from '../../src/models/registry.js';
import { shownGraph, type ShownGraph } from '../../web/src/fold.js';
import { type GraphLayout, type LayoutCache, layoutGraph, nodeHeight, NODE } from '../../web/src/layout.js';

/** Every block of `name` unfolded; the grouped convolutions at `towers` (paths) split. */
function unfolded(name: string, towers: string[] = []): ShownGraph {
  const entry = getModel(name);
  const model = entry.build({ backend: 'meta', inChannels: entry.input[0] });
  const summary = summarize(model, { input: entry.input, batch: 1, name });
  const split = new Set(summary.rows.filter((r) => towers.includes(r.path)).map((r) => r.index));
  assert.equal(split.size, towers.length);
  return shownGraph(summary.rows, traceDataflow(model, entry.input, { batch: 1 }), new Set(), split);
}

interface Rect {
  left: number;
  right: number;
  top: number;
  bottom: number;
}
const inside = (a: Rect, b: Rect): boolean =>
  a.left >= b.left - 1e-6 && a.right <= b.right + 1e-6 && a.top >= b.top - 1e-6 && a.bottom <= b.bottom + 1e-6;
const overlap = (a: Rect, b: Rect): boolean =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const onBorder = (p: { x: number; y: number }, r: Rect): boolean =>
  (Math.abs(p.x - r.left) < 0.5 || Math.abs(p.x - r.right) < 0.5) && p.y >= r.top - 0.5 && p.y <= r.bottom + 0.5
    ? true
    : (Math.abs(p.y - r.top) < 0.5 || Math.abs(p.y - r.bottom) < 0.5) && p.x >= r.left - 0.5 && p.x <= r.right + 0.5;

function checkGeometry(shown: ShownGraph, layout: GraphLayout): void {
  const rect = new Map<string, Rect>();
  for (const n of layout.nodes) {
    const h = nodeHeight(n) / 2;
    rect.set(n.id, { left: n.x - NODE.width / 2, right: n.x + NODE.width / 2, top: n.y - h, bottom: n.y + h });
  }
  for (const c of layout.clusters)
    rect.set(c.id, {
      left: c.x - c.width / 2,
      right: c.x + c.width / 2,
      top: c.y - c.height / 2,
      bottom: c.y + c.height / 2,
    });
  const page = { left: 0, right: layout.width, top: 0, bottom: layout.height };
  assert.equal(layout.nodes.length, shown.nodes.length);
  assert.equal(layout.clusters.length, shown.clusters.length);
  for (const n of shown.nodes)
    assert.ok(inside(rect.get(n.id) as Rect, n.cluster ? (rect.get(n.cluster) as Rect) : page), `${n.id} in its box`);
  for (const c of shown.clusters)
    assert.ok(inside(rect.get(c.id) as Rect, c.parent ? (rect.get(c.parent) as Rect) : page), `${c.id} in its parent`);
  // Items of one box do not overlap (nodes with nodes and with inner boxes).
  const byBox = new Map<string, string[]>();
  for (const [id, box] of [
    ...shown.nodes.map((n) => [n.id, n.cluster ?? ''] as const),
    ...shown.clusters.map((c) => [c.id, c.parent ?? ''] as const),
  ])
    byBox.set(box, [...(byBox.get(box) ?? []), id]);
  for (const items of byBox.values())
    for (let i = 0; i < items.length; i++)
      for (let j = i + 1; j < items.length; j++)
        assert.ok(!overlap(rect.get(items[i]) as Rect, rect.get(items[j]) as Rect), `${items[i]} and ${items[j]}`);
  for (const e of layout.edges) {
    const [first, last] = [e.points[0], e.points[e.points.length - 1]];
    assert.ok(onBorder(first, rect.get(e.from) as Rect), `${e.from}>${e.to} starts on ${e.from}`);
    assert.ok(onBorder(last, rect.get(e.to) as Rect), `${e.from}>${e.to} ends on ${e.to}`);
    for (const p of e.points) assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y));
  }
}

describe('layoutGraph', () => {
  for (const name of ['densenet121', 'googlenet', 'resnet50']) {
    it(`${name} entirely unfolded: nodes in their boxes, no overlaps, edges from border to border`, () => {
      const shown = unfolded(name);
      checkGeometry(shown, layoutGraph(shown));
    });
  }

  it("AlexNet's towers: each tower between its split and its concat", () => {
    const shown = unfolded('alexnet_paper', ['features.4']);
    const layout = layoutGraph(shown);
    checkGeometry(shown, layout);
    const towers = layout.nodes.filter((n) => / tower \d$/.test(n.title));
    assert.equal(towers.length, 2);
    assert.equal(towers[0].y, towers[1].y, 'side by side');
  });

  it("routes a dense layer's wide fan-in down lanes right of what they pass, and reuses boxes of one make", () => {
    const shown = unfolded('densenet121');
    const cache: LayoutCache = new Map();
    const layout = layoutGraph(shown, cache);
    // DenseNet-121's 58 dense layers come in a few makes (label widths differ with the channels).
    assert.ok(cache.size < shown.clusters.length / 2, `${cache.size} layouts for ${shown.clusters.length} boxes`);
    // Into a node of more than four inputs, all but the edge from the latest input take a lane.
    const order = new Map(shown.nodes.map((n, i) => [n.id, i]));
    const inputs = new Map<string, string[]>();
    for (const e of shown.edges) inputs.set(e.to, [...(inputs.get(e.to) ?? []), e.from]);
    const latest = (to: string): number => Math.max(...(inputs.get(to) ?? []).map((f) => order.get(f) ?? 0));
    const lanes = layout.edges.filter(
      (e) => (inputs.get(e.to)?.length ?? 0) > 4 && (order.get(e.from) ?? 0) < latest(e.to),
    );
    assert.ok(lanes.length > 500, `${lanes.length} lane edges`);
    for (const e of lanes) {
      const x = e.points[2].x;
      const [top, bottom] = [e.points[2].y, e.points[3].y];
      for (const n of layout.nodes)
        if (n.y > top && n.y < bottom)
          assert.ok(x > n.x + NODE.width / 2 || n.x - NODE.width / 2 > x, `${e.from} lane crosses ${n.id}`);
    }
    // The same layout again from the cache.
    assert.deepEqual(layoutGraph(shown, cache), layout);
  });
});
