import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceOps } from '../../src/core/trace.js';
import { ArgumentError, ShapeError } from '../../src/core/errors.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

/** 1..n*n row-major as a [1, 1, n, n] image, so window sums and maxima are easy to derive. */
const counting = (h: number, w = h): Tensor => ops.arange(1, h * w + 1, 1, { dtype: 'float64' }).view([1, 1, h, w]);

const throwsWith = (fn: () => unknown, kind: typeof ShapeError | typeof ArgumentError, message: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof kind && message.test(e.message));
};

describe('maxPool2d', () => {
  it('2x2/2 on a 4x4 counting image picks each block’s bottom-right', () => {
    close(ops.maxPool2d(counting(4), { kernelSize: 2 }).toArray(), [6, 8, 14, 16]);
  });

  it('overlapping 3x3/2 with padding 1: padding never wins', () => {
    // Window (i, j) covers rows 2i-1..2i+1, cols 2j-1..2j+1 clipped to 0..4; the max of a counting
    // image is its bottom-right real pixel: rows/cols {1, 3, 4} -> 5r + c + 1. (torch 1.13 agrees.)
    close(
      ops.maxPool2d(counting(5), { kernelSize: 3, stride: 2, padding: 1 }).toArray(),
      [7, 9, 10, 17, 19, 20, 22, 24, 25],
    );
    // All-negative input: a zero from padding must not beat the real values.
    const negative = ops.neg(counting(3));
    close(
      ops.maxPool2d(negative, { kernelSize: 3, stride: 1, padding: 1 }).toArray(),
      [-1, -1, -2, -1, -1, -2, -4, -4, -5],
    );
  });

  it('ties go to the first maximum, and its gradient goes there only', () => {
    const x = ops.tensor([[[[2, 2, 1, 2]]]], { dtype: 'float64', requiresGrad: true });
    const y = ops.maxPool2d(x, { kernelSize: [1, 4] });
    close(y.toArray(), [2]);
    y.backward();
    close(x.grad?.toArray() ?? [], [1, 0, 0, 0]);
  });

  it('overlapping windows that pick the same pixel add their gradients', () => {
    // 1x5 row [0, 9, 0, 0, 0] with 1x3 windows at stride 1: windows 0 and 1 both pick the 9.
    const x = ops.tensor([[[[0, 9, 0, 0, 0]]]], { dtype: 'float64', requiresGrad: true });
    const y = ops.maxPool2d(x, { kernelSize: [1, 3], stride: 1 });
    close(y.toArray(), [9, 9, 0]);
    y.backward(ops.tensor([[[[1, 10, 100]]]], { dtype: 'float64' }));
    close(x.grad?.toArray() ?? [], [0, 11, 100, 0, 0]);
  });

  it('dilation 2 skips every other pixel', () => {
    // 5x5 counting image, 2x2 kernel dilated to span 3, stride 2: taps at (r, c), (r, c+2), (r+2, c), (r+2, c+2).
    close(ops.maxPool2d(counting(5), { kernelSize: 2, stride: 2, dilation: 2 }).toArray(), [13, 15, 23, 25]);
  });

  it('gradients: overlapping 3x3/2 with ceil mode and padding, dilation', () => {
    gradCheck(
      (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
      [rand64([2, 3, 6, 5], 40)],
    );
    gradCheck((x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true }), [rand64([1, 2, 6, 6], 41)]);
    gradCheck(
      (x) => ops.maxPool2d(x, { kernelSize: 2, stride: 1, dilation: 2, padding: 1 }),
      [rand64([1, 2, 5, 4], 42)],
    );
  });
});

describe('avgPool2d', () => {
  // 5x5 counting image, 3x3/2, padding 1, ceil mode (3x3 output). Window (0, 0) covers the real
  // pixels 1, 2, 6, 7 (sum 16) in a 3x3 padded window; window (0, 2) covers rows 0-1, cols 3-4
  // (4 + 5 + 9 + 10 = 28) and cols 3..5 lie within input + padding (6 columns), so its padded size
  // is still 3x3. Checked against torch 1.13's avg_pool2d.
  const opts = { kernelSize: 3, stride: 2, padding: 1, ceilMode: true };

  it('countIncludePad true divides by the padded window', () => {
    const y = ops.avgPool2d(counting(5), opts).toArray();
    close([y[0], y[2]], [16 / 9, 28 / 9]);
  });

  it('countIncludePad false divides by the real pixels', () => {
    const y = ops.avgPool2d(counting(5), { ...opts, countIncludePad: false }).toArray();
    close([y[0], y[2], y[4]], [16 / 4, 28 / 4, 13]);
  });

  it('a ceil-mode window running past the padded edge is clipped there, even counting padding', () => {
    // 6x6, 3x3/2, no padding, ceil mode: 3 windows starting at 0, 2, 4; the last covers only
    // columns 4, 5 (column 6 is past input + padding), so it divides by 2 per axis, not 3.
    // Window (0, 2): rows 0-2, cols 4-5 -> (5 + 6 + 11 + 12 + 17 + 18) / 6 = 11.5 either way.
    const x = counting(6);
    for (const countIncludePad of [true, false]) {
      const y = ops.avgPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true, countIncludePad });
      assert.deepEqual(y.shape, [1, 1, 3, 3]);
      close([y.toArray()[2], y.toArray()[8]], [69 / 6, (29 + 30 + 35 + 36) / 4]);
    }
  });

  it('divisorOverride replaces every divisor', () => {
    // 4x4 counting image, 2x2 blocks: sums 14, 22, 46, 54 divided by 2 (negative also allowed, as PyTorch).
    close(ops.avgPool2d(counting(4), { kernelSize: 2, divisorOverride: 2 }).toArray(), [7, 11, 23, 27]);
    close(ops.avgPool2d(counting(4), { kernelSize: 2, divisorOverride: -1 }).toArray(), [-14, -22, -46, -54]);
  });

  it('gradients: both countIncludePad settings with ceil mode and padding, and divisorOverride', () => {
    for (const countIncludePad of [true, false]) {
      gradCheck(
        (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad }),
        [rand64([2, 2, 6, 5], 50)],
      );
      gradCheck(
        (x) => ops.avgPool2d(x, { kernelSize: [3, 2], stride: [2, 3], ceilMode: true, countIncludePad }),
        [rand64([1, 2, 6, 7], 51)],
      );
    }
    gradCheck(
      (x) => ops.avgPool2d(x, { kernelSize: 2, stride: 1, padding: 1, divisorOverride: 3 }),
      [rand64([1, 2, 4, 3], 52)],
    );
  });
});

