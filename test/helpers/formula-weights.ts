/**
 * Deterministic "formula" weights, computed identically here and in scripts/golden/zoo_logits.py,
 * so a model's logits can be compared with torchvision's without committing any weights. See the
 * generator's docstring for the formula; in short, for the k-th state-dict entry (key order, every
 * entry counted) and its element i:
 *
 *   u = mix(i XOR mix((k + 1) * 0x9E3779B9)) / 2^31 - 1          (mix: lowbias32 on uint32)
 *
 * scaled per kind of tensor, in float64, then rounded to float32 (Math.fround; numpy's astype).
 * Integer arithmetic, a division by a power of two, sqrt and one multiply-add are exact or
 * correctly rounded in IEEE float64, so both sides get the same bits.
 */
import { getBackend } from '../../src/backend/registry.js';
import type { Tensor } from '../../src/core/tensor.js';
import type { TensorModule } from '../../src/nn/module.js';
import { fromArray } from '../../src/ops/creation.js';

/** lowbias32 (Chris Wellons): a uint32 -> uint32 mixing function. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The seed of tensor k. */
function tensorSeed(k: number): number {
  return mix(Math.imul(k + 1, 0x9e3779b9) >>> 0);
}

/** offset + scale * u(k, i) for i < n, computed in float64 and rounded to float32. */
export function formulaValues(k: number, n: number, { scale = 1, offset = 0 }: Affine = {}): Float32Array {
  const s = tensorSeed(k);
  const out = new Float32Array(n);
  // mix() inlined: this loop fills VGG's 120 M classifier weights, 0.5 s instead of 2 s.
  for (let i = 0; i < n; i++) {
    let x = (i ^ s) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    out[i] = offset + scale * ((x >>> 0) / 2 ** 31 - 1);
  }
  return out;
}

/** A value map offset + scale * u (offset 0 adds nothing: u is never -0). */
export interface Affine {
  scale?: number;
  offset?: number;
}

/** The state-dict index of a model's input (uniform in [-1, 1)). */
export const INPUT_TENSOR_INDEX = 1_000_000;

/** The value map of state-dict entry `key` (see scripts/golden/zoo_logits.py's formula_value). */
export function formulaMap(key: string, shape: readonly number[], gain: number): Affine {
  const n = shape.reduce((a, b) => a * b, 1);
  if (key.endsWith('running_mean') || key.endsWith('.bias')) return { scale: 0.1 };
  if (key.endsWith('running_var')) return { scale: 0.5, offset: 1 };
  if (key.endsWith('.weight') && shape.length === 1) return { scale: 0.1, offset: 1 };
  if (key.endsWith('.weight') && (shape.length === 2 || shape.length === 4))
    return { scale: Math.sqrt(6 / (n / shape[0])) * gain };
  throw new Error(`no formula for ${key} [${shape.join(', ')}]`);
}

/**
 * Loads the formula weights into `model` (on its backend): every state-dict entry but
 * num_batches_tracked (an integer in torchvision, left as the model has it) gets formula values.
 */
export function loadFormulaWeights(model: TensorModule, gain: number, backend: string): void {
  const own = model.stateDict();
  const formula = new Map<string, Tensor>();
  let k = 0;
  for (const [key, t] of own) {
    if (!key.endsWith('num_batches_tracked'))
      formula.set(key, fromArray(formulaValues(k, t.size, formulaMap(key, t.shape, gain)), t.shape, { backend }));
    k++;
  }
  try {
    model.loadStateDict(new Map([...own].map(([key, t]) => [key, formula.get(key) ?? t])));
  } finally {
    for (const t of formula.values()) t.dispose();
  }
}

/**
 * Builds a model on `backend` without its initialisation: the weights a build draws are
 * overwritten by formula weights right after, and drawing VGG's 138 M values one by one costs
 * 6-7 s of CPU per build. torch.nn.init-style fills skip backends without data (that is how the
 * meta backend builds), so the backend reports no data while the builder runs; the parameters
 * keep the zeros they were allocated with. Restored afterwards, also on an exception.
 */
export function buildWithoutInit<T>(backend: string, build: () => T): T {
  const b = getBackend(backend) as { hasData: boolean };
  if (!b.hasData) throw new Error(`buildWithoutInit: backend '${backend}' already reports no data`);
  b.hasData = false;
  try {
    return build();
  } finally {
    b.hasData = true;
  }
}
