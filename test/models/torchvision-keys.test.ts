/**
 * Golden test: for every torchvision-layout model in the registry, stateDict() has exactly
 * torchvision's keys, in torchvision's order, with torchvision's shapes, so weights move between
 * convkit and PyTorch unchanged. The fixture (test/golden/model-keys.json) is written by
 * scripts/golden/models.py from `torchvision.models.<name>(weights=None)`; models are built here on
 * the meta backend (nothing allocated). A model the registry lacks fails with the reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { withBackend } from '../../src/backend/registry.js';
import type { ModelEntry } from '../../src/models/entry.js';
import { googlenet } from '../../src/models/googlenet.js';
import type { TensorModule } from '../../src/nn/module.js';
import { regenerateHint } from '../helpers/golden.js';
import { CLASSIC_MODELS, loadRegistry } from './load-registry.js';

interface KeysCase {
  name: string;
  /** The torchvision call that built the model. */
  torchvision: string;
  /** torchvision's parameters().numel() sum. */
  params: number;
  /** state_dict() in order: [key, shape]. */
  keys: [string, number[]][];
}

const GENERATOR = 'scripts/golden/models.py';
const HINT = regenerateHint(`/usr/bin/python3 ${GENERATOR}`);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isShape = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isInteger(d));
const isKey = (v: unknown): v is [string, number[]] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && isShape(v[1]);

function loadCases(): KeysCase[] {
  const path = fileURLToPath(new URL('../golden/model-keys.json', import.meta.url));
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isRecord(raw) || !Array.isArray(raw.cases))
    throw new Error(`${path}: expected {generator, cases: [...]}; ${HINT}`);
  return raw.cases.map((c: unknown, i) => {
    if (
      !isRecord(c) ||
      typeof c.name !== 'string' ||
      typeof c.torchvision !== 'string' ||
      typeof c.params !== 'number' ||
      !Array.isArray(c.keys) ||
      !c.keys.every(isKey)
    ) {
      throw new Error(`${path}: case ${i} should be {name, torchvision, params, keys: [[key, shape], ...]}; ${HINT}`);
    }
    return { name: c.name, torchvision: c.torchvision, params: c.params, keys: c.keys };
  });
}

const show = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/** Fails with what differs: missing and unexpected keys, the first out-of-order key, shape mismatches. */
function assertSameKeys(model: TensorModule, golden: KeysCase): void {
  const ours = [...model.stateDict().entries()].map(([k, t]): [string, number[]] => [k, [...t.shape]]);
  const head = `${golden.name} (torchvision: ${golden.torchvision})`;
  const theirsSet = new Set(golden.keys.map(([k]) => k));
  const oursSet = new Set(ours.map(([k]) => k));
  const missing = golden.keys.filter(([k]) => !oursSet.has(k)).map(([k]) => k);
  const unexpected = ours.filter(([k]) => !theirsSet.has(k)).map(([k]) => k);
  const few = (keys: string[]): string =>
    keys.slice(0, 5).join(', ') + (keys.length > 5 ? `, ... (${keys.length} in all)` : '');
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [
      missing.length ? `missing in convkit: ${few(missing)}` : '',
      unexpected.length ? `not in torchvision: ${few(unexpected)}` : '',
    ].filter(Boolean);
    assert.fail(
      `${head}: state-dict keys differ (${ours.length} in convkit, ${golden.keys.length} in torchvision); ${parts.join('; ')}. ${HINT}`,
    );
  }
  const firstOutOfOrder = ours.findIndex(([k], i) => k !== golden.keys[i][0]);
  if (firstOutOfOrder >= 0) {
    assert.fail(
      `${head}: same keys in another order; position ${firstOutOfOrder} is '${ours[firstOutOfOrder][0]}' in convkit, '${golden.keys[firstOutOfOrder][0]}' in torchvision. ${HINT}`,
    );
  }
  const mismatched = ours
    .filter(([, shape], i) => show(shape) !== show(golden.keys[i][1]))
    .map(([k, shape]) => `${k}: ${show(shape)} vs torchvision ${show(golden.keys.find(([g]) => g === k)?.[1] ?? [])}`);
  if (mismatched.length > 0)
    assert.fail(`${head}: ${mismatched.length} shapes differ: ${mismatched.slice(0, 5).join('; ')}. ${HINT}`);
}

const cases = loadCases();
const registry = await loadRegistry();
const registryModels: readonly ModelEntry[] | null = registry instanceof Error ? null : registry.MODELS;

/** The registry's entry; without a loadable registry, the classic families' own list (so AlexNet, VGG and GoogLeNet are still checked). */
function entryFor(name: string): ModelEntry {
  const entry = (registryModels ?? CLASSIC_MODELS).find((e) => e.name === name);
  if (entry) return entry;
  if (registry instanceof Error)
    assert.fail(`'${name}' cannot be checked: src/models/registry.ts did not load (${registry.message})`);
  return assert.fail(
    `the registry has no model '${name}', which torchvision has (${cases.find((c) => c.name === name)?.torchvision}); it belongs in the registry under that name`,
  );
}

/** Fixture cases that are not a registry entry but a variant of one, and how convkit builds them. */
const VARIANTS: Record<string, () => TensorModule> = {
  'googlenet+aux_logits': () => googlenet({ auxLogits: true }),
};

describe('state-dict keys, order and shapes equal torchvision 0.14', () => {
  it('the fixture covers every torchvision-layout model of the registry, and the registry has every fixture model', () => {
    if (registryModels === null)
      return assert.fail(`src/models/registry.ts did not load: ${registry instanceof Error ? registry.message : ''}`);
    const inFixture = new Set(cases.map((c) => c.name));
    const torchvisionLayout = registryModels.filter((e) => e.layout === 'torchvision').map((e) => e.name);
    const uncovered = torchvisionLayout.filter((n) => !inFixture.has(n));
    assert.deepEqual(
      uncovered,
      [],
      `torchvision-layout models without golden keys: ${uncovered.join(', ')}; add them to MODELS in ${GENERATOR} and run it`,
    );
    const absent = cases.filter((c) => !(c.name in VARIANTS) && !torchvisionLayout.includes(c.name)).map((c) => c.name);
    assert.deepEqual(
      absent,
      [],
      `fixture models missing from the registry (or not marked layout 'torchvision'): ${absent.join(', ')}`,
    );
  });

  for (const golden of cases) {
    const variant = VARIANTS[golden.name];
    it(`${golden.name}: ${golden.keys.length} keys; parameters equal torchvision's ${golden.params.toLocaleString('en-US')}`, () => {
      const model = withBackend('meta', () => (variant ? variant() : entryFor(golden.name).build()));
      assertSameKeys(model, golden);
      assert.equal(model.numParameters(), golden.params, `${golden.name}: parameter count`);
      // The registry's published count is torchvision's own (docs/architecture.md#published-reference-numbers, checked against torchvision here).
      if (!variant)
        assert.equal(
          entryFor(golden.name).published.params,
          golden.params,
          `${golden.name}: published.params in the registry`,
        );
    });
  }
});