describe('adaptiveAvgPool2d', () => {
  it('5x7 -> 3x2 uses PyTorch bins [floor(i*in/out), ceil((i+1)*in/out))', () => {
    // Rows (5 -> 3): [0, 2), [1, 4), [3, 5). Columns (7 -> 2): [0, 4), [3, 7). Overlapping bins.
    const x = ops.arange(0, 35, 1, { dtype: 'float64' }).view([1, 1, 5, 7]);
    const rows = [
      [0, 2],
      [1, 4],
      [3, 5],
    ];
    const cols = [
      [0, 4],
      [3, 7],
    ];
    const expected: number[] = [];
    for (const [r0, r1] of rows) {
      for (const [c0, c1] of cols) {
        let s = 0;
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) s += 7 * r + c;
        expected.push(s / ((r1 - r0) * (c1 - c0)));
      }
    }
    close(ops.adaptiveAvgPool2d(x, [3, 2]).toArray(), expected);
    // First bin by hand: (0+1+2+3 + 7+8+9+10) / 8 = 5 (torch 1.13 gives 5 too).
    assert.equal(expected[0], 5);
  });

  it('output 1x1 is the global mean; equal sizes are the identity', () => {
    const x = rand64([2, 3, 4, 5], 60, false);
    close(ops.adaptiveAvgPool2d(x, 1).toArray(), ops.mean(x, [2, 3]).toArray());
    close(ops.adaptiveAvgPool2d(x, [4, 5]).toArray(), x.toArray());
  });

  it('gradients: shrinking with non-divisible sizes and growing', () => {
    gradCheck((x) => ops.adaptiveAvgPool2d(x, [3, 2]), [rand64([2, 2, 5, 7], 61)]);
    gradCheck((x) => ops.adaptiveAvgPool2d(x, [5, 4]), [rand64([1, 2, 3, 3], 62)]);
  });
});

