/**
 * Reference pooling kernels: max (with argmax positions for the backward pass), average and
 * adaptive average, forward and backward. Loops run per (image, channel) plane; window bounds
 * follow PyTorch's CPU kernels exactly, which is where the edge semantics live.
 */
import type { FloatArray } from '../../core/dtype.js';
import type { Kernels, KernelSpecs, Pool2dGeometry } from '../backend.js';
import { allocLike, data, indicesOf, RefIndexStorage, type RefStorage } from './storage.js';

/**
 * Position of the first maximum in each window, within its plane. A window that sees no pixel
 * (possible only with dilation, e.g. width 1, kernel 2, dilation 2, padding 1) yields -infinity
 * and -1, so it passes no gradient; PyTorch 1.13 also yields -infinity but sends the gradient to
 * an unrelated pixel.
 */
export function maxPool2d({ x, geometry: g }: KernelSpecs['maxPool2d']['args']): {
  y: RefStorage;
  workspace: RefIndexStorage;
} {
  const X = data(x);
  const planes = g.batch * g.channels;
  const inPlane = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  const y = allocLike(x, planes * outPlane);
  const Y = y.data;
  const argmax = new Int32Array(planes * outPlane);
  for (let p = 0; p < planes; p++) {
    const base = p * inPlane;
    for (let oy = 0; oy < g.outH; oy++) {
      const y0 = oy * g.strideH - g.padH;
      for (let ox = 0; ox < g.outW; ox++) {
        const x0 = ox * g.strideW - g.padW;
        // Padding never wins: start below every value. A NaN always wins (and the last one
        // stays), as in PyTorch's `val > max || isnan(val)`.
        let best = -Infinity;
        let bestAt = -1;
        for (let ky = 0; ky < g.kernelH; ky++) {
          const iy = y0 + ky * g.dilationH;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kernelW; kx++) {
            const ix = x0 + kx * g.dilationW;
            if (ix < 0 || ix >= g.inW) continue;
            const at = iy * g.inW + ix;
            const v = X[base + at];
            if (v > best || Number.isNaN(v) || bestAt < 0) {
              best = v;
              bestAt = at;
            }
          }
        }
        const o = p * outPlane + oy * g.outW + ox;
        Y[o] = best;
        argmax[o] = bestAt;
      }
    }
  }
  return { y, workspace: new RefIndexStorage(argmax) };
}

export function maxPool2dBackward({
  gy,
  workspace,
  geometry: g,
}: KernelSpecs['maxPool2dBackward']['args']): RefStorage {
  const GY = data(gy);
  const argmax = indicesOf(workspace);
  const inPlane = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  const gx = allocLike(gy, g.batch * g.channels * inPlane);
  for (let o = 0; o < argmax.length; o++) {
    // Accumulate: overlapping windows may have picked the same pixel.
    if (argmax[o] >= 0) gx.data[Math.floor(o / outPlane) * inPlane + argmax[o]] += GY[o];
  }
  return gx;
}

/** One average-pooling window along one axis: the pixels it covers and its size within the padding. */
interface Span {
  start: number;
  end: number;
  /** The window clipped to the padded input only (count_include_pad's divisor factor). */
  padded: number;
}

/** PyTorch's avg_pool2d bounds: clip to input + padding for the divisor, then to the input. */
function spans(outSize: number, inSize: number, kernel: number, stride: number, pad: number): Span[] {
  return Array.from({ length: outSize }, (_, o) => {
    const start = o * stride - pad;
    const end = Math.min(start + kernel, inSize + pad);
    return { start: Math.max(start, 0), end: Math.min(end, inSize), padded: end - start };
  });
}

