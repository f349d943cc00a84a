/**
 * convkit in the page: the registry's builders and the analysis, on the shape-only meta backend
 * (nothing is allocated, no addon), memoised per model, input and batch.
 */
import { traceDataflow, type Dataflow } from '../../src/analysis/dataflow.js';
import { summarize, type ModelSummary } from '../../src/analysis/summary.js';
import { summarizeEntry } from '../../src/analysis/zoo.js';
import { setBackend } from '../../src/backend/registry.js';
import { getModel, MODELS, type ModelEntry } from '../../src/models/registry.js';

setBackend('meta');

export { MODELS, getModel, type ModelEntry };

export interface Analysed {
  entry: ModelEntry;
  summary: ModelSummary;
  flow: Dataflow;
}

export type Input = readonly [number, number, number];

const cache = new Map<string, Analysed>();

/** Summary rows and the dataflow graph of one model at `input` and `batch` (one meta build). */
export function analyse(name: string, input?: Input, batch = 1): Analysed {
  const entry = getModel(name);
  const shape = input ?? entry.input;
  const key = `${name}|${shape.join('x')}|${batch}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const model = entry.build({ backend: 'meta', inChannels: shape[0] });
  const summary = summarize(model, { input: shape, batch, name: entry.name });
  const flow = traceDataflow(model, shape, { batch });
  const result = { entry, summary, flow };
  cache.set(key, result);
  return result;
}

const totalsCache = new Map<string, ModelSummary['totals']>();

/** Totals of a model at its default input (the zoo table). */
export function totalsOf(entry: ModelEntry): ModelSummary['totals'] {
  let t = totalsCache.get(entry.name);
  if (!t) {
    t = summarizeEntry(entry).totals;
    totalsCache.set(entry.name, t);
  }
  return t;
}
