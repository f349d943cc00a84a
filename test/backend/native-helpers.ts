/**
 * Shared pieces of the native-backend tests: when to skip them, and float32 comparisons.
 *
 * Without the addon (oneDNN missing, or the build failed) every native test is skipped with the
 * reason, and the run stays green. With CONVKIT_REQUIRE_NATIVE=1 (.ci/run sets it where set-up can
 * install oneDNN) nothing is skipped: each native test fails, naming the reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after } from 'node:test';
import { takeConvAlgorithmNote } from '../../src/backend/native/conv-algorithm.js';
import { loadNativeAddon, nativeRuntime } from '../../src/backend/native/index.js';
import { resetSettings } from '../../src/core/config.js';
import { Generator } from '../../src/core/random.js';
import { sizeOf } from '../../src/core/shape.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';

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

/** Per-element agreement: |actual - expected| <= rtol * |expected| + atol. */
export interface Tolerance {
  rtol: number;
  atol: number;
}

/**
 * The op-level default, for values of order 1 (the conformance inputs are uniform in [-1, 1)):
 * float32 sums in another order differ by a few ulps of the largest partial sum, so elements near
 * zero after cancellation need an absolute allowance. Measured over the conformance and runtime
 * cases: at most 2.6e-6 beyond 1e-4 relative (logSoftmax's gradient), most below 5e-7; allowed 1e-5.
 * (The old check allowed 1e-4 of max(1, largest |value|): 1 % for values near 1e-2.)
 */
export const OP_TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };

/** Bit for bit, NaN where the reference has NaN (+0 and -0 told apart). */
export function assertSameBits(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const ok = Number.isNaN(expected[i]) ? Number.isNaN(actual[i]) : Object.is(actual[i], expected[i]);
    assert.ok(ok, `${what}: element ${i} is ${actual[i]}, the reference backend gives ${expected[i]}`);
  }
}

/** Both arrays agree per element within tol (float32 sums reassociate); names the worst element. */
export function assertClose(
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance = OP_TOLERANCE,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  let bad = 0;
  for (let i = 0; i < expected.length; i++) {
    const allowed = tol.rtol * Math.abs(expected[i]) + tol.atol;
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= allowed)) {
      bad++;
      const excess = Number.isNaN(diff) ? Infinity : diff / allowed;
      if (worst < 0 || excess > worstExcess) [worst, worstExcess] = [i, excess];
    }
  }
  if (process.env.CONVKIT_CLOSE_STATS) {
    let needed = 0;
    for (let i = 0; i < expected.length; i++)
      needed = Math.max(needed, Math.abs(actual[i] - expected[i]) - tol.rtol * Math.abs(expected[i]));
    console.log(`# close-stats ${what}: atol needed ${needed.toExponential(2)}`);
  }
  if (bad > 0) {
    const [a, e] = [actual[worst], expected[worst]];
    assert.fail(
      `${what}: ${bad} of ${expected.length} elements differ; worst: element ${worst} is ${a} on native, ${e} on ref (|diff| ${Math.abs(a - e).toExponential(2)}, allowed ${tol.rtol} * |ref| + ${tol.atol})`,
    );
  }
}

/** The largest |value|: model outputs are compared with an atol relative to it (see native-zoo). */
export function largestAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** ||actual - expected|| / ||expected|| (L2), the gradient comparison of whole networks. */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'length');
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
}

/** A seed of its own per case name, so that adding a case leaves the others' values alone. */
export function seedOf(name: string): number {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 100003;
  return 1000 * (h + 1);
}

