import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseInputShape, UsageError } from '../../src/cli/args.js';
import { calcBlock, calcBottleneck, calcDense, calcInception, calcStack } from '../../src/cli/calc.js';
import { compareCommand } from '../../src/cli/compare.js';
import { listCommand } from '../../src/cli/list.js';
import { CLI_ZOO } from '../../src/cli/program.js';
import { summaryCommand } from '../../src/cli/summary.js';
import type { Zoo } from '../../src/cli/zoo.js';
import { ArgumentError } from '../../src/core/errors.js';
import { buildWith, type ModelEntry } from '../../src/models/entry.js';
import { tinyCnn } from '../../src/models/tiny-cnn.js';

// Two small entries, so these tests do not depend on the zoo.
const entry = (name: string, width: number, published: ModelEntry['published']): ModelEntry => ({
  name,
  family: 'resnet',
  layout: 'cifar',
  input: [1, 16, 16],
  classes: 4,
  build: (opts = {}) => buildWith(opts, () => tinyCnn({ width })),
  published,
  idea: `tiny net of width ${width}`,
});
const entries = [
  entry('tiny8', 8, { top1: 55.5, source: 'test' }),
  entry('tiny4', 4, { cifar10Error: 7.25, source: 'test' }),
];
const zoo: Zoo = {
  entries,
  get: (name) => {
    const e = entries.find((x) => x.name === name);
    if (!e) throw new ArgumentError('zoo', `unknown model '${name}'`);
    return e;
  },
};

