/** `convkit compare <model...>`: models side by side, optionally as an SVG chart. */
import type { OptimizerKind } from '../analysis/memory.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { requireExact, UsageError, type Format } from './args.js';
import { checkOutputPath, writeFileAtomic } from './files.js';
import { compareChartSvg } from './format/compare-chart.js';
import { compareTable } from './format/zoo-tables.js';
import type { Zoo } from './zoo.js';

export interface CompareCliOptions {
  /** One image, CxHxW (default: each model's own). */
  input?: readonly [number, number, number];
  batch: number;
  format: Format;
  optimizer: OptimizerKind;
  /** Where to write a params-vs-MACs chart (SVG). */
  chart?: string;
}

export async function compareCommand(zoo: Zoo, names: readonly string[], opts: CompareCliOptions): Promise<string> {
  // Each model costs a trace on the meta backend: as many as the zoo holds, and no more.
  if (names.length > zoo.entries.length)
    throw new UsageError(
      `compare: expected 1 to ${zoo.entries.length} model names (the zoo's size), got ${names.length}`,
    );
  // Look every name up first, so a typo fails before any work.
  const entries = names.map((n) => zoo.get(n));
  if (opts.chart !== undefined) checkOutputPath(opts.chart, '--chart');
  const models = entries.map((entry) => {
    const input = opts.input ?? entry.input;
    const summary = summarizeEntry(entry, { input, batch: opts.batch, optimizer: opts.optimizer });
    requireExact(
      { totals: summary.totals, memory: summary.memory },
      `compare: ${entry.name} at batch ${opts.batch} and input ${input.join('x')}`,
    );
    return { entry, summary };
  });
  const out = compareTable(models, opts.format);
  if (opts.chart === undefined) return out;
  writeFileAtomic(opts.chart, await compareChartSvg(models));
  // Keep stdout pure JSON when JSON was asked for; the caller can find the chart where it said.
  return opts.format === 'json' ? out : `${out}\n\nwrote ${opts.chart}`;
}
