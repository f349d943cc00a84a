/**
 * The dataflow graph against the architectures' known wiring: a residual sum per basic block with
 * the block's input as one operand, one concatenation per Inception module and per dense layer,
 * AlexNet as a chain, and every edge carrying the shape its producer made.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceDataflow, type Dataflow } from '../../src/analysis/dataflow.js';
import { summarize } from '../../src/analysis/summary.js';
import { getModel } from '../../src/models/registry.js';

function flowOf(name: string): { flow: Dataflow; rows: ReturnType<typeof summarize>['rows'] } {
  const entry = getModel(name);
  const model = entry.build({ backend: 'meta' });
  return { flow: traceDataflow(model, entry.input), rows: summarize(model, { input: entry.input }).rows };
}

const opsNamed = (flow: Dataflow, op: string) => flow.nodes.filter((n) => n.kind === 'op' && n.op === op);
const into = (flow: Dataflow, id: string) => flow.edges.filter((e) => e.to === id);

describe('traceDataflow', () => {
  it('ResNet-18: eight residual sums, each of two tensors of its output shape, one from the block input', () => {
    const { flow, rows } = flowOf('resnet18');
    const adds = opsNamed(flow, 'add');
    assert.equal(adds.length, 8); // 4 stages x 2 basic blocks
    for (const a of adds) {
      const inputs = into(flow, a.id);
      assert.equal(inputs.length, 2, a.id);
      for (const e of inputs) assert.deepEqual(e.shape, a.outputShape);
      assert.equal(rows[a.call as number].type, 'BasicBlock');
    }
    // The first block has no downsample: its shortcut comes straight from the max pool.
    const maxpool = rows.find((r) => r.path === 'maxpool');
    assert.ok(into(flow, adds[0].id).some((e) => e.from === `c${maxpool?.index}`));
  });

  it('GoogLeNet: a concatenation of four branches per Inception module', () => {
    const { flow } = flowOf('googlenet');
    const cats = opsNamed(flow, 'concat');
    assert.equal(cats.length, 9);
    for (const c of cats) {
      const inputs = into(flow, c.id);
      assert.equal(inputs.length, 4, c.id);
      assert.equal(
        inputs.reduce((n, e) => n + e.shape[1], 0),
        c.outputShape[1],
      );
    }
  });

  it('DenseNet-121: each dense layer concatenates everything before it in its block', () => {
    const { flow } = flowOf('densenet121');
    const cats = opsNamed(flow, 'concat');
    // Layer j of a block (j >= 2) concatenates the block input and the j - 1 layers before it (layer 1
    // takes the input alone, no concatenation); the block's output concatenates the input and all L layers.
    const expected = [6, 12, 24, 16].flatMap((L) => [...Array.from({ length: L - 1 }, (_, i) => i + 2), L + 1]);
    const fanIn = cats.map((c) => into(flow, c.id).length);
    assert.deepEqual(
      fanIn.sort((a, b) => a - b),
      expected.sort((a, b) => a - b),
    );
  });

  it('AlexNet: a chain from input to output, every edge with its producer shape', () => {
    const { flow } = flowOf('alexnet_paper');
    assert.equal(flow.edges.length, flow.nodes.length - 1);
    const byId = new Map(flow.nodes.map((n) => [n.id, n]));
    for (const e of flow.edges) assert.deepEqual(e.shape, byId.get(e.from)?.outputShape, `${e.from} -> ${e.to}`);
    assert.deepEqual(byId.get('output')?.outputShape, [1, 1000]);
  });
});
