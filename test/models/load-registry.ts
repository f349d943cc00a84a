/**
 * The model registry, loaded so that a family file that is missing or broken fails the tests that
 * need it (with the reason) instead of the whole test file: the registry imports every family, so a
 * static import would take AlexNet's tests down with a broken DenseNet.
 */
import type { ModelEntry } from '../../src/models/entry.js';
import { ALEXNET_MODELS } from '../../src/models/alexnet.js';
import { GOOGLENET_MODELS } from '../../src/models/googlenet.js';
import { VGG_MODELS } from '../../src/models/vgg.js';

export type RegistryModule = typeof import('../../src/models/registry.js');

/** The registry module, or the error its import threw. */
export async function loadRegistry(): Promise<RegistryModule | Error> {
  try {
    return await import('../../src/models/registry.js');
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** The classic families' entries, imported directly (they do not depend on the registry). */
export const CLASSIC_MODELS: readonly ModelEntry[] = [...ALEXNET_MODELS, ...VGG_MODELS, ...GOOGLENET_MODELS];

export function classicEntry(name: string): ModelEntry {
  const entry = CLASSIC_MODELS.find((e) => e.name === name);
  if (!entry) throw new Error(`no classic model '${name}' (have ${CLASSIC_MODELS.map((e) => e.name).join(', ')})`);
  return entry;
}