/** Calls visit with each window's output index, plane offset, row and column spans and divisor. */
function forEachAvgWindow(
  g: Pool2dGeometry,
  countIncludePad: boolean,
  divisorOverride: number | null,
  visit: (o: number, inBase: number, rows: Span, cols: Span, divisor: number) => void,
): void {
  const rows = spans(g.outH, g.inH, g.kernelH, g.strideH, g.padH);
  const cols = spans(g.outW, g.inW, g.kernelW, g.strideW, g.padW);
  const inPlane = g.inH * g.inW;
  let o = 0;
  for (let p = 0; p < g.batch * g.channels; p++) {
    for (const r of rows) {
      for (const c of cols) {
        const divisor =
          divisorOverride ?? (countIncludePad ? r.padded * c.padded : (r.end - r.start) * (c.end - c.start));
        visit(o++, p * inPlane, r, c, divisor);
      }
    }
  }
}

export function avgPool2d({
  x,
  geometry: g,
  countIncludePad,
  divisorOverride,
}: KernelSpecs['avgPool2d']['args']): RefStorage {
  const X = data(x);
  const y = allocLike(x, g.batch * g.channels * g.outH * g.outW);
  forEachAvgWindow(g, countIncludePad, divisorOverride, (o, base, r, c, divisor) => {
    // A window with no real pixel gives 0 (PyTorch skips it); the rules above make that rare.
    if (r.start >= r.end || c.start >= c.end) return;
    y.data[o] = windowSum(X, base, g.inW, r, c) / divisor;
  });
  return y;
}

export function avgPool2dBackward({
  gy,
  geometry: g,
  countIncludePad,
  divisorOverride,
}: KernelSpecs['avgPool2dBackward']['args']): RefStorage {
  const GY = data(gy);
  const gx = allocLike(gy, g.batch * g.channels * g.inH * g.inW);
  const GX = gx.data;
  forEachAvgWindow(g, countIncludePad, divisorOverride, (o, base, r, c, divisor) => {
    const share = GY[o] / divisor;
    for (let iy = r.start; iy < r.end; iy++) {
      for (let ix = c.start; ix < c.end; ix++) GX[base + iy * g.inW + ix] += share;
    }
  });
  return gx;
}

/** PyTorch's adaptive bins: output i covers [floor(i * in / out), ceil((i + 1) * in / out)). */
function adaptiveSpans(outSize: number, inSize: number): Span[] {
  return Array.from({ length: outSize }, (_, i) => {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    return { start, end, padded: end - start };
  });
}

type AdaptiveArgs = KernelSpecs['adaptiveAvgPool2d']['args'];

function forEachAdaptiveWindow(
  a: Omit<AdaptiveArgs, 'x'>,
  visit: (o: number, inBase: number, rows: Span, cols: Span) => void,
): void {
  const rows = adaptiveSpans(a.outH, a.inH);
  const cols = adaptiveSpans(a.outW, a.inW);
  let o = 0;
  for (let p = 0; p < a.batch * a.channels; p++) {
    for (const r of rows) for (const c of cols) visit(o++, p * a.inH * a.inW, r, c);
  }
}

export function adaptiveAvgPool2d(args: AdaptiveArgs): RefStorage {
  const X = data(args.x);
  const y = allocLike(args.x, args.batch * args.channels * args.outH * args.outW);
  forEachAdaptiveWindow(args, (o, base, r, c) => {
    y.data[o] = windowSum(X, base, args.inW, r, c) / (r.padded * c.padded);
  });
  return y;
}

export function adaptiveAvgPool2dBackward(args: KernelSpecs['adaptiveAvgPool2dBackward']['args']): RefStorage {
  const GY = data(args.gy);
  const gx = allocLike(args.gy, args.batch * args.channels * args.inH * args.inW);
  forEachAdaptiveWindow(args, (o, base, r, c) => {
    const share = GY[o] / (r.padded * c.padded);
    for (let iy = r.start; iy < r.end; iy++) {
      for (let ix = c.start; ix < c.end; ix++) gx.data[base + iy * args.inW + ix] += share;
    }
  });
  return gx;
}

function windowSum(X: FloatArray, base: number, width: number, r: Span, c: Span): number {
  let s = 0;
  for (let iy = r.start; iy < r.end; iy++) {
    for (let ix = c.start; ix < c.end; ix++) s += X[base + iy * width + ix];
  }
  return s;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const poolKernels = {
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
} satisfies Partial<Kernels>;
