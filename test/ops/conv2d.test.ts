import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { traceOps } from '../../src/core/trace.js';
import { ArgumentError, ShapeError } from '../../src/core/errors.js';
import type { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { gradCheck, rand64 } from '../helpers/gradcheck.js';

interface NaiveOptions {
  stride?: [number, number];
  /** [top, bottom, left, right] */
  pad?: [number, number, number, number];
  dilation?: [number, number];
  groups?: number;
}

/**
 * Direct convolution straight from the definition (seven nested loops), independent of the
 * im2col + gemm kernel: y[n, o, oy, ox] = b[o] + sum over c, ky, kx of
 * x[n, g*icg + c, oy*sh - top + ky*dh, ox*sw - left + kx*dw] * w[o, c, ky, kx], zero outside x.
 */
function naiveConv(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  o: NaiveOptions = {},
): { values: number[]; shape: number[] } {
  const [sh, sw] = o.stride ?? [1, 1];
  const [top, bottom, left, right] = o.pad ?? [0, 0, 0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const groups = o.groups ?? 1;
  const [N, C, H, W] = x.shape;
  const [O, icg, KH, KW] = w.shape;
  const OH = Math.floor((H + top + bottom - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + left + right - dw * (KW - 1) - 1) / sw) + 1;
  const X = x.toArray();
  const Wv = w.toArray();
  const B = b?.toArray();
  const ocg = O / groups;
  const values: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let oc = 0; oc < O; oc++) {
      const grp = Math.floor(oc / ocg);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let s = B ? B[oc] : 0;
          for (let c = 0; c < icg; c++) {
            for (let ky = 0; ky < KH; ky++) {
              for (let kx = 0; kx < KW; kx++) {
                const iy = oy * sh - top + ky * dh;
                const ix = ox * sw - left + kx * dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += X[((n * C + grp * icg + c) * H + iy) * W + ix] * Wv[((oc * icg + c) * KH + ky) * KW + kx];
              }
            }
          }
          values.push(s);
        }
      }
    }
  }
  return { values, shape: [N, O, OH, OW] };
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void => {
  assert.equal(a.length, b.length, 'length');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

const conv =
  (opts: ops.Conv2dOptions, bias = true) =>
  (x: Tensor, w: Tensor, b?: Tensor) =>
    ops.conv2d(x, w, bias ? b : null, opts);

describe('conv2d forward', () => {
  it('matches a hand-computed 3x3 input with a 2x2 kernel', () => {
    // x = 1..9 row-major, w = [[1, 0], [0, -1]]: y = x[i][j] - x[i+1][j+1] = -4 everywhere, plus bias 0.5.
    const x = ops.arange(1, 10).view([1, 1, 3, 3]);
    const y = ops.conv2d(
      x,
      ops.tensor([
        [
          [
            [1, 0],
            [0, -1],
          ],
        ],
      ]),
      ops.tensor([0.5]),
    );
    assert.deepEqual(y.shape, [1, 1, 2, 2]);
    close(y.toArray(), [-3.5, -3.5, -3.5, -3.5], 0);
  });

  const cases: [string, number[], number[], ops.Conv2dOptions, NaiveOptions][] = [
    ['plain 3x3', [2, 3, 6, 5], [4, 3, 3, 3], {}, {}],
    [
      'stride 2, padding 1',
      [2, 3, 7, 6],
      [4, 3, 3, 3],
      { stride: 2, padding: 1 },
      { stride: [2, 2], pad: [1, 1, 1, 1] },
    ],
    [
      '[h, w] padding, stride [1, 2]',
      [1, 2, 5, 6],
      [3, 2, 3, 2],
      { stride: [1, 2], padding: [2, 1] },
      { stride: [1, 2], pad: [2, 2, 1, 1] },
    ],
    ['asymmetric padding', [1, 2, 5, 6], [3, 2, 3, 3], { padding: [0, 2, 1, 0] }, { pad: [0, 2, 1, 0] }],
    ['dilation 2', [1, 2, 7, 8], [3, 2, 3, 3], { dilation: 2, padding: 1 }, { dilation: [2, 2], pad: [1, 1, 1, 1] }],
    ['groups 2', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2, padding: 1 }, { groups: 2, pad: [1, 1, 1, 1] }],
    ['depthwise', [1, 3, 5, 4], [3, 1, 3, 3], { groups: 3, stride: 2 }, { groups: 3, stride: [2, 2] }],
    ['1x1 pointwise', [2, 5, 4, 3], [6, 5, 1, 1], {}, {}],
    ['1x1 stride 2 (ResNet downsample)', [1, 4, 5, 5], [8, 4, 1, 1], { stride: 2 }, { stride: [2, 2] }],
    [
      "'same' with an even kernel (extra padding bottom/right)",
      [1, 2, 4, 5],
      [2, 2, 4, 2],
      { padding: 'same' },
      { pad: [1, 2, 0, 1] },
    ],
    [
      "'same' with dilation 2",
      [1, 2, 5, 5],
      [2, 2, 3, 3],
      { padding: 'same', dilation: 2 },
      { pad: [2, 2, 2, 2], dilation: [2, 2] },
    ],
    ["'valid'", [1, 2, 5, 5], [2, 2, 3, 3], { padding: 'valid' }, {}],
  ];
  for (const [name, xs, ws, opts, naive] of cases) {
    it(`matches a direct 7-loop convolution: ${name}`, () => {
      const x = rand64(xs, 1, false);
      const w = rand64(ws, 2, false);
      const b = rand64([ws[0]], 3, false);
      const expected = naiveConv(x, w, b, naive);
      const y = ops.conv2d(x, w, b, opts);
      assert.deepEqual(y.shape, expected.shape);
      close(y.toArray(), expected.values, 1e-12);
      // float32 runs the same code on Float32Array; results agree to float32 precision.
      const y32 = ops.conv2d(ops.cast(x, 'float32'), ops.cast(w, 'float32'), ops.cast(b, 'float32'), opts);
      assert.equal(y32.dtype, 'float32');
      close(y32.toArray(), expected.values, 1e-5);
    });
  }

  it('accepts a 3-D [C, H, W] input', () => {
    const x = rand64([2, 4, 4], 4, false);
    const w = rand64([3, 2, 3, 3], 5, false);
    const y = ops.conv2d(x, w, null, { padding: 1 });
    assert.deepEqual(y.shape, [3, 4, 4]);
    close(y.toArray(), naiveConv(x.view([1, 2, 4, 4]), w, null, { pad: [1, 1, 1, 1] }).values, 1e-12);
  });
});

