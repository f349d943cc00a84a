/**
 * What the explorer's server and browser tests put into --runs and --experiments: the epochs of a
 * run as `convkit train` writes them to metrics.jsonl, and an experiment result for writeReport
 * with one claim that held, one that did not and one not tested.
 */
import type { ExperimentResult } from '../../src/experiments/types.js';

/** Nine epochs of a run: loss falling, accuracy rising towards a plateau. */
export const RUN_ROWS = Array.from({ length: 9 }, (_, i) => {
  const epoch = i + 1;
  const fall = Math.exp(-epoch / 3);
  return {
    epoch,
    train_loss: 0.35 + 1.9 * fall,
    train_acc: 0.93 - 0.6 * fall,
    test_loss: 0.48 + 1.6 * fall,
    test_acc: 0.88 - 0.55 * fall,
  };
});

/** A row as a line of metrics.jsonl. */
export const metricsLine = (row: object): string => `${JSON.stringify(row)}\n`;

export const TINY_REPORT: ExperimentResult = {
  name: 'tiny',
  title: 'A tiny experiment',
  mode: 'quick',
  claims: [
    { id: 'small', claim: 'two is less than three', measured: '2 < 3', held: true },
    { id: 'large', claim: 'three is less than two', measured: '3 > 2', held: false },
    { id: 'later', claim: 'not measured here', measured: 'skipped in this mode', held: null },
  ],
  sections: [],
  charts: [
    {
      file: 'bar.svg',
      caption: 'one bar',
      spec: { width: 40, height: 20, marks: [{ type: 'rect', encode: { enter: { width: { value: 10 } } } }] },
    },
  ],
  data: {},
  notRun: [],
};
