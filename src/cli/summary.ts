/** `convkit summary <model>`: the layer table, totals, receptive field and memory of one model. */
import type { OptimizerKind } from '../analysis/memory.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { parseInputShape, toJson, type Format } from './args.js';
import { summaryJson } from './format/summary-json.js';
import { summaryMarkdown, summaryText } from './format/summary.js';
import type { Zoo } from './zoo.js';

export interface SummaryCliOptions {
  input?: string;
  depth: number;
  batch: number;
  format: Format;
  optimizer: OptimizerKind;
  train?: boolean;
}

export function summaryCommand(zoo: Zoo, name: string, opts: SummaryCliOptions): string {
  const entry = zoo.get(name);
  const input = opts.input === undefined ? entry.input : parseInputShape(opts.input);
  const summary = summarizeEntry(entry, {
    input,
    batch: opts.batch,
    optimizer: opts.optimizer,
    mode: opts.train ? 'train' : 'eval',
  });
  if (opts.format === 'json') return toJson(summaryJson(summary, opts.depth));
  return opts.format === 'markdown' ? summaryMarkdown(summary, opts.depth) : summaryText(summary, opts.depth);
}
