/**
 * Shared pieces of the native-backend tests: when to skip them, and float32 comparisons.
 *
 * Without the addon (oneDNN missing, or the build failed) every native test is skipped with the
 * reason, and the run stays green. With CONVKIT_REQUIRE_NATIVE=1 (.ci/run sets it where set-up can
 * install oneDNN) nothing is skipped: each native test fails, naming the reason.
 */
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../../src/backend/native/index.js';

/** The environment variable that turns a missing native backend from a skip into a failure. */
export const REQUIRE_NATIVE = 'CONVKIT_REQUIRE_NATIVE';

/** True when CONVKIT_REQUIRE_NATIVE is 1 (or true/yes). */
export function nativeRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|true|yes)$/i.test(env[REQUIRE_NATIVE] ?? '');
}

/**
 * False when the addon loads, else the reason (shown as the skip reason of every native test).
 * When the native backend is required, also false: the tests run and fail (see failNativeMissing).
 * `addon` and `env` are for the test of this function.
 */
export function nativeSkipReason(
  file: string,
  addon: object | { error: string } = loadNativeAddon(),
  env: NodeJS.ProcessEnv = process.env,
): string | false {
  if (!('error' in addon)) return false;
  const reason = `native backend unavailable: ${addon.error}`;
  if (nativeRequired(env)) {
    console.log(`# ${file}: ${reason}; ${REQUIRE_NATIVE}=1, so its native tests fail`);
    return false;
  }
  console.log(`# ${file} skipped: ${reason} (set ${REQUIRE_NATIVE}=1 to fail instead)`);
  return reason;
}

/**
 * Fails the running test: it needs the native backend, which did not load. Reached only when the
 * test was not skipped, i.e. when CONVKIT_REQUIRE_NATIVE=1. Use as `if ('error' in x) return failNativeMissing(x);`.
 */
export function failNativeMissing(missing: { error: string }): never {
  return assert.fail(`native backend unavailable: ${missing.error} (${REQUIRE_NATIVE}=1 makes this a failure)`);
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
