/**
 * The model zoo's registry: every network by name, with its default input, class count, the
 * published numbers to check it against, and the one idea it brought. Built from explicit arrays
 * that each family file exports, not from import side effects.
 */
import { ArgumentError } from '../core/errors.js';
import { ALEXNET_MODELS } from './alexnet.js';
import { DENSENET_MODELS } from './densenet.js';
import { GOOGLENET_MODELS } from './googlenet.js';
import { RESNET_MODELS } from './resnet.js';
import type { TensorModule } from '../nn/module.js';
import type { BuildOptions, ModelEntry } from './entry.js';
import { VGG_MODELS } from './vgg.js';

export type { BuildOptions, Family, Layout, ModelEntry, PublishedNumbers } from './entry.js';

export const MODELS: readonly ModelEntry[] = [
  ...ALEXNET_MODELS,
  ...VGG_MODELS,
  ...GOOGLENET_MODELS,
  ...RESNET_MODELS,
  ...DENSENET_MODELS,
];

export function modelNames(): string[] {
  return MODELS.map((m) => m.name);
}

/** Looks a model up by name; an unknown name gets the closest names in the error. */
export function getModel(name: string): ModelEntry {
  const entry = MODELS.find((m) => m.name === name);
  if (entry) return entry;
  const closest = modelNames()
    .map((n) => [n, editDistance(name.toLowerCase(), n)] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, 3)
    .map(([n]) => n);
  throw new ArgumentError('zoo', `unknown model '${name}'; closest: ${closest.join(', ')} (see 'convkit list')`);
}

export function buildModel(name: string, opts: BuildOptions = {}): TensorModule {
  return getModel(name).build(opts);
}

/** Levenshtein distance, for suggestions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[b.length];
}
