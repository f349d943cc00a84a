/**
 * `convkit experiment <name> [--quick | --full] [--data SPEC] [--out DIR]`: runs one of the
 * lecture's claims as an experiment and writes its report folder (<out>/report.md, data.json, SVG
 * charts); prints each claim with its verdict. docs/experiments.md describes them.
 */
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { ArgumentError } from '../core/errors.js';
import { parseDataSource, DATA_WORDS } from '../data/source.js';
import { EXPERIMENTS, experimentNames, getExperiment } from '../experiments/registry.js';
import { REPORT_FILES, summaryLines, writeReport } from '../experiments/report.js';
import type { Experiment, ExperimentMode, ExperimentResult } from '../experiments/types.js';
import { intOption, pathOption, shown, UsageError } from './args.js';
import { print } from './boundary.js';
import { checkOutputPath } from './files.js';

export interface ExperimentCliOptions {
  quick?: boolean;
  full?: boolean;
  data: string;
  seed: number;
  out?: string;
  limit?: number;
  testLimit?: number;
  epochs?: number;
}

export interface ExperimentRun {
  dir: string;
  result: ExperimentResult;
  files: string[];
}

/**
 * Runs an experiment (by name, or the experiment itself) and writes its report folder; `out` gets the progress lines and `summary`
 * the verdicts (the tour prints its own).
 */
export async function runExperiment(
  which: string | Experiment,
  o: ExperimentCliOptions,
  out: (line: string) => void = print,
  summary: (line: string) => void = out,
): Promise<ExperimentRun> {
  let experiment: Experiment;
  try {
    experiment = typeof which === 'string' ? getExperiment(which) : which;
  } catch (err) {
    if (err instanceof ArgumentError) throw new UsageError(err.message.replace(/^experiment: /, ''));
    throw err;
  }
  const name = experiment.name;
  if (o.quick && o.full) throw new UsageError('--quick and --full exclude each other; give one');
  const mode: ExperimentMode = o.full ? 'full' : 'quick';
  const dir = resolve(o.out ?? join('experiments', name));
  for (const f of Object.values(REPORT_FILES)) checkOutputPath(join(dir, f), '--out');
  const result = await experiment.run({
    mode,
    data: o.data,
    seed: o.seed,
    trainLimit: o.limit,
    testLimit: o.testLimit,
    epochs: o.epochs,
    log: out,
  });
  const written = await writeReport(dir, result);
  for (const line of summaryLines(result, dir)) summary(line);
  return { dir, result, files: written.files };
}

/** `--data <spec>` of the commands that run experiments, checked when parsed. */
export function dataOption(): Option {
  return pathOption('--data <spec>', `data of the experiments that train: ${DATA_WORDS}`, 'fashion-mnist').argParser(
    (v: string) => {
      try {
        return parseDataSource(v).spec;
      } catch {
        throw new UsageError(`--data: expected ${DATA_WORDS}, got ${shown(v)}`);
      }
    },
  );
}

export function registerExperiment(program: Command, out: (text: string) => void = print): void {
  const list = EXPERIMENTS.map((e) => `  ${e.name.padEnd(18)} ${e.summary}`).join('\n');
  program
    .command('experiment')
    .description(
      "run one of the lecture's claims as an experiment: a report folder with the report, data.json and charts",
    )
    .argument('<name>', `one of: ${experimentNames().join(', ')}`)
    .addOption(
      new Option(
        '--quick',
        'small and fast (the default): seconds, a few minutes at most for those that train on a small subset',
      ),
    )
    .addOption(new Option('--full', 'more data and epochs for the experiments that train'))
    .addOption(dataOption())
    .addOption(intOption('--seed <n>', 'seed of initialisation and data order', { min: 0, max: 2 ** 32 - 1 }, 0))
    .addOption(
      intOption('--limit <n>', 'training images of the experiments that train (default by --quick/--full)', {
        min: 1,
        max: 100_000_000,
      }),
    )
    .addOption(intOption('--test-limit <n>', 'test images of the experiments that train', { min: 1, max: 100_000_000 }))
    .addOption(intOption('--epochs <n>', 'epochs of the experiments that train', { min: 1, max: 10_000 }))
    .addOption(pathOption('--out <dir>', 'report folder (default experiments/<name>); its report files are replaced'))
    .addHelpText(
      'after',
      `\nExperiments:\n${list}\n\nExamples:\n  convkit experiment one-by-one\n  convkit experiment efficiency --out reports/efficiency`,
    )
    .action(async (name: string, o: ExperimentCliOptions) => {
      await runExperiment(name, o, out);
    });
}
