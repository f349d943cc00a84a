/**
 * Reference 2-D convolution through im2col + gemm. For each image the column matrix `col` has one
 * row per (input channel, kernel row, kernel column) and one column per output pixel, holding the
 * input value that kernel tap sees there (0 in padding). Group g then is a plain matrix product:
 *
 *   forward:          y_g  [oc_g, oh*ow]        = W_g [oc_g, ic_g*kh*kw] @ col_g [ic_g*kh*kw, oh*ow]
 *   backward-data:    dcol_g                    = W_g^T @ gy_g, then col2im adds dcol back to pixels
 *   backward-weight:  dW_g [oc_g, ic_g*kh*kw]  += gy_g @ col_g^T, summed over the batch
 *
 * Rows of group g are contiguous in col (channels are the outer index), so a group is an offset.
 */
import { allocFloat, dtypeOf, type FloatArray } from '../../core/dtype.js';
import type { Conv2dGeometry, KernelSpecs } from '../backend.js';
import { gemm } from './gemm.js';
import { alloc, allocLike, data, type RefStorage } from './storage.js';

/** Sizes every kernel below derives from the geometry. */
function dims(g: Conv2dGeometry) {
  const taps = g.kernelH * g.kernelW;
  const inPerGroup = g.inChannels / g.groups;
  const outPerGroup = g.outChannels / g.groups;
  return {
    taps, inPerGroup, outPerGroup,
    pixels: g.outH * g.outW,
    imageSize: g.inChannels * g.inH * g.inW,
    outImageSize: g.outChannels * g.outH * g.outW,
    /** Length of one row of a group's weight matrix. */
    groupK: inPerGroup * taps,
  };
}

/** A 1x1, stride-1, unpadded convolution's column matrix is the image itself: no copy needed. */
function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1
    && g.padTop === 0 && g.padBottom === 0 && g.padLeft === 0 && g.padRight === 0;
}

/**
 * For one kernel tap (ky, kx) and output row/column index, the input row/column it reads, or -1
 * in padding. Precomputed per tap so the inner loops stay simple.
 */
function sourceIndex(outSize: number, inSize: number, stride: number, pad: number, dilation: number, tap: number): Int32Array {
  const map = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const i = o * stride - pad + tap * dilation;
    map[o] = i >= 0 && i < inSize ? i : -1;
  }
  return map;
}

function sourceMaps(g: Conv2dGeometry): { rows: Int32Array[]; cols: Int32Array[] } {
  return {
    rows: Array.from({ length: g.kernelH }, (_, ky) => sourceIndex(g.outH, g.inH, g.strideH, g.padTop, g.dilationH, ky)),
    cols: Array.from({ length: g.kernelW }, (_, kx) => sourceIndex(g.outW, g.inW, g.strideW, g.padLeft, g.dilationW, kx)),
  };
}

