/** The tour's steps in-process, on two stand-in experiments: one that works, one that fails. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runTour } from '../../src/cli/tour.js';
import { ConvkitError, DataFormatError } from '../../src/core/errors.js';
import { linesSpec } from '../../src/experiments/charts.js';
import { REPORT_FILES } from '../../src/experiments/report.js';
import type { Experiment, ExperimentSettings } from '../../src/experiments/types.js';

const seen: ExperimentSettings[] = [];

const works: Experiment = {
  name: 'works',
  title: 'A claim that holds',
  summary: 'stand-in',
  lesson: 'What the first step shows.',
  trains: true,
  tiny: { trainLimit: 7, testLimit: 5, epochs: 1 },
  async run(settings) {
    seen.push(settings);
    settings.log?.('works: measured');
    return {
      name: 'works',
      title: 'A claim that holds',
      mode: settings.mode,
      claims: [
        { id: 'first', claim: 'c', measured: 'm', held: true },
        { id: 'second', claim: 'c', measured: 'm', held: false },
      ],
      sections: [],
      charts: [
        {
          file: 'line.svg',
          caption: 'a line',
          spec: linesSpec('t', [{ series: 's', x: 1, y: 2 }], { x: 'x', y: 'y' }),
        },
      ],
      data: {},
      notRun: [],
    };
  },
};

const fails: Experiment = {
  ...works,
  name: 'fails',
  title: 'A step whose data is broken',
  lesson: 'What the second step would show.',
  async run() {
    throw new DataFormatError('/data/train-images-idx3-ubyte', 'ends after 12 of 47,040,016 bytes');
  },
};

describe('convkit tour, step by step', () => {
  it('prints each step, goes on past a failed one, lists the reports and then fails', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'convkit-tour-')), 'r');
    const lines: string[] = [];
    await assert.rejects(
      runTour({ tiny: true, data: 'fashion-mnist', seed: 3, out }, (l) => lines.push(l), [fails, works]),
      (e: unknown) =>
        e instanceof ConvkitError && e.message === 'tour: 1 of 2 steps failed (fails); their errors are above',
    );
    const text = lines.join('\n');
    assert.match(
      text,
      /^\[1\/2\] A step whose data is broken\n {6}What the second step would show\.\n {6}failed: \/data\/train-images-idx3-ubyte: ends after 12 of 47,040,016 bytes$/m,
    );
    assert.match(
      text,
      /^\[2\/2\] A claim that holds\n {6}What the first step shows\.\n {6}\. works: measured\n {6}held: first; did not hold: second \(\d+\.\d s\)$/m,
    );
    assert.deepEqual(lines.slice(-2), [
      `  fails               failed`,
      `  works               ${join(out, 'works', REPORT_FILES.markdown)}`,
    ]);
    // --tiny hands each experiment its own tiny sizes, in --quick mode.
    assert.deepEqual(
      [seen[0].mode, seen[0].trainLimit, seen[0].testLimit, seen[0].epochs, seen[0].seed],
      ['quick', 7, 5, 1, 3],
    );
    assert.ok(readFileSync(join(out, 'works', 'line.svg'), 'utf8').startsWith('<svg'));
    assert.ok(!existsSync(join(out, 'fails')));
  });
});
