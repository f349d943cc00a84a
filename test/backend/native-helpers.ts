/** Shared pieces of the native-backend tests: the skip reason and a float32 comparison. */
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../src/backend/native/index.js';

/** False when the addon loads, else the reason (shown as the skip reason of every native test). */
export function nativeSkipReason(file: string): string | false {
  const addon = loadNativeAddon();
  if (!('error' in addon)) return false;
  const reason = `native backend unavailable: ${addon.error}`;
  console.log(`# ${file} skipped: ${reason}`);
  return reason;
}

/** Both arrays agree within rtol of the largest magnitude of the reference (float32 sums reassociate). */
export function assertClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= rtol * scale))
      assert.fail(`${what}: element ${i} is ${actual[i]} on native, ${expected[i]} on ref (tolerance ${rtol * scale})`);
  }
}

/**
 * ||actual - expected|| <= rtol * ||expected|| (L2). For gradients of deep networks: float32
 * rounding can flip a ReLU whose input is within 1e-6 of zero, which changes a few elements a lot
 * and the vector as a whole very little; a wrong kernel changes the whole vector.
 */
export function assertCloseNorm(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  const relative = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
  if (!(relative <= rtol))
    assert.fail(`${what}: relative L2 difference ${relative.toExponential(2)} between native and ref exceeds ${rtol}`);
}