describe('pooling shapes, costs and the meta backend', () => {
  it("GoogLeNet's ceil-mode 3x3/2 pools: 112 -> 56 -> 28 -> 14 -> 7 (floor mode would give 55)", () => {
    for (const [from, to] of [
      [112, 56],
      [56, 28],
      [28, 14],
      [14, 7],
    ]) {
      assert.deepEqual(
        ops.pool2dGeometry('maxPool2d', [1, 64, from, from], { kernelSize: 3, stride: 2, ceilMode: true }).outH,
        to,
      );
    }
    assert.equal(ops.pool2dGeometry('maxPool2d', [1, 64, 112, 112], { kernelSize: 3, stride: 2 }).outH, 55);
  });

  it('ceil mode drops a last window that would start in the right padding', () => {
    // 5 wide, kernel 2, stride 2, padding 1: ceil((5 + 2 - 2) / 2) + 1 = 4 windows, but the 4th
    // would start at 6 - 1 = 5, past the input; PyTorch keeps 3.
    assert.equal(
      ops.windowCount({ size: 5, kernel: 2, stride: 2, padBefore: 1, padAfter: 1, dilation: 1, ceilMode: true }),
      3,
    );
    assert.deepEqual(
      ops.maxPool2d(counting(5), { kernelSize: 2, stride: 2, padding: 1, ceilMode: true }).shape,
      [1, 1, 3, 3],
    );
  });

  it('the meta backend gives the same shapes as the ref backend', () => {
    const x = ops.zeros([2, 3, 9, 8]);
    const m = ops.zeros([2, 3, 9, 8], { backend: 'meta' });
    const pools: ((t: Tensor) => Tensor)[] = [
      (t) => ops.maxPool2d(t, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
      (t) => ops.avgPool2d(t, { kernelSize: [3, 2], stride: 2, ceilMode: true, countIncludePad: false }),
      (t) => ops.adaptiveAvgPool2d(t, [4, 3]),
    ];
    for (const pool of pools) assert.deepEqual(pool(m).shape, pool(x).shape);
  });

  it('accepts 3-D [C, H, W] input', () => {
    const x = counting(4).view([1, 4, 4]);
    assert.deepEqual(ops.maxPool2d(x, { kernelSize: 2 }).shape, [1, 2, 2]);
    close(ops.avgPool2d(x, { kernelSize: 2 }).toArray(), [3.5, 5.5, 11.5, 13.5]);
    assert.deepEqual(ops.adaptiveAvgPool2d(x, 1).shape, [1, 1, 1]);
  });

  it('report the op with zero MACs', () => {
    const costs: [string, number, number][] = [];
    traceOps(
      (c) => costs.push([c.op, c.macs, c.output.size]),
      () => {
        const x = ops.zeros([1, 2, 8, 8], { backend: 'meta' });
        ops.maxPool2d(x, { kernelSize: 2 });
        ops.avgPool2d(x, { kernelSize: 2 });
        ops.adaptiveAvgPool2d(x, 1);
      },
    );
    assert.deepEqual(costs, [
      ['maxPool2d', 0, 32],
      ['avgPool2d', 0, 32],
      ['adaptiveAvgPool2d', 0, 2],
    ]);
  });
});

describe('pooling errors', () => {
  const x = ops.zeros([1, 2, 5, 5]);
  it('padding more than half the kernel (PyTorch rule)', () => {
    throwsWith(
      () => ops.maxPool2d(x, { kernelSize: 3, padding: 2 }),
      ArgumentError,
      /^maxPool2d: padding 2 is more than half the kernel 3x3 \(at most 1x1, as in PyTorch\)$/,
    );
    throwsWith(
      () => ops.avgPool2d(x, { kernelSize: [2, 4], padding: [1, 3] }),
      ArgumentError,
      /avgPool2d: padding \[1, 3\] is more than half the kernel 2x4/,
    );
  });
  it('non-positive kernel, stride or dilation, negative padding', () => {
    throwsWith(
      () => ops.maxPool2d(x, { kernelSize: 2, stride: 0 }),
      ArgumentError,
      /maxPool2d: stride must be positive integers, got 0/,
    );
    throwsWith(
      () => ops.avgPool2d(x, { kernelSize: [0, 2] }),
      ArgumentError,
      /avgPool2d: kernelSize must be positive integers, got \[0, 2\]/,
    );
    throwsWith(
      () => ops.maxPool2d(x, { kernelSize: 2, dilation: 0 }),
      ArgumentError,
      /maxPool2d: dilation must be positive integers, got 0/,
    );
    throwsWith(
      () => ops.maxPool2d(x, { kernelSize: 2, padding: -1 }),
      ArgumentError,
      /maxPool2d: padding must be non-negative integers, got -1/,
    );
  });
  it('an output of zero size', () => {
    throwsWith(
      () => ops.avgPool2d(x, { kernelSize: 7 }),
      ShapeError,
      /^avgPool2d: output would be 0x0: kernel 7x7 does not fit the input 5x5 padded by 0x0$/,
    );
    throwsWith(
      () => ops.maxPool2d(x, { kernelSize: 3, dilation: [1, 3] }),
      ShapeError,
      /maxPool2d: output would be 1x0: kernel 3x3 dilated by 1x3 does not fit the input 5x5/,
    );
  });
  it('rank and empty images', () => {
    throwsWith(
      () => ops.maxPool2d(ops.zeros([2, 5, 5, 1, 1]), { kernelSize: 2 }),
      ShapeError,
      /maxPool2d: input must be 4-D \[batch, channels, height, width\] \(or 3-D without batch\), got \[2, 5, 5, 1, 1\]/,
    );
    throwsWith(
      () => ops.adaptiveAvgPool2d(ops.zeros([5, 5]), 1),
      ShapeError,
      /adaptiveAvgPool2d: input must be 4-D .*got \[5, 5\]/,
    );
    throwsWith(
      () => ops.adaptiveAvgPool2d(ops.zeros([1, 2, 0, 3]), 1),
      ShapeError,
      /adaptiveAvgPool2d: input has an empty image \(0x3\)/,
    );
  });
  it('average pooling arguments: dilation, divisorOverride; adaptive outputSize', () => {
    throwsWith(
      () => ops.avgPool2d(x, { kernelSize: 2, dilation: 2 }),
      ArgumentError,
      /avgPool2d: average pooling has no dilation \(as in PyTorch\), got dilation 2/,
    );
    throwsWith(
      () => ops.avgPool2d(x, { kernelSize: 2, divisorOverride: 0 }),
      ArgumentError,
      /avgPool2d: divisorOverride must be a non-zero integer, got 0/,
    );
    throwsWith(
      () => ops.adaptiveAvgPool2d(x, [0, 2]),
      ArgumentError,
      /adaptiveAvgPool2d: outputSize must be positive integers, got \[0, 2\]/,
    );
  });
});
