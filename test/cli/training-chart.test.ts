import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { trainingChartSpec, trainingChartSvg } from '../../src/cli/training-chart.js';

const rows = [1, 2, 3].map((epoch) => ({
  epoch,
  train_loss: 2 / epoch,
  test_loss: 2.2 / epoch,
  train_acc: 0.3 * epoch,
  test_acc: 0.25 * epoch,
}));

describe('training chart (Vega)', () => {
  it('draws loss and accuracy panels with a train and a test curve each', async () => {
    const svg = await trainingChartSvg(rows, 'tiny on toy', 10);
    assert.match(svg, /^<svg [^>]*width="\d+" height="\d+"/);
    for (const text of ['tiny on toy', 'Loss (cross-entropy)', 'Accuracy', 'epoch', 'train', 'test', '100%'])
      assert.ok(svg.includes(`>${text}<`), text);
    // Two lines per panel: four line paths, each through three points.
    assert.equal((svg.match(/class="mark-line role-mark"/g) ?? []).length, 4);
  });

  it('spans the whole run on the x axis, and one epoch is drawable', async () => {
    const spec = trainingChartSpec(rows, 't', 30);
    const loss = (spec.marks ?? [])[0] as { scales: { domain: unknown }[] };
    assert.deepEqual(loss.scales[0].domain, [1, 30]);
    assert.match(await trainingChartSvg(rows.slice(0, 1), 't', 1), /^<svg/);
  });
});
