/**
 * `convkit plot <run-dir...> [--metric loss|accuracy|both] [--out FILE]`: the curves of several
 * `convkit train` runs on one chart (their metrics.jsonl; a line per run and split, the run names
 * in the legend, drawn by Vega as SVG), and a table of each run's final and best numbers.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DataFormatError } from '../core/errors.js';
import { renderSvg } from '../experiments/charts.js';
import { pct } from '../experiments/format.js';
import { choiceOption, pathOption, shown, UsageError } from './args.js';
import { print } from './boundary.js';
import { checkOutputPath, writeFileAtomic } from './files.js';
import { textTable } from './format/table.js';
import { RUN_FILES, readMetricsFile } from './train-run-folder.js';
import { type CurveMetric, type CurvePoint, curvesChartSpec, type RunCurves } from './training-chart.js';

export const PLOT_METRICS = ['both', 'loss', 'accuracy'] as const;
export type PlotMetric = (typeof PLOT_METRICS)[number];

export interface PlotOptions {
  metric: PlotMetric;
  out: string;
}

/**
 * The finished epochs of a run folder's metrics.jsonl, in order. A missing file or folder is a
 * usage error naming the run; a malformed line is readMetricsFile's DataFormatError naming the file
 * and the line.
 */
export function readRunMetrics(dir: string): CurvePoint[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`plot: ${shown(dir)} is not a folder; expected the folder of a convkit train run`);
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) throw new UsageError(`plot: ${dir} holds no ${RUN_FILES.metrics} (not a convkit train run?)`);
  const rows = readMetricsFile(path);
  if (rows.length === 0) throw new DataFormatError(path, 'no finished epoch yet (the file is empty)');
  return rows;
}

/** Legend names: the folders' names, or the paths as given where two names are the same. */
export function runNames(dirs: readonly string[]): string[] {
  const names = dirs.map((d) => basename(resolve(d)));
  return names.map((n, i) => (names.indexOf(n) === names.lastIndexOf(n) ? n : dirs[i]));
}

export interface RunNumbers {
  run: string;
  epochs: number;
  final: CurvePoint;
  /** The epoch of the highest test accuracy, and of the lowest test loss. */
  bestAccuracy: { epoch: number; value: number };
  lowestLoss: { epoch: number; value: number };
}

export function runNumbers(run: RunCurves): RunNumbers {
  const best = (key: 'test_acc' | 'test_loss', better: (a: number, b: number) => boolean) =>
    run.rows.reduce((b, r) => (better(r[key], b.value) ? { epoch: r.epoch, value: r[key] } : b), {
      epoch: run.rows[0].epoch,
      value: run.rows[0][key],
    });
  return {
    run: run.name,
    epochs: run.rows.length,
    final: run.rows[run.rows.length - 1],
    bestAccuracy: best('test_acc', (a, b) => a > b),
    lowestLoss: best('test_loss', (a, b) => a < b),
  };
}

/** The table the command prints: final numbers, then the best test accuracy and lowest test loss with their epochs. */
export function numbersTable(numbers: readonly RunNumbers[]): string[] {
  const r = 'right' as const;
  return textTable(
    [
      { header: 'run', align: 'left' },
      { header: 'epochs', align: r },
      { header: 'train loss', align: r },
      { header: 'test loss', align: r },
      { header: 'train acc', align: r },
      { header: 'test acc', align: r },
      { header: 'best test acc (epoch)', align: r },
      { header: 'lowest test loss (epoch)', align: r },
    ],
    numbers.map((n) => [
      n.run,
      String(n.epochs),
      n.final.train_loss.toFixed(4),
      n.final.test_loss.toFixed(4),
      pct(n.final.train_acc),
      pct(n.final.test_acc),
      `${pct(n.bestAccuracy.value)} (${n.bestAccuracy.epoch})`,
      `${n.lowestLoss.value.toFixed(4)} (${n.lowestLoss.epoch})`,
    ]),
    2,
  );
}

/** Reads the runs, writes the chart to `o.out` and returns each run's numbers. */
export async function runPlot(dirs: readonly string[], o: PlotOptions): Promise<RunNumbers[]> {
  const out = checkOutputPath(o.out, '--out');
  const names = runNames(dirs);
  const runs: RunCurves[] = dirs.map((d, i) => ({ name: names[i], rows: readRunMetrics(d) }));
  const epochs = Math.max(...runs.map((r) => r.rows[r.rows.length - 1].epoch));
  const metrics: CurveMetric[] = o.metric === 'both' ? ['loss', 'accuracy'] : [o.metric];
  const joined = names.join(', ');
  const title = joined.length <= 80 ? joined : `${runs.length} runs`;
  writeFileAtomic(out, await renderSvg(curvesChartSpec(runs, title, epochs, metrics)));
  return runs.map(runNumbers);
}

export function registerPlot(program: Command, out: (text: string) => void = print): void {
  program
    .command('plot')
    .description("the curves of convkit train runs on one chart (SVG), and each run's final and best numbers")
    .argument('<run-dir...>', 'folders of convkit train runs (each with its metrics.jsonl)')
    .addOption(choiceOption('--metric <metric>', 'which curves', PLOT_METRICS, 'both'))
    .addOption(pathOption('--out <file>', 'the chart (SVG)', 'plot.svg'))
    .addHelpText(
      'after',
      '\nExamples:\n  convkit plot runs/a runs/b --out compare.svg\n  convkit plot runs/* --metric accuracy',
    )
    .action(async (dirs: string[], o: PlotOptions) => {
      const numbers = await runPlot(dirs, o);
      for (const line of numbersTable(numbers)) out(line);
      out(`chart: ${o.out}`);
    });
}
