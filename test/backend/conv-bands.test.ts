/**
 * The ref conv kernels build the column matrix a band of output rows at a time (about 2^18
 * entries per band). The op tests use small images that fit in one band; these geometries need
 * several bands, or one output row per band, and are checked in float64 against the definition.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Conv2dGeometry } from '../../src/backend/backend.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { Generator } from '../../src/core/random.js';
import { conv2dGeometry, type Conv2dOptions } from '../../src/ops/conv2d.js';

function random(size: number, seed: number): Float64Array {
  const g = new Generator(seed);
  return Float64Array.from({ length: size }, () => g.uniform() * 2 - 1);
}

/**
 * Forward output, input gradient and weight gradient straight from the definition
 * y[n, o, oy, ox] = b[o] + sum over c, ky, kx of x[n, grp*icg + c, iy, ix] * w[o, c, ky, kx]
 * with iy = oy*sh - top + ky*dh, ix = ox*sw - left + kx*dw (zero outside x).
 */
function naive(g: Conv2dGeometry, x: Float64Array, w: Float64Array, b: Float64Array, gy: Float64Array) {
  const icg = g.inChannels / g.groups;
  const ocg = g.outChannels / g.groups;
  const y = new Float64Array(gy.length);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  for (let n = 0; n < g.batch; n++) {
    for (let o = 0; o < g.outChannels; o++) {
      const grp = Math.floor(o / ocg);
      for (let oy = 0; oy < g.outH; oy++) {
        for (let ox = 0; ox < g.outW; ox++) {
          const yAt = ((n * g.outChannels + o) * g.outH + oy) * g.outW + ox;
          let s = b[o];
          for (let c = 0; c < icg; c++) {
            for (let ky = 0; ky < g.kernelH; ky++) {
              for (let kx = 0; kx < g.kernelW; kx++) {
                const iy = oy * g.strideH - g.padTop + ky * g.dilationH;
                const ix = ox * g.strideW - g.padLeft + kx * g.dilationW;
                if (iy < 0 || iy >= g.inH || ix < 0 || ix >= g.inW) continue;
                const xAt = ((n * g.inChannels + grp * icg + c) * g.inH + iy) * g.inW + ix;
                const wAt = ((o * icg + c) * g.kernelH + ky) * g.kernelW + kx;
                s += x[xAt] * w[wAt];
                gx[xAt] += gy[yAt] * w[wAt];
                gw[wAt] += gy[yAt] * x[xAt];
              }
            }
          }
          y[yAt] = s;
        }
      }
    }
  }
  return { y, gx, gw };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > 1e-10)
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

function check(xShape: number[], wShape: number[], opts: Conv2dOptions, seed: number): void {
  const g = conv2dGeometry(xShape, wShape, opts);
  const x = random(
    xShape.reduce((p, d) => p * d, 1),
    seed,
  );
  const w = random(
    wShape.reduce((p, d) => p * d, 1),
    seed + 1,
  );
  const b = random(g.outChannels, seed + 2);
  const gy = random(g.batch * g.outChannels * g.outH * g.outW, seed + 3);
  const expected = naive(g, x, w, b, gy);
  const put = (v: Float64Array) => refBackend.write(v, 'float64');
  const read = (s: ReturnType<typeof put>) => refBackend.read(s, []);
  const k = refBackend.kernels;
  close(read(k.conv2d({ x: put(x), weight: put(w), bias: put(b), geometry: g })), expected.y, 'forward');
  close(read(k.conv2dBackwardData({ gy: put(gy), weight: put(w), geometry: g })), expected.gx, 'backward-data');
  close(
    read(k.conv2dBackwardWeight({ gy: put(gy), x: put(x), geometry: g, withBias: false }).weight),
    expected.gw,
    'backward-weight',
  );
}

describe('ref conv kernels over several column bands', () => {
  it('3x3 padding 1 on 64x64: 16*9*64 entries per output row, so three bands of up to 28 rows', () => {
    check([2, 16, 64, 64], [4, 16, 3, 3], { padding: 1 }, 1);
  });

  it('one output row per band, with groups, stride, dilation and asymmetric padding', () => {
    // 128 channels * 5*5 taps * 92 output columns = 294,400 entries: more than one band's worth.
    check([1, 128, 9, 184], [4, 64, 5, 5], { groups: 2, stride: 2, dilation: [1, 2], padding: [2, 1, 4, 3] }, 10);
  });

  it('1x1 stride 2 (no shortcut through the image): 1000*20 entries per row, bands of 13 and 7 rows', () => {
    check([1, 1000, 40, 40], [3, 1000, 1, 1], { stride: 2 }, 20);
  });
});
