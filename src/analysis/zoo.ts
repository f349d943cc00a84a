/** Summaries of registry entries: the model built on the shape-only `meta` backend, so even VGG19 costs nothing. */
import type { ModelEntry } from '../models/entry.js';
import { summarize, type ModelSummary, type SummaryOptions } from './summary.js';

export type EntrySummaryOptions = Partial<SummaryOptions>;

/**
 * Builds the entry on meta and summarises it at its default input (or `opts.input`); the stem takes
 * the input's channels (1x28x28 builds a greyscale net).
 */
export function summarizeEntry(entry: ModelEntry, opts: EntrySummaryOptions = {}): ModelSummary {
  const input = opts.input ?? entry.input;
  const model = entry.build({ backend: 'meta', inChannels: input[0] });
  return summarize(model, { ...opts, input, name: opts.name ?? entry.name });
}

/** The published accuracy in words: "69.758% top-1" (ImageNet) or "8.75% error" (CIFAR-10); '' if none. */
export function publishedResult(entry: ModelEntry): string {
  const p = entry.published;
  if (p.top1 !== undefined) return `${p.top1}% top-1`;
  if (p.cifar10Error !== undefined) return `${p.cifar10Error}% error`;
  return '';
}
