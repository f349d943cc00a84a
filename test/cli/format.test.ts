import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import { summarize } from '../../src/analysis/summary.js';
import { formatCount, formatGiga, formatMillions, formatWindow, scaled } from '../../src/cli/format/numbers.js';
import { summaryJson, SUMMARY_SCHEMA } from '../../src/cli/format/summary-json.js';
import { summaryMarkdown, summaryText } from '../../src/cli/format/summary.js';
import { markdownTable, textTable } from '../../src/cli/format/table.js';
import { tinyCnn } from '../../src/models/tiny-cnn.js';

const tiny = () =>
  summarize(
    withBackend('meta', () => tinyCnn({ width: 8 })),
    { input: [1, 16, 16] },
  );

describe('number formatting', () => {
  it('groups thousands with commas whatever the locale', () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(1000), '1,000');
    assert.equal(formatCount(11_689_512), '11,689,512');
    assert.equal(formatCount(-1234567), '-1,234,567');
    assert.equal(formatCount(1234.5), '1,234.5');
  });

  it('prints GMACs with 3 decimals as torchvision, millions with one or two', () => {
    assert.equal(formatGiga(1_813_561_344), '1.814');
    assert.equal(formatMillions(143_667_240), '143.7M');
    assert.equal(formatMillions(269_722), '0.27M');
    assert.deepEqual(scaled(40_551_000), ['M', '40.55']);
    assert.deepEqual(scaled(1_813_561_344), ['G', '1.814']);
  });

  it('writes windows as kernel/stride with padding, dilation and groups only when set', () => {
    assert.equal(
      formatWindow({ kernel: [7, 7], stride: [2, 2], padding: [3, 3], dilation: [1, 1], groups: 1 }),
      '7x7/2 p3',
    );
    assert.equal(
      formatWindow({ kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [2, 2], groups: 2 }),
      '3x3/1 d2 g2',
    );
    assert.equal(
      formatWindow({ kernel: [1, 3], stride: [1, 2], padding: [0, 1], dilation: [1, 1], groups: 1 }),
      '1x3/1x2 p0x1',
    );
    assert.equal(formatWindow(null), '');
  });
});

describe('tables', () => {
  it('pads words left and numbers right so columns line up', () => {
    const lines = textTable(
      [
        { header: 'name', align: 'left' },
        { header: 'n', align: 'right' },
      ],
      [
        ['a', '1'],
        ['long name', '1,000'],
      ],
      2,
    );
    // Widths 9 ('long name') and 5 ('1,000'), two spaces between.
    assert.deepEqual(lines, ['name           n', '-'.repeat(16), 'a              1', 'long name  1,000']);
  });

  it('writes markdown with alignment markers and escaped pipes', () => {
    assert.deepEqual(
      markdownTable(
        [
          { header: 'a', align: 'left' },
          { header: 'b', align: 'right' },
        ],
        [['x|y', '2']],
      ),
      ['| a | b |', '|:---|---:|', '| x\\|y | 2 |'],
    );
  });
});

describe('summary text, markdown and JSON', () => {
  it('aligns every row of the text table (right edges of number columns match the header)', () => {
    const text = summaryText(tiny(), 3);
    const lines = text.split('\n');
    const header = lines.find((l) => l.startsWith('Layer (type (path))'));
    assert.ok(header);
    const end = header.indexOf('Param #') + 'Param #'.length;
    const conv = lines.find((l) => l.includes('Conv2d (stem.0.0)'));
    assert.ok(conv);
    // The stem conv: 3x3x1x8 = 72 weights, ending under "Param #"; its 18,432 MACs get a separator.
    assert.equal(conv.slice(0, end).trimEnd().endsWith('72'), true);
    assert.equal(conv.slice(end - 2, end), '72');
    assert.match(conv, /18,432/);
    assert.match(text, /├─Sequential \(stem\)/);
    assert.match(text, /│ {4}│ {4}└─Conv2d \(stem\.0\.0\)/);
    assert.match(text, /Total params: 1,540/);
    assert.match(text, /Buffers \(not trained\): 78/);
    assert.match(text, /Receptive field: 16x16, effective stride 2/);
  });

  it('shows subtree totals on folded rows and "--" on containers whose children are listed', () => {
    const text = summaryText(tiny(), 1);
    const residual = text.split('\n').find((l) => l.includes('Residual (residual)'));
    assert.ok(residual);
    assert.match(residual, /1,184\s+73,728/);
    const root = text.split('\n').find((l) => l.startsWith('Sequential '));
    assert.match(root ?? '', /\[1, 4\]\s+--\s+--/);
  });

  it('writes a markdown table with the same rows', () => {
    const md = summaryMarkdown(tiny(), 1);
    assert.match(md, /^### Sequential: input \[1, 1, 16, 16\], eval mode/);
    assert.match(md, /\| &nbsp;&nbsp;Residual \(residual\) \| {2}\| \[1, 8, 8, 8\] \| 1,184 \| 73,728 \| 12 \| 2 \|/);
  });

  it('has the documented JSON schema: schema, totals.params, totals.macs, totals.receptiveField, layers[]', () => {
    const json = JSON.parse(JSON.stringify(summaryJson(tiny(), 2)));
    assert.equal(json.schema, SUMMARY_SCHEMA);
    assert.equal(SUMMARY_SCHEMA, 'convkit.summary/1');
    assert.deepEqual(Object.keys(json), [
      'schema',
      'model',
      'input',
      'batch',
      'mode',
      'depth',
      'conventions',
      'totals',
      'memory',
      'unused',
      'layers',
    ]);
    assert.deepEqual(Object.keys(json.totals), [
      'params',
      'trainableParams',
      'buffers',
      'macs',
      'flops',
      'receptiveField',
      'outputShape',
      'paramBytes',
      'bufferBytes',
      'forwardBytes',
    ]);
    assert.equal(json.totals.params, 1540);
    assert.equal(json.totals.macs, 105_504);
    assert.deepEqual(Object.keys(json.totals.receptiveField), ['size', 'jump', 'start', 'padding', 'global', 'layer']);
    assert.deepEqual(Object.keys(json.layers[0]), [
      'index',
      'parent',
      'path',
      'type',
      'depth',
      'isLeaf',
      'repeated',
      'kernel',
      'stride',
      'padding',
      'dilation',
      'groups',
      'inputShape',
      'outputShape',
      'params',
      'ownParams',
      'trainableParams',
      'buffers',
      'ownBuffers',
      'macs',
      'ownMacs',
      'flops',
      'outputBytes',
      'receptiveField',
    ]);
    assert.ok(json.layers.every((l: { depth: number }) => l.depth <= 2));
    const conv = json.layers.find((l: { path: string }) => l.path === 'stem.0');
    assert.equal(conv.params, 88);
    assert.deepEqual(Object.keys(json.memory), [
      'batch',
      'optimizer',
      'optimizerSlots',
      'parameterBytes',
      'gradientBytes',
      'optimizerStateBytes',
      'bufferBytes',
      'activationBytes',
      'totalBytes',
    ]);
  });
});
