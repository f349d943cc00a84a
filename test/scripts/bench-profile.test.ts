import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LayerTime } from '../../scripts/bench/convkit-runner.js';
import { profileLines, TOP_LAYERS } from '../../scripts/bench/profile-format.js';
import { summarize } from '../../src/analysis/summary.js';
import { summaryText } from '../../src/cli/format/summary.js';
import { buildModel } from '../../src/models/registry.js';
import { describeFusion, fusedGroups } from '../../src/nn/fuse.js';

const model = buildModel('resnet18', { backend: 'meta' });
const groups = fusedGroups(model, 'inference');
const layer = (path: string, op: string, ms: number): LayerTime => ({ path, op, calls: 1, ms, macs: 0 });
/** The profile's first table as rows of cells (header and rule left out). */
const layerRows = (lines: string[]): string[][] => {
  const start = lines.findIndex((l) => l.startsWith('| layer |')) + 2;
  const end = lines.indexOf('', start);
  return lines.slice(start, end).map((l) => l.split(' | ').map((c) => c.replace(/^\| |\s\|$/g, '')));
};

test('each profiled layer row names the fused group its op ran in, as fusedGroups reports it', () => {
  const layers = [
    layer('layer2.0.conv2', 'conv2d', 5),
    layer('layer2.0.downsample.0', 'conv2d', 4),
    layer('conv1', 'conv2d', 3),
    layer('fc', 'linear', 2),
    layer('maxpool', 'maxPool2d', 1),
  ];
  const lines = profileLines({ model: 'resnet18', batch: 2, engine: 'test', layers, groups, fusion: 'x' });
  const cells = new Map(layerRows(lines).map((r) => [r[0], r[2]]));
  // resnet18's second stage opens with a downsampling block: its last conv takes the shortcut as an
  // addend, and the shortcut's own conv + BN are a group of their own.
  const residual = groups.find((g) => g.modules[0] === 'layer2.0.conv2');
  const shortcut = groups.find((g) => g.modules[0] === 'layer2.0.downsample.0');
  assert.ok(residual && shortcut, 'resnet18 fuses layer2.0');
  assert.equal(cells.get('layer2.0.conv2'), `${residual.kind}: conv2 bn2 downsample relu`);
  assert.equal(cells.get('layer2.0.downsample.0'), `${shortcut.kind}: 0 1`);
  assert.equal(cells.get('conv1'), 'conv+bn+relu: conv1 bn1 relu');
  assert.equal(cells.get('fc'), '-', 'the classifier runs alone');
  assert.equal(cells.get('maxpool'), '-');
});

test('the profile prints the Fusion line exactly as convkit summary does, and the slowest layers first', () => {
  const fusion = describeFusion(model);
  const layers = Array.from({ length: TOP_LAYERS + 5 }, (_, i) => layer(`layer${i}`, i % 2 ? 'conv2d' : 'relu', i + 1));
  const lines = profileLines({ model: 'resnet18', batch: 2, engine: 'test', layers, groups: [], fusion });
  const summaryLine = summaryText(summarize(model, { input: [3, 224, 224] }), 1)
    .split('\n')
    .find((l) => l.startsWith('Fusion:'));
  assert.equal(summaryLine, `Fusion: ${fusion}`);
  assert.ok(lines.includes(summaryLine), 'the profile holds the summary line');
  const rows = layerRows(lines);
  assert.equal(rows.length, TOP_LAYERS);
  assert.deepEqual(
    rows.map((r) => Number(r[4])),
    layers
      .map((l) => l.ms)
      .sort((a, b) => b - a)
      .slice(0, TOP_LAYERS),
  );
  const total = layers.reduce((s, l) => s + l.ms, 0);
  assert.equal(rows[0][5], `${((100 * (TOP_LAYERS + 5)) / total).toFixed(1)}%`);
});