/** Fills col [inChannels*kh*kw, outH*outW] from the image at x[offset]. */
function im2col(g: Conv2dGeometry, x: FloatArray, offset: number, col: FloatArray): void {
  const { rows, cols } = sourceMaps(g);
  const plane = g.inH * g.inW;
  let at = 0;
  for (let c = 0; c < g.inChannels; c++) {
    const base = offset + c * plane;
    for (let ky = 0; ky < g.kernelH; ky++) {
      for (let kx = 0; kx < g.kernelW; kx++) {
        const colMap = cols[kx];
        for (let oy = 0; oy < g.outH; oy++) {
          const iy = rows[ky][oy];
          if (iy < 0) {
            col.fill(0, at, at + g.outW);
            at += g.outW;
            continue;
          }
          const rowBase = base + iy * g.inW;
          for (let ox = 0; ox < g.outW; ox++) {
            const ix = colMap[ox];
            col[at++] = ix < 0 ? 0 : x[rowBase + ix];
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: adds every entry of col to the input pixel it came from, at gx[offset]. */
function col2im(g: Conv2dGeometry, col: FloatArray, gx: FloatArray, offset: number): void {
  const { rows, cols } = sourceMaps(g);
  const plane = g.inH * g.inW;
  let at = 0;
  for (let c = 0; c < g.inChannels; c++) {
    const base = offset + c * plane;
    for (let ky = 0; ky < g.kernelH; ky++) {
      for (let kx = 0; kx < g.kernelW; kx++) {
        const colMap = cols[kx];
        for (let oy = 0; oy < g.outH; oy++) {
          const iy = rows[ky][oy];
          if (iy < 0) {
            at += g.outW;
            continue;
          }
          const rowBase = base + iy * g.inW;
          for (let ox = 0; ox < g.outW; ox++, at++) {
            const ix = colMap[ox];
            if (ix >= 0) gx[rowBase + ix] += col[at];
          }
        }
      }
    }
  }
}

/** The column matrix of image n: a scratch buffer filled by im2col, or the image itself for 1x1. */
function columnsOf(g: Conv2dGeometry, x: FloatArray, n: number, scratch: FloatArray): { col: FloatArray; colOffset: number } {
  const offset = n * g.inChannels * g.inH * g.inW;
  if (isPointwise(g)) return { col: x, colOffset: offset };
  im2col(g, x, offset, scratch);
  return { col: scratch, colOffset: 0 };
}

function scratchFor(g: Conv2dGeometry, like: FloatArray): FloatArray {
  return allocFloat(dtypeOf(like), isPointwise(g) ? 0 : g.inChannels * g.kernelH * g.kernelW * g.outH * g.outW);
}

export function conv2d({ x, weight, bias, geometry: g }: KernelSpecs['conv2d']['args']): RefStorage {
  const X = data(x);
  const W = data(weight);
  const { pixels, outImageSize, outPerGroup, groupK } = dims(g);
  const out = allocLike(x, g.batch * outImageSize);
  const Y = out.data;
  const scratch = scratchFor(g, X);
  for (let n = 0; n < g.batch; n++) {
    const { col, colOffset } = columnsOf(g, X, n, scratch);
    for (let grp = 0; grp < g.groups; grp++) {
      gemm({
        m: outPerGroup, n: pixels, k: groupK,
        a: W, aOffset: grp * outPerGroup * groupK, transA: false,
        b: col, bOffset: colOffset + grp * groupK * pixels, transB: false,
        c: Y, cOffset: n * outImageSize + grp * outPerGroup * pixels, accumulate: false,
      });
    }
    if (bias) {
      const B = data(bias);
      for (let oc = 0; oc < g.outChannels; oc++) {
        const start = n * outImageSize + oc * pixels;
        for (let p = start; p < start + pixels; p++) Y[p] += B[oc];
      }
    }
  }
  return out;
}

export function conv2dBackwardData({ gy, weight, geometry: g }: KernelSpecs['conv2dBackwardData']['args']): RefStorage {
  const GY = data(gy);
  const W = data(weight);
  const { pixels, imageSize, outImageSize, outPerGroup, groupK } = dims(g);
  const out = allocLike(gy, g.batch * imageSize);
  const GX = out.data;
  const pointwise = isPointwise(g);
  const dcol = scratchFor(g, GY);
  for (let n = 0; n < g.batch; n++) {
    // For 1x1 convolutions the column gradient is the input gradient; write it there directly.
    const [target, targetOffset] = pointwise ? [GX, n * imageSize] : [dcol, 0];
    for (let grp = 0; grp < g.groups; grp++) {
      gemm({
        m: groupK, n: pixels, k: outPerGroup,
        a: W, aOffset: grp * outPerGroup * groupK, transA: true,
        b: GY, bOffset: n * outImageSize + grp * outPerGroup * pixels, transB: false,
        c: target, cOffset: targetOffset + grp * groupK * pixels, accumulate: false,
      });
    }
    if (!pointwise) col2im(g, dcol, GX, n * imageSize);
  }
  return out;
}

export function conv2dBackwardWeight({ gy, x, geometry: g, withBias }: KernelSpecs['conv2dBackwardWeight']['args']): { weight: RefStorage; bias: RefStorage | null } {
  const GY = data(gy);
  const X = data(x);
  const { pixels, outImageSize, outPerGroup, groupK } = dims(g);
  const weight = allocLike(gy, g.outChannels * groupK);
  const scratch = scratchFor(g, X);
  for (let n = 0; n < g.batch; n++) {
    const { col, colOffset } = columnsOf(g, X, n, scratch);
    for (let grp = 0; grp < g.groups; grp++) {
      gemm({
        m: outPerGroup, n: groupK, k: pixels,
        a: GY, aOffset: n * outImageSize + grp * outPerGroup * pixels, transA: false,
        b: col, bOffset: colOffset + grp * groupK * pixels, transB: true,
        c: weight.data, cOffset: grp * outPerGroup * groupK, accumulate: true,
      });
    }
  }
  return { weight, bias: withBias ? biasGradient(g, GY) : null };
}

/** Sum of gy over batch and pixels, per output channel. */
function biasGradient(g: Conv2dGeometry, GY: FloatArray): RefStorage {
  const { pixels, outImageSize } = dims(g);
  const out = alloc(dtypeOf(GY), g.outChannels);
  for (let n = 0; n < g.batch; n++) {
    for (let oc = 0; oc < g.outChannels; oc++) {
      const start = n * outImageSize + oc * pixels;
      let s = 0;
      for (let p = start; p < start + pixels; p++) s += GY[p];
      out.data[oc] += s;
    }
  }
  return out;
}
