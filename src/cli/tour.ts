/**
 * `convkit tour` (what `npm start` runs after set-up): the lecture's claims as the seven
 * experiments in the lecture's order, each in its --quick version, each step saying in a line or
 * two what it shows and how its claims came out, then the paths of the reports. `--tiny` runs the
 * same sequence on each experiment's smallest sizes (the end-to-end test does).
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { getBackend } from '../backend/registry.js';
import { ConvkitError } from '../core/errors.js';
import { EXPERIMENTS } from '../experiments/registry.js';
import { REPORT_FILES } from '../experiments/report.js';
import { type Experiment, verdictWord } from '../experiments/types.js';
import { intOption, pathOption } from './args.js';
import { print, reportFor } from './boundary.js';
import { dataOption, runExperiment } from './experiment.js';
import { checkOutputPath } from './files.js';

export interface TourOptions {
  tiny?: boolean;
  data: string;
  seed: number;
  out: string;
}

export interface TourStep {
  name: string;
  /** The report folder, or undefined when the step failed. */
  dir?: string;
  error?: string;
  seconds: number;
}

/** The claims of a run grouped by verdict: "held: a, b; did not hold: c". */
function verdictLine(claims: readonly { id: string; held: boolean | null }[]): string {
  const groups = new Map<string, string[]>();
  for (const c of claims) {
    const word = verdictWord(c.held);
    groups.set(word, [...(groups.get(word) ?? []), c.id]);
  }
  return [...groups].map(([word, ids]) => `${word}: ${ids.join(', ')}`).join('; ');
}

/** Wraps `text` into lines of at most `width` characters, each starting with `indent`. */
function wrap(text: string, indent: string, width = 100): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(indent + line);
  return lines;
}

/**
 * Runs the seven experiments in turn into `<out>/<name>/`. A step that fails is reported and the
 * tour goes on; at the end a failed step makes the tour fail (exit status 1) after the reports are
 * listed. `experiments` is for tests.
 */
export async function runTour(
  o: TourOptions,
  out: (line: string) => void = print,
  experiments: readonly Experiment[] = EXPERIMENTS,
): Promise<TourStep[]> {
  const root = resolve(o.out);
  // Every report file of every step must be writable before the first step starts.
  for (const e of experiments)
    for (const f of Object.values(REPORT_FILES)) checkOutputPath(join(root, e.name, f), '--out');
  // Paths under the current folder as relative ones (shorter), others as they are.
  const shownPath = (p: string): string => {
    const r = relative(process.cwd(), p);
    return r === '' || r.startsWith('..') || isAbsolute(r) ? p : r;
  };
  out(
    `convkit tour: the lecture's claims as ${experiments.length} experiments (${o.tiny ? 'tiny sizes' : '--quick'}, ${o.data}, ${getBackend().name} backend); reports into ${shownPath(root)}/`,
  );
  const steps: TourStep[] = [];
  const started = performance.now();
  for (const [i, e] of experiments.entries()) {
    out('');
    out(`[${i + 1}/${experiments.length}] ${e.title}`);
    for (const l of wrap(e.lesson, '      ')) out(l);
    const t0 = performance.now();
    const seconds = (): number => (performance.now() - t0) / 1000;
    try {
      const run = await runExperiment(
        e,
        {
          quick: true,
          data: o.data,
          seed: o.seed,
          out: join(root, e.name),
          ...(o.tiny ? { limit: e.tiny.trainLimit, testLimit: e.tiny.testLimit, epochs: e.tiny.epochs } : {}),
        },
        (line) => out(`      . ${line}`),
        () => {},
      );
      const step = { name: e.name, dir: run.dir, seconds: seconds() };
      steps.push(step);
      out(`      ${verdictLine(run.result.claims)} (${step.seconds.toFixed(1)} s)`);
    } catch (err) {
      const error = reportFor(err).text.replace(/^convkit: /, '');
      steps.push({ name: e.name, error, seconds: seconds() });
      out(`      failed: ${error}`);
    }
  }
  const total = (performance.now() - started) / 1000;
  out('');
  out(`Reports (${(total / 60).toFixed(1)} minutes in all):`);
  for (const s of steps)
    out(`  ${s.name.padEnd(19)} ${s.dir === undefined ? 'failed' : shownPath(join(s.dir, REPORT_FILES.markdown))}`);
  const failed = steps.filter((s) => s.dir === undefined);
  if (failed.length > 0)
    throw new ConvkitError(
      'tour',
      `${failed.length} of ${steps.length} steps failed (${failed.map((s) => s.name).join(', ')}); their errors are above`,
    );
  return steps;
}

export function registerTour(program: Command, out: (text: string) => void = print): void {
  program
    .command('tour')
    .description(
      "the lecture's tour (what npm start runs): the quick version of every experiment in turn, then the paths of the reports",
    )
    .option('--tiny', "each experiment's smallest sizes: the whole sequence in about 15 s of CPU (for tests)")
    .addOption(dataOption())
    .addOption(intOption('--seed <n>', 'seed of initialisation and data order', { min: 0, max: 2 ** 32 - 1 }, 0))
    .addOption(pathOption('--out <dir>', 'folder of the report folders (one per experiment)', 'experiments'))
    .addHelpText(
      'after',
      '\nAbout 2 minutes of CPU with the native backend, under 10 minutes on 2 cores (see docs/experiments.md#the-tour).\n\nExamples:\n  convkit tour\n  convkit tour --tiny --out /tmp/tour',
    )
    .action(async (o: TourOptions) => {
      await runTour(o, out);
    });
}
