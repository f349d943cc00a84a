/** `convkit compare <model...>`: models side by side, optionally as an SVG chart. */
import type { OptimizerKind } from '../analysis/memory.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { parseInputShape, type Format } from './args.js';
import { writeFileAtomic } from './files.js';
import { compareChartSvg } from './format/compare-chart.js';
import { compareTable } from './format/zoo-tables.js';
import type { Zoo } from './zoo.js';

export interface CompareCliOptions {
  input?: string;
  batch: number;
  format: Format;
  optimizer: OptimizerKind;
  /** Where to write a params-vs-MACs chart (SVG). */
  chart?: string;
}

export function compareCommand(zoo: Zoo, names: readonly string[], opts: CompareCliOptions): string {
  // Look every name up first, so a typo fails before any work.
  const entries = names.map((n) => zoo.get(n));
  const input = opts.input === undefined ? undefined : parseInputShape(opts.input);
  const models = entries.map((entry) => ({
    entry,
    summary: summarizeEntry(entry, { input, batch: opts.batch, optimizer: opts.optimizer }),
  }));
  const out = compareTable(models, opts.format);
  if (opts.chart === undefined) return out;
  writeFileAtomic(opts.chart, compareChartSvg(models));
  // Keep stdout pure JSON when JSON was asked for; the caller can find the chart where it said.
  return opts.format === 'json' ? out : `${out}\n\nwrote ${opts.chart}`;
}
