/** `convkit list`: every model of the zoo with computed parameters and multiply-adds. */
import { summarizeEntry } from '../analysis/zoo.js';
import type { Family } from '../models/entry.js';
import { parseChoice, type Format } from './args.js';
import { listTable } from './format/zoo-tables.js';
import type { Zoo } from './zoo.js';

export interface ListOptions {
  format: Format;
  family?: string;
}

export const FAMILIES: readonly Family[] = ['alexnet', 'vgg', 'googlenet', 'resnet', 'densenet'];

export function listCommand(zoo: Zoo, opts: ListOptions): string {
  if (opts.family !== undefined) parseChoice('--family', opts.family, FAMILIES);
  const entries = zoo.entries.filter((e) => opts.family === undefined || e.family === opts.family);
  return listTable(
    entries.map((entry) => ({ entry, summary: summarizeEntry(entry) })),
    opts.format,
  );
}
