#!/usr/bin/env node
/** The `convkit` command line. */
import { Command, InvalidArgumentError } from 'commander';
import { ConvkitError } from '../core/errors.js';
import { getModel, MODELS } from '../models/registry.js';
import { registerAnalysisCommands } from './analysis-commands.js';
import { registerCalc } from './calc.js';
import { runDemo } from './demo.js';

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, got '${value}'.`);
    return n;
  };
}

function positiveNumber(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number, got '${value}'.`);
    return n;
  };
}

const program = new Command()
  .name('convkit')
  .description('The classic modern CNNs (AlexNet, VGG, GoogLeNet, ResNet, DenseNet) in TypeScript.')
  .showHelpAfterError();

program
  .command('demo')
  .description('train a small CNN (conv, batch norm, residual and concat blocks) on a synthetic image task')
  .option('--epochs <n>', 'training epochs', integer('--epochs', 1), 3)
  .option('--samples <n>', 'training images (a quarter as many test images)', integer('--samples', 32), 1600)
  .option('--batch-size <n>', 'images per step', integer('--batch-size', 1), 32)
  .option('--lr <x>', 'initial learning rate (SGD, momentum 0.9, cosine schedule)', positiveNumber('--lr'), 0.1)
  .option('--width <n>', 'channels after the stem', integer('--width', 2), 8)
  .option('--seed <n>', 'seed for data, initialisation and shuffling', integer('--seed', 0), 0)
  .option('--out <dir>', 'folder for the chart and the history JSON', 'out')
  .action(async (opts) => runDemo(opts));

const print = (text: string): void => console.log(text);
registerAnalysisCommands(program, { entries: MODELS, get: getModel }, print);
registerCalc(program, print);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConvkitError) {
    console.error(`convkit: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
