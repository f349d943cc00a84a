import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fastest, jsonRows, markdownTables, verdict, type Row } from '../../scripts/bench/report.js';

const row = (over: Partial<Row>): Row => ({
  section: 'inference',
  model: 'resnet18',
  batch: 8,
  size: 224,
  gflop: 29.0,
  convkitMs: 400,
  ortMs: 200,
  torchMs: 300,
  torchConfig: 'frozen',
  target: { vs: 'ort', ratio: 1 },
  ...over,
});

test('a missed target says by how much and the speed-up still needed', () => {
  const v = verdict(row({}), 180);
  assert.equal(v?.met, false);
  assert.equal(v?.achieved, 0.5);
  assert.equal(v?.text, 'missed by 50% (needs 2.00x)');
});

test('a met target says by how much it is exceeded', () => {
  assert.equal(
    verdict(row({ section: 'training', convkitMs: 100, torchMs: 260, target: { vs: 'torch', ratio: 1.3 } }), null)
      ?.text,
    'met (+100%)',
  );
});

test('the FMA-peak target reads GFLOP/s against the peak', () => {
  const v = verdict(
    row({
      section: 'kernel',
      gflop: 100,
      convkitMs: 1000,
      ortMs: null,
      torchMs: null,
      target: { vs: 'peak', fraction: 0.8 },
    }),
    200,
  );
  assert.equal(v?.achieved, 0.5);
  assert.equal(v?.text, 'missed by 38% (needs 1.60x)');
  assert.equal(verdict(row({ target: { vs: 'peak', fraction: 0.8 } }), null), null, 'no peak, no verdict');
});

test('tables show every column, and a dash where a peer was not measured', () => {
  const text = markdownTables([row({}), row({ batch: 1, section: 'latency', ortMs: null })], 180);
  assert.match(
    text,
    /\| model +\| batch \| convkit img\/s \| ORT img\/s \| PyTorch img\/s \| convkit ms\/batch \| convkit GFLOP\/s \| % of FMA peak \| vs ORT \| vs PyTorch \| PyTorch as \| target/,
  );
  assert.match(
    text,
    /\| resnet18 \| +8 \| +20\.0 \| +40\.0 \| +26\.7 \| +400\.0 \| +72\.5 \| +40% \| +0\.50x \| +0\.75x \| frozen +\| missed by 50% \(needs 2\.00x\) \|/,
  );
  assert.match(text, /Batch-1 latency/);
  assert.match(text, /\| resnet18 \| +1 \|.*\| +- \| +0\.75x \| frozen +\| - +\|/);
  const [json] = jsonRows([row({})], 180) as { convkitImagesPerS: number; vsOrt: number }[];
  assert.equal(json.convkitImagesPerS, 20);
  assert.equal(json.vsOrt, 0.5);
});

test('the PyTorch peer is its fastest configuration per workload, skipping failed ones', () => {
  const figures = [
    [120, 30],
    [100, null],
    [null, 25],
  ];
  assert.deepEqual(fastest(figures, ['nchw', 'channels_last', 'frozen']), [
    { ms: 100, config: 'channels_last' },
    { ms: 25, config: 'frozen' },
  ]);
  assert.deepEqual(fastest([[null], [null]], ['nchw', 'channels_last']), [{ ms: null, config: null }]);
});