describe('conv2d gradients (float64 central differences)', () => {
  it('groups 2 with bias and padding', () => {
    gradCheck(conv({ groups: 2, padding: 1 }), [rand64([2, 4, 5, 6], 10), rand64([4, 2, 3, 3], 11), rand64([4], 12)]);
  });
  it('dilation 2 with stride 2', () => {
    gradCheck(conv({ dilation: 2, stride: 2, padding: 1 }), [
      rand64([1, 3, 7, 6], 13),
      rand64([2, 3, 3, 3], 14),
      rand64([2], 15),
    ]);
  });
  it('asymmetric padding, stride [2, 1], rectangular kernel', () => {
    gradCheck(conv({ padding: [1, 0, 2, 1], stride: [2, 1] }), [
      rand64([2, 2, 5, 6], 16),
      rand64([3, 2, 3, 2], 17),
      rand64([3], 18),
    ]);
  });
  it('1x1 kernels on 1x1 maps, and 1x1 pointwise / strided on larger maps', () => {
    gradCheck(conv({}), [rand64([2, 3, 1, 1], 19), rand64([4, 3, 1, 1], 20), rand64([4], 21)]);
    gradCheck(conv({}), [rand64([2, 3, 3, 4], 22), rand64([2, 3, 1, 1], 23), rand64([2], 24)]);
    gradCheck(conv({ stride: 2 }, false), [rand64([1, 2, 5, 5], 25), rand64([3, 2, 1, 1], 26)]);
  });
  it("'same' padding with an even kernel", () => {
    gradCheck(conv({ padding: 'same' }, false), [rand64([1, 2, 4, 5], 27), rand64([2, 2, 2, 4], 28)]);
  });
  it('only the inputs that need a gradient get one (frozen weight, trainable bias)', () => {
    const x = rand64([1, 2, 4, 4], 29, false);
    const w = rand64([3, 2, 3, 3], 30, false);
    const b = rand64([3], 31);
    ops.sum(ops.conv2d(x, w, b)).backward();
    assert.equal(w.grad, null);
    assert.equal(x.grad, null);
    // d(sum y)/d b[o] is the number of output pixels per channel times the batch: 2 x 2.
    close(b.grad?.toArray() ?? [], [4, 4, 4], 1e-12);
  });
});