describe('command functions', () => {
  it('list: one row per model with computed params and GMACs, published result and idea', () => {
    const out = listCommand(zoo, { format: 'text' });
    const row = out.split('\n').find((l) => l.startsWith('tiny8'));
    // tinyCnn(width 8): 1,540 parameters, 105,504 MACs (see test/analysis/summary.test.ts).
    assert.match(row ?? '', /tiny8\s+resnet\s+cifar\s+1x16x16\s+1,540\s+0\.000\s+55\.5% top-1\s+tiny net of width 8/);
    assert.match(out, /tiny4 .* 7\.25% error/);
    const json = JSON.parse(listCommand(zoo, { format: 'json' }));
    assert.equal(json.schema, 'convkit.list/1');
    // tinyCnn(width 4): stem 36 + BN 8; residual 2 x (144 + 8); inception (8 + 4) + (8 + 4) + (36 + 4); linear 16 + 4: 432.
    assert.deepEqual(
      json.models.map((m: { name: string; params: number }) => [m.name, m.params]),
      [
        ['tiny8', 1540],
        ['tiny4', 432],
      ],
    );
    assert.equal(json.models[0].macs, 105_504);
    assert.throws(
      () => listCommand(zoo, { format: 'text', family: 'lenet' }),
      /--family: expected one of alexnet, vgg, googlenet, resnet, densenet, got lenet/,
    );
  });

  it('summary: text by default, JSON and markdown on request, at another input size', () => {
    const text = summaryCommand(zoo, 'tiny8', { depth: 1, batch: 1, format: 'text', optimizer: 'sgd-momentum' });
    assert.match(text, /^tiny8: input \[1, 1, 16, 16\], eval mode/);
    const json = JSON.parse(
      summaryCommand(zoo, 'tiny8', { input: [1, 32, 32], depth: 1, batch: 2, format: 'json', optimizer: 'adam' }),
    );
    assert.deepEqual(json.input, [2, 1, 32, 32]);
    // MACs grow with the pixels (4x) and the batch (2x), except the linear layer's 32 per image.
    assert.equal(json.totals.macs, 2 * (4 * (105_504 - 32) + 32));
    assert.equal(json.memory.optimizer, 'adam');
    assert.match(
      summaryCommand(zoo, 'tiny8', { depth: 1, batch: 1, format: 'markdown', optimizer: 'sgd' }),
      /^### tiny8/,
    );
  });

  it('summary: says what the fusion pass fused (ResNet-50: one conv+bn+add+relu per bottleneck)', () => {
    const text = summaryCommand(CLI_ZOO, 'resnet50', { depth: 0, batch: 1, format: 'text', optimizer: 'sgd' });
    // 16 bottlenecks (3 + 4 + 6 + 3): each ends in conv3+bn3 + shortcut + relu; the stem and every
    // bottleneck's first two convs are conv+bn+relu (1 + 2 x 16); the 4 projection shortcuts conv+bn.
    const line = text.split('\n').find((l) => l.startsWith('Fusion: '));
    assert.equal(
      line,
      'Fusion: fused for inference: 33 conv+bn+relu, 16 conv+bn+add+relu, 4 conv+bn; for training: 33 bn+relu, 16 add+relu',
    );
  });

  it('summary: an unknown model comes from the zoo; counts past 2^53 are refused, not rounded', () => {
    assert.throws(
      () => summaryCommand(zoo, 'nope', { depth: 1, batch: 1, format: 'text', optimizer: 'sgd' }),
      /unknown model 'nope'/,
    );
    assert.throws(
      () =>
        summaryCommand(zoo, 'tiny8', {
          input: [1, 100_000, 100_000],
          depth: 1,
          batch: 1_000_000,
          format: 'json',
          optimizer: 'sgd',
        }),
      (e: unknown) =>
        e instanceof UsageError &&
        /^summary tiny8 at batch 1000000 and input 1x100000x100000: totals\.macs would be [\d.e+]+, past 2\^53 - 1/.test(
          e.message,
        ),
    );
  });

  it('parses CxHxW and rejects anything else, naming the option and the limits', () => {
    assert.deepEqual(parseInputShape('3x224x224'), [3, 224, 224]);
    assert.deepEqual(parseInputShape(' 1X28X28 '), [1, 28, 28]);
    for (const bad of ['224', '3x224', '3x0x4', '3x2.5x4', 'axbxc', '3x224x224x1', '', '3x100001x4', '3x1e3x4'])
      assert.throws(() => parseInputShape(bad), UsageError, bad);
    assert.throws(
      () => parseInputShape('224'),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          '--input: expected channels x height x width such as 3x224x224 (channels 1 to 1000000, height and width 1 to 100000), got 224',
    );
  });

  it('compare: models side by side and an SVG chart of parameters against MACs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'convkit-compare-'));
    const chart = join(dir, 'out', 'compare.svg');
    const out = await compareCommand(zoo, ['tiny8', 'tiny4'], {
      batch: 1,
      format: 'text',
      optimizer: 'sgd-momentum',
      chart,
    });
    assert.match(out.split('\n')[0], /tiny8\s+tiny4$/);
    assert.match(out, /^params\s+1,540\s+432$/m);
    assert.match(out, /^published\s+55\.5% top-1\s+7\.25% error$/m);
    assert.match(out, /tiny4: tiny net of width 4/);
    assert.match(out, new RegExp(`wrote ${chart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const svg = readFileSync(chart, 'utf8');
    assert.match(svg, /^<svg /);
    // Vega draws a point per model in the `dots` symbol mark, labelled with its name.
    const dots = svg.match(/<g class="mark-symbol role-mark dots"[^>]*>(.*?)<\/g>/s)?.[1] ?? '';
    assert.equal((dots.match(/<path /g) ?? []).length, 2);
    assert.match(svg, />tiny8</);
    assert.match(svg, />tiny4</);
    const json = JSON.parse(await compareCommand(zoo, ['tiny4'], { batch: 1, format: 'json', optimizer: 'sgd' }));
    assert.equal(json.schema, 'convkit.compare/1');
    assert.equal(json.models[0].params, 432);
  });
});

describe('calculator commands', () => {
  it('print the lecture numbers with their formulas', () => {
    const stack = calcStack({ kernel: 3, count: 2, channels: 128, format: 'text' });
    assert.match(stack, /stacked: 2 x 3 x 3 x 128 x 128 = 294,912/);
    assert.match(stack, /single: {2}5 x 5 x 128 x 128 = 409,600/);
    const reduction = calcBottleneck({ in: 128, reduce: 32, out: 128, kernel: 3, format: 'text' });
    assert.match(reduction, /direct: +3 x 3 x 128 x 128 = 147,456/);
    assert.match(reduction, /= 4,096 \+ 36,864 = 40,960/);
    assert.match(
      calcInception({ in: 192, c1: 64, c3Reduce: 96, c3: 128, c5Reduce: 16, c5: 32, poolProj: 32, format: 'text' }),
      /total\s+387,072\s+416\s+163,328\s+256/,
    );
    assert.match(calcBlock({ width: 64, expansion: 4, size: 56, format: 'text' }), /bottleneck\s+256 -> 256 .* 70,400/);
    assert.match(
      calcDense({ in: 64, growth: 32, layers: 6, bottleneck: 4, compression: 0.5, format: 'text' }),
      /256 -> 128 channels, 33,280 parameters/,
    );
  });

  it('give JSON with --format json', () => {
    const json = JSON.parse(calcStack({ kernel: 3, count: 2, channels: 128, format: 'json' }));
    assert.equal(json.stacked.params, 294_912);
    assert.equal(
      JSON.parse(calcBottleneck({ in: 128, reduce: 32, out: 128, kernel: 3, format: 'json' })).withReduction.params,
      40_960,
    );
  });
});
