/**
 * The `convkit` program: its commands, registered on commander. main.ts imports this module only
 * inside its error boundary, so an error while the library loads is reported like any other.
 */
import { Command, CommanderError } from 'commander';
import { ArgumentError } from '../core/errors.js';
import { getModel, MODELS } from '../models/registry.js';
import { registerAnalysisCommands } from './analysis-commands.js';
import { UsageError } from './args.js';
import { isHelpShown, print } from './boundary.js';
import { registerCalc } from './calc.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerExport } from './export.js';
import { registerExperiment } from './experiment.js';
import { registerPlot } from './plot.js';
import { registerPredict } from './predict.js';
import { registerServe } from './serve.js';
import { registerTour } from './tour.js';
import { registerTrain } from './train.js';
import { registerWeightsCommands } from './weights-commands.js';
import type { Zoo } from './zoo.js';

/** The registry, with an unknown model name reported as a usage error (exit status 2). */
export const CLI_ZOO: Zoo = {
  entries: MODELS,
  get(name) {
    try {
      return getModel(name);
    } catch (err) {
      if (err instanceof ArgumentError) throw new UsageError(err.message);
      throw err;
    }
  },
};

export function buildProgram(out: (text: string) => void = print): Command {
  const program = new Command()
    .name('convkit')
    .description('The classic modern CNNs (AlexNet, VGG, GoogLeNet, ResNet, DenseNet) in TypeScript.')
    // Commander's errors are thrown to the boundary (one line there), not printed and exited on here.
    .exitOverride()
    .configureOutput({ outputError: () => {}, writeErr: () => {} })
    .addHelpText(
      'after',
      '\nErrors are one line on stderr; exit status 2 for a mistake in the call, 1 for a failure while running.',
    );
  registerDemo(program);
  registerAnalysisCommands(program, CLI_ZOO, out);
  registerCalc(program, out);
  registerTrain(program, out);
  registerEval(program, out);
  registerPlot(program, out);
  registerPredict(program, out);
  registerWeightsCommands(program, out);
  registerExport(program, CLI_ZOO, out);
  registerExperiment(program, out);
  registerTour(program, out);
  registerServe(program, CLI_ZOO, out);
  return program;
}

/** The commands named on the command line, in order: ['calc', 'stack'] for `convkit calc stack --kernel 5`. */
export function commandPath(program: Command, args: readonly string[]): Command[] {
  const path: Command[] = [program];
  for (const arg of args) {
    if (arg.startsWith('-')) continue;
    const next = path[path.length - 1].commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (next === undefined) break;
    path.push(next);
  }
  return path;
}

/** Runs the program on `argv` (node, script, args...), turning commander's usage errors into one line each. */
export async function runProgram(argv: readonly string[], out: (text: string) => void = print): Promise<void> {
  const program = buildProgram(out);
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (!(err instanceof CommanderError) || isHelpShown(err)) throw err;
    const path = commandPath(program, argv.slice(2));
    const name = path.map((c) => c.name()).join(' ');
    const help = `(see ${name} --help)`;
    if (err.code === 'commander.help') {
      // A command that needs a subcommand was given none: say which ones there are, in one line.
      const subcommands = path[path.length - 1].commands.map((c) => c.name());
      const what = path.length > 1 ? `${name.replace(/^\S+ /, '')} needs a command` : 'missing command';
      throw new UsageError(`${what}: ${subcommands.join(', ')} ${help}`);
    }
    throw new UsageError(`${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} ${help}`);
  }
}