describe('conv2d shapes, costs and the meta backend', () => {
  const shapeOf = (xs: number[], ws: number[], opts?: ops.Conv2dOptions, backend = 'ref'): readonly number[] =>
    ops.conv2d(ops.zeros(xs, { backend }), ops.zeros(ws, { backend }), null, opts).shape;

  it('AlexNet conv1: 227 -> 55 with 11x11 stride 4 (paper), 224 -> 55 with padding 2 (torchvision)', () => {
    assert.deepEqual(shapeOf([1, 3, 227, 227], [96, 3, 11, 11], { stride: 4 }, 'meta'), [1, 96, 55, 55]);
    assert.deepEqual(shapeOf([1, 3, 224, 224], [64, 3, 11, 11], { stride: 4, padding: 2 }, 'meta'), [1, 64, 55, 55]);
  });

  it("'same' keeps the size and the geometry puts the odd padding bottom/right", () => {
    const g = ops.conv2dGeometry([1, 2, 9, 10], [4, 2, 4, 5], { padding: 'same', dilation: [1, 2] });
    // H: total 3 -> 1 top, 2 bottom; W: dilated span 9, total 8 -> 4 and 4.
    assert.deepEqual([g.padTop, g.padBottom, g.padLeft, g.padRight, g.outH, g.outW], [1, 2, 4, 4, 9, 10]);
  });

  it('the meta backend gives the same shapes as the ref backend', () => {
    const configs: [number[], number[], ops.Conv2dOptions][] = [
      [[2, 4, 9, 7], [6, 2, 3, 3], { groups: 2, stride: 2, padding: [1, 0, 2, 1] }],
      [[1, 3, 10, 10], [5, 3, 3, 2], { dilation: 2, padding: 'same' }],
      [[3, 8, 5, 5], [4, 8, 1, 1], {}],
    ];
    for (const [xs, ws, opts] of configs) assert.deepEqual(shapeOf(xs, ws, opts, 'meta'), shapeOf(xs, ws, opts));
  });

  it('reports MACs without the bias, and its window: ResNet stem 3->64 7x7/2 on 224 is 118,013,952', () => {
    const costs: { op: string; macs: number }[] = [];
    const windows: unknown[] = [];
    traceOps(
      (c) => costs.push(c) && windows.push(c.window),
      () =>
        ops.conv2d(
          ops.zeros([1, 3, 224, 224], { backend: 'meta' }),
          ops.zeros([64, 3, 7, 7], { backend: 'meta' }),
          ops.zeros([64], { backend: 'meta' }),
          { stride: 2, padding: 3 },
        ),
    );
    // 64 output channels x 112 x 112 pixels x 3 x 7 x 7 taps.
    assert.deepEqual(
      costs.map((c) => [c.op, c.macs]),
      [['conv2d', 64 * 112 * 112 * 3 * 49]],
    );
    assert.deepEqual(windows, [{ kernel: [7, 7], stride: [2, 2], padding: [3, 3], dilation: [1, 1] }]);
    assert.equal(64 * 112 * 112 * 3 * 49, 118_013_952);
    // Grouped: each output channel sees only its group's inputs.
    const g = ops.conv2dGeometry([2, 8, 6, 6], [8, 2, 3, 3], { groups: 4, padding: 1 });
    assert.equal(ops.conv2dMacs(g), 2 * 8 * 36 * 2 * 9);
  });
});

