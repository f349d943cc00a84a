/**
 * Max pooling's backward on blocked maps (max_pool_backward.cc): each input pixel gathers the
 * output gradients whose window maximum it was. Checked bit for bit against the reference
 * backend, which scatters in output order as oneDNN and PyTorch do: ties (the first maximum takes
 * the gradient), overlapping windows that pick the same pixel (the order of the sums), NaN in the
 * input (the window's last NaN takes it) and NaN and infinities in the upstream gradient,
 * channels that leave a block part empty, ceil mode, and a window of 256 taps (an int32
 * workspace where smaller ones take bytes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../../src/core/random.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertSameBits, nativeSkipReason } from './native-helpers.js';

const skip = nativeSkipReason('native-max-pool-backward');

/** The input gradient of max pooling on `backend` for these values and upstream gradient. */
function inputGradient(
  backend: string,
  x: Float32Array,
  shape: number[],
  opts: ops.Pool2dOptions,
  upstream: (size: number) => Float32Array,
): Float32Array {
  const input = ops.fromArray(x, shape, { backend, requiresGrad: true });
  const y = ops.maxPool2d(input, opts);
  y.backward(ops.fromArray(upstream(y.size), y.shape, { backend }));
  return Float32Array.from((input.grad as Tensor).toArray());
}

/** Values from a few levels (ties in most windows), or uniform in [-1, 1). */
function values(size: number, seed: number, levels = 0): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: size }, () => {
    const u = g.uniform();
    return levels > 0 ? Math.floor(u * levels) : u * 2 - 1;
  });
}

const CASES: [string, number[], ops.Pool2dOptions][] = [
  ['3x3/2 pad 1 (ResNet stem), 12 channels', [2, 12, 13, 11], { kernelSize: 3, stride: 2, padding: 1 }],
  ['3x3/2 ceil mode (GoogLeNet), odd sizes', [1, 19, 9, 8], { kernelSize: 3, stride: 2, ceilMode: true }],
  ['3x3/1 pad 1 (each pixel in up to 9 windows)', [2, 8, 7, 6], { kernelSize: 3, stride: 1, padding: 1 }],
  ['2x2/2 floor (VGG, AlexNet-like), 3 channels', [3, 3, 9, 10], { kernelSize: 2, stride: 2 }],
  ['1x3/2x4, a stride past the kernel', [1, 5, 8, 9], { kernelSize: [1, 3], stride: [2, 4] }],
  ['16x16/8 (a 256-tap window: int32 indices)', [1, 9, 40, 33], { kernelSize: 16, stride: 8 }],
];

describe('max pooling backward on blocked maps against the reference backend', { skip }, () => {
  CASES.forEach(([name, shape, opts], n) => {
    it(`${name}: ties, distinct values`, () => {
      const size = shape.reduce((a, b) => a * b, 1);
      for (const levels of [4, 0]) {
        const x = values(size, 10 * n + levels, levels);
        const dy = (s: number) => values(s, 500 + n);
        assertSameBits(
          `${name}, ${levels > 0 ? 'ties' : 'distinct'}`,
          inputGradient('native', x, shape, opts, dy),
          inputGradient('ref', x, shape, opts, dy),
        );
      }
    });
  });

  it('NaN in the input takes its window gradient; NaN and infinities in the upstream gradient reach only maxima', () => {
    const shape = [2, 10, 9, 9];
    const opts = { kernelSize: 3, stride: 2, padding: 1 };
    const size = shape.reduce((a, b) => a * b, 1);
    const x = values(size, 7, 5);
    for (const at of [0, 17, 40, 41, 300, size - 1]) x[at] = Number.NaN;
    const dy = (s: number): Float32Array => {
      const v = values(s, 8);
      v[3] = Number.NaN;
      v[11] = Number.POSITIVE_INFINITY;
      v[12] = Number.NEGATIVE_INFINITY;
      v[s - 2] = -0;
      return v;
    };
    const expected = inputGradient('ref', x, shape, opts, dy);
    assert.ok(expected.some(Number.isNaN) && expected.some((v) => v === Number.POSITIVE_INFINITY));
    assertSameBits('NaN and infinities', inputGradient('native', x, shape, opts, dy), expected);
  });
});