/** Seeded uniform values in [-1, 1). */
export function seededValues(size: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

/** Output and input gradients of f on one backend, for a seeded upstream gradient. */
export function withGradients(
  backend: string,
  inputs: readonly Float32Array[],
  shapes: readonly (readonly number[])[],
  f: (...xs: Tensor[]) => Tensor,
  seed: number,
): Float32Array[] {
  const xs = shapes.map((s, i) => ops.fromArray(inputs[i], s, { backend, requiresGrad: true }));
  const y = f(...xs);
  y.backward(ops.fromArray(seededValues(y.size, seed + 100), y.shape, { backend }));
  return [Float32Array.from(y.toArray()), ...xs.map((x) => Float32Array.from((x.grad as Tensor).toArray()))];
}

/**
 * OP_TOLERANCE's absolute 1e-5 is for values of order 1 (a few ulps of the partial sums). Conv
 * sums reach 16-67 and Winograd's transforms round them more: backward data needed up to 6e-6 of
 * the gradient's RMS (9.1e-5 absolute at 256 channels, 1.25e-5 at 16), direct at most 1e-6. So the
 * absolute part scales with the values: 1e-5 of their RMS.
 */
export function scaledTolerance(expected: Float32Array): Tolerance {
  let squares = 0;
  for (const v of expected) squares += v * v;
  return { rtol: OP_TOLERANCE.rtol, atol: OP_TOLERANCE.atol * Math.max(1, Math.sqrt(squares / expected.length)) };
}

/**
 * f's forward and input gradients on the reference and the native backend, for seeded inputs of
 * `shapes`, agree within scaledTolerance. `beforeNative` runs between the two (to forget notes).
 */
export function assertGradientsAgree(
  name: string,
  shapes: readonly (readonly number[])[],
  f: (...xs: Tensor[]) => Tensor,
  beforeNative: () => void = () => {},
): void {
  const seed = seedOf(name);
  const inputs = shapes.map((s, i) => seededValues(sizeOf(s), seed + i));
  const expected = withGradients('ref', inputs, shapes, f, seed);
  beforeNative();
  const actual = withGradients('native', inputs, shapes, f, seed);
  for (const [i, what] of ['forward', ...shapes.map((_, n) => `gradient of input ${n}`)].entries())
    assertClose(`${name} ${what}`, actual[i], expected[i], scaledTolerance(expected[i]));
}

/** Restores these environment variables (and the settings read from them) after this test file. */
export function restoreEnvAfter(variables: readonly string[]): void {
  const saved = variables.map((v) => process.env[v]);
  after(() => {
    variables.forEach((v, i) => {
      if (saved[i] === undefined) delete process.env[v];
      else process.env[v] = saved[i];
    });
    resetSettings();
  });
}

/**
 * A 3x3 conv (padding 1) with a NaN and an infinity in its input and an infinite weight on a tap
 * that meets the padding, forward and both gradients, with `algorithm` forced: non-finite exactly
 * where the direct kernel has them (not the reference: it multiplies the padding's zeros by the
 * infinite weight, which native kernels skip as PyTorch's mkldnn path does, docs/numerics.md),
 * the finite values close. Returns what the forward ran, or null (the caller skips) where it
 * could not run `algorithm`.
 */
export function assertNonFiniteAsDirect(algorithm: string): string | null {
  const shapes = [
    [2, 16, 10, 10],
    [16, 16, 3, 3],
  ];
  const x = seededValues(2 * 16 * 100, 21);
  x[4 * 10 + 4] = Number.NaN;
  x[100 + 9] = Number.POSITIVE_INFINITY; // on the border
  const w = seededValues(16 * 16 * 9, 22);
  w[3 * 9 + 8] = Number.NEGATIVE_INFINITY;
  const f = (a: Tensor, b: Tensor): Tensor => ops.conv2d(a, b, null, { padding: 1 });
  const use = (name: string): void => {
    process.env.CONVKIT_CONV_ALGORITHM = name;
    resetSettings();
  };
  use('direct');
  const expected = withGradients('native', [x, w], shapes, f, 23);
  use(algorithm);
  const rt = nativeRuntime();
  takeConvAlgorithmNote(rt);
  const actual = withGradients('native', [x, w], shapes, f, 23);
  const ran = takeConvAlgorithmNote(rt)?.algorithm ?? 'direct';
  if (ran !== algorithm) return null;
  for (const [n, what] of ['output', 'input gradient', 'weight gradient'].entries()) {
    const nonFinite = expected[n].filter((v) => !Number.isFinite(v)).length;
    assert.ok(nonFinite > 0, `the direct kernel made no non-finite ${what}`);
    for (let i = 0; i < expected[n].length; i++) {
      const message = `${what} ${i} is ${actual[n][i]}, direct ${expected[n][i]}`;
      if (Number.isFinite(expected[n][i]))
        assert.ok(Math.abs(actual[n][i] - expected[n][i]) <= 1e-3 * (1 + Math.abs(expected[n][i])), message);
      else assert.ok(Object.is(actual[n][i], expected[n][i]), message);
    }
  }
  return ran;
}

/**
 * Runs `script` (ES module code importing ./src/...) in a child process on the native backend, with
 * libgomp's settings cleared, direct convs (tuning would time other algorithms on a second call,
 * with other rounding) and `env`; returns the JSON its last line prints. For checks of the CPU time
 * OpenMP's threads use, which another process's settings or a test beside would blur.
 */
export function runNativeChild<T>(script: string, env: Record<string, string | undefined>): T {
  const clean = { ...process.env };
  delete clean.GOMP_SPINCOUNT;
  delete clean.OMP_WAIT_POLICY;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: process.cwd(),
    env: { ...clean, CONVKIT_CONV_ALGORITHM: 'direct', ...env },
    timeout: 120_000,
    encoding: 'utf8',
  });
  assert.equal(child.signal, null, 'the child hung until killed');
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '');
}