describe('conv2d errors', () => {
  const z = (shape: number[]) => ops.zeros(shape);
  const throwsWith = (fn: () => unknown, kind: typeof ShapeError | typeof ArgumentError, message: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof kind && message.test(e.message));
  };

  it('channel mismatch names both counts and the groups', () => {
    throwsWith(
      () => ops.conv2d(z([1, 64, 5, 5]), z([8, 128, 3, 3])),
      ShapeError,
      /^conv2d: input has 64 channels, weight expects 128 \(= 128 per group x 1 groups\)$/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 6, 5, 5]), z([4, 2, 3, 3]), null, { groups: 2 }),
      ShapeError,
      /^conv2d: input has 6 channels, weight expects 4 \(= 2 per group x 2 groups\)$/,
    );
  });

  it('channels that do not divide by groups', () => {
    throwsWith(
      () => ops.conv2d(z([1, 3, 5, 5]), z([4, 1, 3, 3]), null, { groups: 3 }),
      ShapeError,
      /conv2d: weight has 4 output channels, which does not divide by 3 groups/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 6, 5, 5]), z([4, 1, 3, 3]), null, { groups: 4 }),
      ShapeError,
      /conv2d: input has 6 channels, which does not divide by 4 groups/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 4, 5, 5]), z([4, 1, 3, 3]), null, { groups: 0 }),
      ArgumentError,
      /conv2d: groups must be a positive integer, got 0/,
    );
  });

  it('ranks of input and weight', () => {
    throwsWith(
      () => ops.conv2d(z([4, 5, 5]).view([20, 5]), z([4, 1, 3, 3])),
      ShapeError,
      /conv2d: input must be 4-D \[batch, channels, height, width\] \(or 3-D without batch\), got \[20, 5\]/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 2, 5, 5]), z([4, 2, 3])),
      ShapeError,
      /conv2d: weight must be 4-D .*got \[4, 2, 3\]/,
    );
  });

  it('bias shape', () => {
    throwsWith(
      () => ops.conv2d(z([1, 2, 5, 5]), z([4, 2, 3, 3]), z([3])),
      ShapeError,
      /conv2d: bias must have shape \[4\] \(one per output channel\), got \[3\]/,
    );
  });

  it('a kernel larger than the padded input', () => {
    throwsWith(
      () => ops.conv2d(z([1, 3, 5, 5]), z([2, 3, 11, 11])),
      ShapeError,
      /^conv2d: kernel 11x11 \(dilated 11x11\) is larger than the padded input 5x5$/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 3, 6, 6]), z([2, 3, 3, 3]), null, { dilation: 3, padding: [0, 1] }),
      ShapeError,
      /conv2d: kernel 3x3 \(dilated 7x7\) is larger than the padded input 6x8/,
    );
  });

  it('stride, dilation and padding values', () => {
    throwsWith(
      () => ops.conv2d(z([1, 1, 5, 5]), z([1, 1, 3, 3]), null, { stride: 0 }),
      ArgumentError,
      /conv2d: stride must be positive integers, got 0/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 1, 5, 5]), z([1, 1, 3, 3]), null, { stride: [1, -2] }),
      ArgumentError,
      /conv2d: stride must be positive integers, got \[1, -2\]/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 1, 5, 5]), z([1, 1, 3, 3]), null, { dilation: 1.5 }),
      ArgumentError,
      /conv2d: dilation must be positive integers, got 1.5/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 1, 5, 5]), z([1, 1, 3, 3]), null, { padding: -1 }),
      ArgumentError,
      /conv2d: padding must be a non-negative integer, .*got -1/,
    );
    throwsWith(
      () => ops.conv2d(z([1, 1, 5, 5]), z([1, 1, 3, 3]), null, { stride: 2, padding: 'same' }),
      ArgumentError,
      /conv2d: padding 'same' needs stride 1 \(as in PyTorch\), got stride \[2, 2\]/,
    );
  });

  it('operands on different dtypes', () => {
    assert.throws(
      () => ops.conv2d(z([1, 1, 3, 3]), ops.zeros([1, 1, 1, 1], { dtype: 'float64' })),
      /conv2d: operands have different dtypes/,
    );
  });
});
