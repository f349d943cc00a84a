import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configure, type LayerTime, profile } from '../../scripts/bench/convkit-runner.js';
import { profileLines, TOP_LAYERS } from '../../scripts/bench/profile-format.js';
import { summarize } from '../../src/analysis/summary.js';
import { summaryText } from '../../src/cli/format/summary.js';
import { buildModel } from '../../src/models/registry.js';
import { describeFusion, fusedGroups } from '../../src/nn/fuse.js';
import { nativeSkipReason } from '../backend/native-helpers.js';

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

test('conv and linear rows name the algorithm and kernel that ran; other ops a dash', () => {
  const layers: LayerTime[] = [
    { ...layer('layer1.0.conv1', 'conv2d', 3), kernel: 'winograd jit_fp32_wino_2x3:avx512_core (tuned)' },
    { ...layer('conv1', 'conv2d', 2), kernel: 'direct jit:avx512_core' },
    { ...layer('fc', 'linear', 1.5), kernel: 'own convkit:small_linear (tuned)' },
    layer('maxpool', 'maxPool2d', 1),
  ];
  const rows = layerRows(
    profileLines({ model: 'resnet18', batch: 1, engine: 'test', layers, groups: [], fusion: 'x' }),
  );
  assert.deepEqual(
    rows.map((r) => [r[0], r[8]]),
    layers.map((l) => [l.path, l.kernel ?? '-']),
  );
});

test('GFLOP/s read against the FMA peak when it was measured, a dash when not', () => {
  const layers: LayerTime[] = [
    { path: 'layer1.0.conv1', op: 'conv2d', calls: 1, ms: 2, macs: 200e6 }, // 200 GFLOP/s
    { path: 'layer1.0.conv2', op: 'conv2d', calls: 1, ms: 1, macs: 300e6 }, // 600: Winograd passes the peak
    layer('maxpool', 'maxPool2d', 1),
  ];
  const lines = profileLines({
    model: 'resnet18',
    batch: 1,
    engine: 'test',
    layers,
    groups: [],
    fusion: 'x',
    peakGflops: 400,
  });
  assert.deepEqual(
    layerRows(lines).map((r) => [r[0], r[6], r[7]]),
    [
      ['layer1.0.conv1', '200.0', '50%'],
      ['layer1.0.conv2', '600.0', '150%'],
      ['maxpool', '-', '-'],
    ],
  );
  assert.ok(lines.some((l) => l.startsWith('FMA peak 400 GFLOP/s')));
  assert.ok(lines.includes('| conv2d | 2 | 3.00 | 75.0% | 333.3 | 83% |'), 'the op kinds too');
  const unmeasured = profileLines({ model: 'resnet18', batch: 1, engine: 'test', layers, groups: [], fusion: 'x' });
  assert.deepEqual(
    layerRows(unmeasured).map((r) => r[7]),
    ['-', '-', '-'],
  );
  assert.ok(!unmeasured.some((l) => l.startsWith('FMA peak')));
});

test('the profile times the recorded pass: every command charged to its layer, the copies in and out on rows of their own', {
  skip: nativeSkipReason('test/scripts/bench-profile.test.ts'),
}, () => {
  configure(2);
  const { layers, wallMs, recorded } = profile('resnet18', 1, 1);
  assert.equal(recorded, true, 'the pass was recorded');
  const convs = layers.filter((l) => l.op === 'conv2d');
  assert.equal(convs.length, 20, 'resnet18 has 20 convs (3 of them downsampling shortcuts)');
  for (const c of convs) {
    assert.equal(c.calls, 1, c.path);
    assert.ok(c.ms > 0 && c.macs > 0, `${c.path}: timed and counted`);
    assert.match(c.kernel ?? '', /^(direct|winograd|brgemm|own|own4) /, `${c.path}: the kernel that ran`);
  }
  const rows = new Map(layers.map((l) => [`${l.path} ${l.op}`, l]));
  for (const copy of ['(recording) copy in', '(recording) copy out']) assert.ok((rows.get(copy)?.ms ?? 0) > 0, copy);
  assert.ok((rows.get('maxpool maxPool2d')?.ms ?? 0) > 0 && (rows.get('fc linear')?.ms ?? 0) > 0);
  assert.match(rows.get('fc linear')?.kernel ?? '', /^(direct oneDNN's inner product|own convkit:small_linear)/);
  // No other row takes a note a conv or linear left (the warm-up pass's fc note once went to maxpool).
  for (const l of layers.filter((l) => l.op !== 'conv2d' && l.op !== 'linear'))
    assert.equal(l.kernel, undefined, `${l.path} ${l.op}: no kernel of its own`);
  // The commands run one after another within the pass.
  const sum = layers.reduce((s, l) => s + l.ms, 0);
  assert.ok(wallMs >= sum * 0.99, `wall ${wallMs} ms against ${sum} ms of commands`);
});

test("the profile's Layout line says which maps the recorded pass kept in nhwc and what each trial measured", () => {
  const base = {
    model: 'resnet18',
    batch: 1,
    engine: 'test',
    layers: [layer('conv1', 'conv2d', 1)],
    groups: [],
    fusion: 'x',
  };
  const against = { nhwcUpTo: 0, ms: 9.67 };
  const layout = {
    nhwcUpTo: 196,
    trials: [
      { nhwcUpTo: 196, ms: 9.23, against, contended: false, kept: true },
      { nhwcUpTo: 49, ms: 9.4, against: { nhwcUpTo: 196, ms: 9.2 }, contended: true, kept: false },
    ],
  };
  const line = profileLines({ ...base, layout }).find((l) => l.startsWith('Layout:'));
  assert.equal(
    line,
    'Layout: maps up to 14x14 in nhwc (brgemm convs); timed per pass: nhwc up to 14x14 9.23 ms against all blocked 9.67: kept; nhwc up to 7x7 9.40 ms against nhwc up to 14x14 9.20 (cores contended): dropped',
  );
  const none = profileLines({ ...base, layout: { nhwcUpTo: 0, trials: [] } }).find((l) => l.startsWith('Layout:'));
  assert.equal(none, "Layout: every map blocked (the convs' tuned times favoured blocked at every map size)");
  assert.ok(!profileLines(base).some((l) => l.startsWith('Layout:')), 'no line where nothing was measured');
});
