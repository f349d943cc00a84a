/** `convkit summary <model>`: the layer table, totals, receptive field and memory of one model. */
import type { OptimizerKind } from '../analysis/memory.js';
import { summarizeEntry } from '../analysis/zoo.js';
import { requireExact, toJson, type Format } from './args.js';
import { summaryJson } from './format/summary-json.js';
import { summaryMarkdown, summaryText } from './format/summary.js';
import type { Zoo } from './zoo.js';

export interface SummaryCliOptions {
  /** One image, CxHxW (default: the model's own). */
  input?: readonly [number, number, number];
  depth: number;
  batch: number;
  format: Format;
  optimizer: OptimizerKind;
  train?: boolean;
}

export function summaryCommand(zoo: Zoo, name: string, opts: SummaryCliOptions): string {
  const entry = zoo.get(name);
  const input = opts.input ?? entry.input;
  const summary = summarizeEntry(entry, {
    input,
    batch: opts.batch,
    optimizer: opts.optimizer,
    mode: opts.train ? 'train' : 'eval',
  });
  const json = summaryJson(summary, opts.depth);
  // The counts grow with the batch and the input; refuse rather than print rounded ones.
  requireExact(json, `summary ${name} at batch ${opts.batch} and input ${input.join('x')}`);
  if (opts.format === 'json') return toJson(json);
  return opts.format === 'markdown' ? summaryMarkdown(summary, opts.depth) : summaryText(summary, opts.depth);
}
