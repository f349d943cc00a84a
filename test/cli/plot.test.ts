import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { UsageError } from '../../src/cli/args.js';
import { readRunMetrics, runNames } from '../../src/cli/plot.js';
import { runProgram } from '../../src/cli/program.js';
import { runTrain } from '../../src/cli/train.js';
import { setBackend } from '../../src/backend/registry.js';
import { DataFormatError } from '../../src/core/errors.js';
import { tempDir, trainOptions, writeTinyIdx } from './train-helpers.js';

setBackend('ref');
const quiet = (): void => {};

/** The rows of a metrics.jsonl as JSON.parse reads them: the reference for the printed numbers. */
const jsonl = (dir: string): Record<string, number>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

/** The labels of the legend's entries, in order. */
const legendLabels = (svg: string): string[] => {
  const legend = svg.slice(svg.indexOf('role-legend'));
  return [...legend.matchAll(/role-legend-label[^>]*>(?:<text[^>]*>([^<]*)<\/text>)+/g)].flatMap((m) =>
    [...m[0].matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]),
  );
};

describe('convkit plot', () => {
  const root = tempDir('convkit-plot-');
  const [a, b] = [join(root, 'sgd'), join(root, 'adam')];

  before(async () => {
    const data = writeTinyIdx({ train: 30, test: 15 });
    await runTrain('tiny_cnn', trainOptions(data, a, { epochs: 3 }), { out: quiet });
    await runTrain('tiny_cnn', trainOptions(data, b, { epochs: 2, optimizer: 'adam' }), { out: quiet });
  });

  it('draws a line per run and split with the runs in the legend, and prints final and best numbers', async () => {
    const file = join(tempDir(), 'charts', 'both.svg');
    const out: string[] = [];
    await runProgram(['node', 'convkit', 'plot', a, b, '--out', file], (t) => out.push(t));
    const svg = readFileSync(file, 'utf8');
    assert.equal((await sharp(Buffer.from(svg)).metadata()).format, 'svg');
    assert.deepEqual(legendLabels(svg), ['sgd train', 'sgd test', 'adam train', 'adam test']);
    // Two panels (loss, accuracy), each with a line per run and split.
    assert.equal((svg.match(/class="mark-line role-mark"/g) ?? []).length, 8);
    assert.ok(svg.includes('>Loss (cross-entropy)<') && svg.includes('>Accuracy<'));

    const [header, rule, ...rows] = out;
    assert.match(header, /^run\s+epochs\s+train loss\s+test loss\s+train acc\s+test acc\s+best test acc \(epoch\)/);
    assert.match(rule, /^-+$/);
    for (const [i, dir] of [a, b].entries()) {
      const m = jsonl(dir);
      const last = m[m.length - 1];
      const best = m.reduce((x, r) => (r.test_acc > x.test_acc ? r : x));
      const lowest = m.reduce((x, r) => (r.test_loss < x.test_loss ? r : x));
      const cells = rows[i].split(/\s{2,}/);
      assert.deepEqual(cells, [
        ['sgd', 'adam'][i],
        String(m.length),
        last.train_loss.toFixed(4),
        last.test_loss.toFixed(4),
        `${(100 * last.train_acc).toFixed(2)}%`,
        `${(100 * last.test_acc).toFixed(2)}%`,
        `${(100 * best.test_acc).toFixed(2)}% (${best.epoch})`,
        `${lowest.test_loss.toFixed(4)} (${lowest.epoch})`,
      ]);
    }
    assert.equal(out.at(-1), `chart: ${file}`);
  });

  it('--metric accuracy draws the accuracy panel only', async () => {
    const file = join(tempDir(), 'acc.svg');
    await runProgram(['node', 'convkit', 'plot', a, b, '--metric', 'accuracy', '--out', file], quiet);
    const svg = readFileSync(file, 'utf8');
    assert.equal((svg.match(/class="mark-line role-mark"/g) ?? []).length, 4);
    assert.ok(svg.includes('>Accuracy<') && !svg.includes('>Loss (cross-entropy)<'));
  });

  it('names runs by folder, by path where two folders share a name', () => {
    assert.deepEqual(runNames(['x/run', 'y/run', 'z/other']), ['x/run', 'y/run', 'other']);
  });

  it('missing or malformed metrics name the run, the file and the line', async () => {
    const good = readFileSync(join(a, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const bad = (name: string, lines: string[]): string => {
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
      return dir;
    };
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const cases: [string, new (...args: never[]) => Error, RegExp][] = [
      [join(root, 'nope'), UsageError, /^plot: .*nope is not a folder; expected the folder of a convkit train run$/],
      [empty, UsageError, /^plot: .*empty holds no metrics\.jsonl/],
      [bad('torn', [good[0], '{"epoch": 2, "train_lo']), DataFormatError, /torn\/metrics\.jsonl: line 2: not JSON/],
      [
        bad('field', [good[0], good[1].replace(/"test_acc":[^,}]+/, '"test_acc":"high"')]),
        DataFormatError,
        /field\/metrics\.jsonl: line 2: test_acc is "high"; expected a finite number$/,
      ],
      [
        bad('missing', [good[0].replace(/"train_loss":[^,}]+,/, '')]),
        DataFormatError,
        /missing\/metrics\.jsonl: line 1: train_loss is missing; expected a finite number$/,
      ],
      [
        // Every field of a metrics row, as train --resume reads them (one reader: readMetricsFile).
        bad('lr', [good[0].replace(/"lr":[^,}]+/, '"lr":"NaN"')]),
        DataFormatError,
        /lr\/metrics\.jsonl: line 1: lr is "NaN"; expected a finite number$/,
      ],
      [bad('order', [good[1], good[0]]), DataFormatError, /order\/metrics\.jsonl: line 2: epoch 1 after epoch 2/],
      [bad('array', ['[1, 2]']), DataFormatError, /array\/metrics\.jsonl: line 1: expected a JSON object/],
      [bad('blank', ['']), DataFormatError, /blank\/metrics\.jsonl: no finished epoch yet/],
    ];
    for (const [dir, type, message] of cases) {
      assert.throws(
        () => readRunMetrics(dir),
        (e: unknown) => e instanceof type && message.test((e as Error).message),
        dir,
      );
      // The command stops before writing a chart.
      const file = join(tempDir(), 'never.svg');
      await assert.rejects(runProgram(['node', 'convkit', 'plot', a, dir, '--out', file], quiet), type);
      assert.throws(() => readFileSync(file), /ENOENT/);
    }
  });
});
