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
 * The column matrix is built for a band of output rows at a time (its columns are a block of the
 * pixel columns above; gemm's leading dimensions address that block in y and gy), so the band is
 * still in cache when gemm packs it and the scratch stays small: a whole 224x224 VGG image would
 * need a 115 MB column matrix. A 1x1, stride-1, unpadded convolution needs no column matrix.
 */
import { allocFloat, dtypeOf, type FloatArray } from '../../core/dtype.js';
import type { Conv2dGeometry, Kernels, KernelSpecs } from '../backend.js';
import { gemm } from './gemm.js';
import { alloc, allocLike, data, type RefStorage } from './storage.js';

/** Sizes every kernel below derives from the geometry. */
function dims(g: Conv2dGeometry) {
  const taps = g.kernelH * g.kernelW;
  const inPerGroup = g.inChannels / g.groups;
  const outPerGroup = g.outChannels / g.groups;
  return {
    taps,
    inPerGroup,
    outPerGroup,
    pixels: g.outH * g.outW,
    imageSize: g.inChannels * g.inH * g.inW,
    outImageSize: g.outChannels * g.outH * g.outW,
    /** Length of one row of a group's weight matrix. */
    groupK: inPerGroup * taps,
  };
}

/** A 1x1, stride-1, unpadded convolution's column matrix is the image itself: no copy needed. */
function isPointwise(g: Conv2dGeometry): boolean {
  return (
    g.kernelH === 1 &&
    g.kernelW === 1 &&
    g.strideH === 1 &&
    g.strideW === 1 &&
    g.padTop === 0 &&
    g.padBottom === 0 &&
    g.padLeft === 0 &&
    g.padRight === 0
  );
}

/**
 * Where one kernel tap reads along one axis: output index o reads input index o * stride + shift,
 * which lies inside the image exactly for first <= o < end (outside it reads padding, 0).
 */
interface TapRange {
  shift: number;
  first: number;
  end: number;
}

function tapRange(
  outSize: number,
  inSize: number,
  stride: number,
  pad: number,
  dilation: number,
  tap: number,
): TapRange {
  const shift = tap * dilation - pad;
  const first = Math.min(outSize, Math.max(0, Math.ceil(-shift / stride)));
  const end = Math.max(first, Math.min(outSize, Math.floor((inSize - 1 - shift) / stride) + 1));
  return { shift, first, end };
}

function tapRanges(g: Conv2dGeometry): { rows: TapRange[]; cols: TapRange[] } {
  return {
    rows: Array.from({ length: g.kernelH }, (_, ky) => tapRange(g.outH, g.inH, g.strideH, g.padTop, g.dilationH, ky)),
    cols: Array.from({ length: g.kernelW }, (_, kx) => tapRange(g.outW, g.inW, g.strideW, g.padLeft, g.dilationW, kx)),
  };
}

/** Output rows [oy0, oy1) of every image: the columns of one column-matrix chunk. */
interface Band {
  oy0: number;
  oy1: number;
}

/** Entries of one band's column matrix to aim for: 1 MiB of float32, comfortably in L2. */
const BAND_ENTRIES = 1 << 18;

/** Output rows per band: at least one; all of them when no im2col is needed. */
function bandRows(g: Conv2dGeometry): number {
  if (isPointwise(g)) return g.outH;
  const rowEntries = g.inChannels * g.kernelH * g.kernelW * g.outW;
  return Math.max(1, Math.min(g.outH, Math.floor(BAND_ENTRIES / rowEntries)));
}

function bandsOf(g: Conv2dGeometry): Band[] {
  const rows = bandRows(g);
  const bands: Band[] = [];
  for (let oy0 = 0; oy0 < g.outH; oy0 += rows) bands.push({ oy0, oy1: Math.min(g.outH, oy0 + rows) });
  return bands;
}

/**
 * Fills col [inChannels*kh*kw, band pixels] from the image at x[offset]. Each output row of one
 * tap is zeros, then a strided run of one input row, then zeros: no per-element padding test.
 */
function im2col(g: Conv2dGeometry, x: FloatArray, offset: number, band: Band, col: FloatArray): void {
  const { rows, cols } = tapRanges(g);
  const { outW, inW, strideH, strideW } = g;
  const plane = g.inH * inW;
  let at = 0;
  for (let c = 0; c < g.inChannels; c++) {
    for (const row of rows) {
      for (const { shift, first, end } of cols) {
        for (let oy = band.oy0; oy < band.oy1; oy++, at += outW) {
          if (oy < row.first || oy >= row.end) {
            for (let ox = 0; ox < outW; ox++) col[at + ox] = 0;
            continue;
          }
          const src = offset + c * plane + (oy * strideH + row.shift) * inW + shift;
          for (let ox = 0; ox < first; ox++) col[at + ox] = 0;
          for (let ox = first; ox < end; ox++) col[at + ox] = x[src + ox * strideW];
          for (let ox = end; ox < outW; ox++) col[at + ox] = 0;
        }
      }
    }
  }
}

/** The adjoint of im2col: adds every entry of col to the input pixel it came from, at gx[offset]. */
function col2im(g: Conv2dGeometry, col: FloatArray, band: Band, gx: FloatArray, offset: number): void {
  const { rows, cols } = tapRanges(g);
  const { outW, inW, strideH, strideW } = g;
  const plane = g.inH * inW;
  const bandSize = (band.oy1 - band.oy0) * outW;
  let at = 0;
  for (let c = 0; c < g.inChannels; c++) {
    for (const row of rows) {
      for (const { shift, first, end } of cols) {
        for (let oy = Math.max(band.oy0, row.first); oy < Math.min(band.oy1, row.end); oy++) {
          const dst = offset + c * plane + (oy * strideH + row.shift) * inW + shift;
          const from = at + (oy - band.oy0) * outW;
          for (let ox = first; ox < end; ox++) gx[dst + ox * strideW] += col[from + ox];
        }
        at += bandSize;
      }
    }
  }
}

/**
 * One band of image n's column matrix, dense [inChannels*kh*kw, band pixels]: im2col into the
 * scratch, or for 1x1 convolutions (a single band) the image itself.
 */
function columnsOf(
  g: Conv2dGeometry,
  x: FloatArray,
  n: number,
  band: Band,
  scratch: FloatArray,
): { col: FloatArray; colOffset: number } {
  const offset = n * g.inChannels * g.inH * g.inW;
  if (isPointwise(g)) return { col: x, colOffset: offset };
  im2col(g, x, offset, band, scratch);
  return { col: scratch, colOffset: 0 };
}

/** Scratch for one band's column matrix (none for 1x1 convolutions). */
function scratchFor(g: Conv2dGeometry, like: FloatArray): FloatArray {
  return allocFloat(dtypeOf(like), isPointwise(g) ? 0 : g.inChannels * g.kernelH * g.kernelW * bandRows(g) * g.outW);
}

export function conv2d({
  x,
  weight,
  bias,
  geometry: g,
  addend = null,
  relu = false,
}: KernelSpecs['conv2d']['args']): RefStorage {
  const X = data(x);
  const W = data(weight);
  const { pixels, outImageSize, outPerGroup, groupK } = dims(g);
  const out = allocLike(x, g.batch * outImageSize);
  const Y = out.data;
  const bands = bandsOf(g);
  const scratch = scratchFor(g, X);
  for (let n = 0; n < g.batch; n++) {
    for (const band of bands) {
      const { col, colOffset } = columnsOf(g, X, n, band, scratch);
      const cols = (band.oy1 - band.oy0) * g.outW;
      for (let grp = 0; grp < g.groups; grp++) {
        gemm({
          m: outPerGroup,
          n: cols,
          k: groupK,
          a: W,
          aOffset: grp * outPerGroup * groupK,
          transA: false,
          b: col,
          bOffset: colOffset + grp * groupK * cols,
          transB: false,
          c: Y,
          cOffset: n * outImageSize + grp * outPerGroup * pixels + band.oy0 * g.outW,
          ldc: pixels,
          accumulate: false,
        });
      }
    }
    if (bias) {
      const B = data(bias);
      for (let oc = 0; oc < g.outChannels; oc++) {
        const start = n * outImageSize + oc * pixels;
        for (let p = start; p < start + pixels; p++) Y[p] += B[oc];
      }
    }
  }
  // Fused post-ops (inference): y = relu(conv(x) + bias + addend), rounded as the storage rounds.
  if (addend) {
    const A = data(addend);
    for (let i = 0; i < Y.length; i++) Y[i] += A[i];
  }
  if (relu) for (let i = 0; i < Y.length; i++) Y[i] = Math.max(Y[i], 0);
  return out;
}

export function conv2dBackwardData({ gy, weight, geometry: g }: KernelSpecs['conv2dBackwardData']['args']): RefStorage {
  const GY = data(gy);
  const W = data(weight);
  const { pixels, imageSize, outImageSize, outPerGroup, groupK } = dims(g);
  const out = allocLike(gy, g.batch * imageSize);
  const GX = out.data;
  const pointwise = isPointwise(g);
  const bands = bandsOf(g);
  const dcol = scratchFor(g, GY);
  for (let n = 0; n < g.batch; n++) {
    for (const band of bands) {
      const cols = (band.oy1 - band.oy0) * g.outW;
      // For 1x1 convolutions the column gradient is the input gradient; write it there directly.
      const [target, targetOffset] = pointwise ? [GX, n * imageSize] : [dcol, 0];
      for (let grp = 0; grp < g.groups; grp++) {
        gemm({
          m: groupK,
          n: cols,
          k: outPerGroup,
          a: W,
          aOffset: grp * outPerGroup * groupK,
          transA: true,
          b: GY,
          bOffset: n * outImageSize + grp * outPerGroup * pixels + band.oy0 * g.outW,
          transB: false,
          ldb: pixels,
          c: target,
          cOffset: targetOffset + grp * groupK * cols,
          accumulate: false,
        });
      }
      if (!pointwise) col2im(g, dcol, band, GX, n * imageSize);
    }
  }
  return out;
}

export function conv2dBackwardWeight({ gy, x, geometry: g, withBias }: KernelSpecs['conv2dBackwardWeight']['args']): {
  weight: RefStorage;
  bias: RefStorage | null;
} {
  const GY = data(gy);
  const X = data(x);
  const { pixels, outImageSize, outPerGroup, groupK } = dims(g);
  const weight = allocLike(gy, g.outChannels * groupK);
  const bands = bandsOf(g);
  const scratch = scratchFor(g, X);
  for (let n = 0; n < g.batch; n++) {
    for (const band of bands) {
      const { col, colOffset } = columnsOf(g, X, n, band, scratch);
      const cols = (band.oy1 - band.oy0) * g.outW;
      for (let grp = 0; grp < g.groups; grp++) {
        // col is read transposed straight from the band: gemm's packing does the transpose.
        gemm({
          m: outPerGroup,
          n: groupK,
          k: cols,
          a: GY,
          aOffset: n * outImageSize + grp * outPerGroup * pixels + band.oy0 * g.outW,
          transA: false,
          lda: pixels,
          b: col,
          bOffset: colOffset + grp * groupK * cols,
          transB: true,
          c: weight.data,
          cOffset: grp * outPerGroup * groupK,
          accumulate: true,
        });
      }
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

/** This file's kernels, spread into the reference backend (index.ts). */
export const convKernels = { conv2d, conv2dBackwardData, conv2dBackwardWeight } satisfies Partial<Kernels>;
