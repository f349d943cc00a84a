/**
 * Max pooling's inference forward on blocked maps (native/src/max_pool_forward.cc): without a
 * workspace a window's maximum is a tree of vmaxps (whole 2x2 and 3x3 windows) or a chain (edge
 * windows, other kernels) beside a sum of its taps (NaN where a tap is), and a window whose sum
 * is NaN is redone by PyTorch's rule. Checked bit for bit against the reference backend: ties of +0 and -0 (the first
 * maximum is kept: the tree must put earlier taps first), NaN in whole and edge windows (NaN out),
 * windows of -inf only, +inf beside NaN, and a map of one level (every tap ties).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noGrad } from '../../src/core/grad-mode.js';
import { Generator } from '../../src/core/random.js';
import * as ops from '../../src/ops/index.js';
import { assertSameBits, nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-max-pool-forward');

/** max pooling of these values on `backend`, in inference. */
function pooled(backend: string, x: Float32Array, shape: number[], opts: ops.Pool2dOptions): Float32Array {
  return noGrad(() => Float32Array.from(ops.maxPool2d(ops.fromArray(x, shape, { backend }), opts).toArray()));
}

/** Values from {-1, -0, +0, 0.5} (ties of signed zeros in most windows), `special` of them NaN or an infinity. */
function values(size: number, seed: number, special: number): Float32Array {
  const g = new Generator(seed);
  const levels = [-1, -0, 0, 0.5];
  const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  return Float32Array.from({ length: size }, () =>
    g.uniform() < special ? specials[Math.floor(g.uniform() * 3)] : levels[Math.floor(g.uniform() * 4)],
  );
}

const CASES: [string, number[], ops.Pool2dOptions][] = [
  [
    '3x3/1 pad 1 ceil (an inception branch), 20 channels',
    [2, 20, 9, 7],
    { kernelSize: 3, stride: 1, padding: 1, ceilMode: true },
  ],
  ['3x3/2 pad 1 (ResNet stem)', [1, 16, 13, 11], { kernelSize: 3, stride: 2, padding: 1 }],
  ['3x3/2 ceil mode (GoogLeNet), odd sizes', [1, 19, 9, 8], { kernelSize: 3, stride: 2, ceilMode: true }],
  ['2x2/2 floor (VGG), 3 channels', [3, 3, 9, 10], { kernelSize: 2, stride: 2 }],
  ['1x3/2x4 (the chain of any kernel)', [1, 5, 8, 9], { kernelSize: [1, 3], stride: [2, 4] }],
];

describe('max pooling inference forward on blocked maps against the reference backend', { skip }, () => {
  for (const [name, shape, opts] of CASES) {
    for (const special of [0, 0.03]) {
      it(`${name}${special ? ', NaN and infinities' : ', signed-zero ties'}`, () => {
        const x = values(
          shape.reduce((a, b) => a * b, 1),
          shape[1] + name.length,
          special,
        );
        const expected = pooled('ref', x, shape, opts);
        const actual = pooled('native', x, shape, opts);
        if (special) assert.ok(expected.some(Number.isNaN), 'the case has NaN windows');
        assertSameBits(name, actual, expected);
      });
    }
  }

  it('a window of -inf only answers -inf, and one level everywhere answers it', () => {
    const shape = [1, 16, 6, 6];
    for (const level of [Number.NEGATIVE_INFINITY, -0]) {
      const x = new Float32Array(16 * 36).fill(level);
      const actual = pooled('native', x, shape, { kernelSize: 3, stride: 1, padding: 1 });
      assert.ok(
        actual.every((v) => Object.is(v, level)),
        `pooling a map of ${Object.is(level, -0) ? '-0' : level}`,
      );
    }
  });
});
