/**
 * Batch norm and local response norm of the reference backend. Tensors are viewed as
 * batch x channels x spatial (ChannelLayout): element (n, c, s) sits at (n * C + c) * S + s.
 */
import type { FloatArray } from '../../core/dtype.js';
import type { ChannelLayout, Kernels, KernelSpecs } from '../backend.js';
import { concat } from './layout.js';
import { alloc, allocLike, data, type RefStorage } from './storage.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

/** Calls visit(offset) for the first element of every (n, c) row of channel c; rows are S long. */
function forEachRowOf(layout: ChannelLayout, c: number, visit: (offset: number) => void): void {
  const { batch, channels, spatial } = layout;
  for (let n = 0; n < batch; n++) visit((n * channels + c) * spatial);
}

/** y = (x - mean) * invStd * gamma + beta, channel by channel. */
function normalize(
  X: FloatArray,
  Y: FloatArray,
  layout: ChannelLayout,
  mean: ArrayLike<number>,
  invStd: ArrayLike<number>,
  W: FloatArray | null,
  B: FloatArray | null,
): void {
  const S = layout.spatial;
  for (let c = 0; c < layout.channels; c++) {
    const scale = invStd[c] * (W ? W[c] : 1);
    const shift = (B ? B[c] : 0) - mean[c] * scale;
    forEachRowOf(layout, c, (o) => {
      for (let s = 0; s < S; s++) Y[o + s] = X[o + s] * scale + shift;
    });
  }
}

export function batchNormTrain({
  x,
  weight,
  bias,
  layout,
  eps,
  relu = false,
  running = null,
}: Args<'batchNormTrain'>): KernelSpecs['batchNormTrain']['out'] {
  const X = data(x);
  const C = layout.channels;
  const S = layout.spatial;
  const count = layout.batch * S;
  const mean = allocLike(x, C);
  const variance = allocLike(x, C);
  const invStd = allocLike(x, C);
  const [runningMean, runningVar] = running ? [data(running.mean), data(running.variance)] : [null, null];
  for (let c = 0; c < C; c++) {
    // Two passes (mean, then squared deviations) for accuracy; JS sums in float64 either way.
    let sum = 0;
    forEachRowOf(layout, c, (o) => {
      for (let s = 0; s < S; s++) sum += X[o + s];
    });
    const m = sum / count;
    let squares = 0;
    forEachRowOf(layout, c, (o) => {
      for (let s = 0; s < S; s++) squares += (X[o + s] - m) ** 2;
    });
    const v = squares / count; // biased, as PyTorch normalises with
    mean.data[c] = m;
    variance.data[c] = v;
    invStd.data[c] = 1 / Math.sqrt(v + eps);
    if (running && runningMean && runningVar) {
      const keep = 1 - running.momentum;
      runningMean[c] = keep * runningMean[c] + running.momentum * m;
      runningVar[c] = keep * runningVar[c] + running.momentum * ((v * count) / (count - 1));
    }
  }
  const y = allocLike(x, X.length);
  normalize(X, y.data, layout, mean.data, invStd.data, weight && data(weight), bias && data(bias));
  if (relu) applyRelu(y);
  if (running?.batches) data(running.batches)[0] += 1;
  return { y, mean, invStd, variance, reluMask: relu ? positiveMask(y) : null };
}

/** ReLU in place (NaN stays NaN, as torch.relu). */
function applyRelu(y: RefStorage): void {
  const Y = y.data;
  for (let i = 0; i < Y.length; i++) if (Y[i] < 0) Y[i] = 0;
}

/** The mask of positive values (1 or 0), for the ReLU's backward. */
function positiveMask(y: RefStorage): RefStorage {
  const mask = allocLike(y, y.data.length);
  y.data.forEach((v, i) => (mask.data[i] = v > 0 ? 1 : 0));
  return mask;
}

/** gy where the ReLU's output was positive, else 0 (also for a NaN gy, as PyTorch's threshold_backward). */
function throughRelu(G: FloatArray, mask: FloatArray): FloatArray {
  return G.map((g, i) => (mask[i] > 0 ? g : 0));
}

export function batchNormInfer({
  x,
  weight,
  bias,
  mean,
  variance,
  layout,
  eps,
  relu,
}: Args<'batchNormInfer'>): RefStorage {
  const X = data(x);
  const V = data(variance);
  const invStd = Array.from(V, (v) => 1 / Math.sqrt(v + eps));
  const y = allocLike(x, X.length);
  normalize(X, y.data, layout, data(mean), invStd, weight && data(weight), bias && data(bias));
  if (relu) applyRelu(y);
  return y;
}

/**
 * With xhat = (x - mean) * invStd and g = gy * gamma:
 *   dgamma = sum(gy * xhat), dbeta = sum(gy)
 *   dx = invStd * g                                          (statistics were constants)
 *   dx = invStd * (g - mean(g) - xhat * mean(g * xhat))      (statistics came from this batch)
 */
export function batchNormBackward({
  gy,
  x,
  weight,
  mean,
  invStd,
  layout,
  batchStats,
  withAffine,
  reluMask,
}: Args<'batchNormBackward'>): KernelSpecs['batchNormBackward']['out'] {
  const G = reluMask ? throughRelu(data(gy), data(reluMask)) : data(gy);
  const X = data(x);
  const W = weight && data(weight);
  const M = data(mean);
  const I = data(invStd);
  const C = layout.channels;
  const S = layout.spatial;
  const count = layout.batch * S;
  const dx = allocLike(x, X.length);
  const DX = dx.data;
  const dweight = withAffine ? alloc(gy.dtype, C) : null;
  const dbias = withAffine ? alloc(gy.dtype, C) : null;
  for (let c = 0; c < C; c++) {
    const m = M[c];
    const inv = I[c];
    let sumG = 0;
    let sumGXhat = 0;
    forEachRowOf(layout, c, (o) => {
      for (let s = 0; s < S; s++) {
        sumG += G[o + s];
        sumGXhat += G[o + s] * (X[o + s] - m) * inv;
      }
    });
    if (dweight && dbias) {
      dweight.data[c] = sumGXhat;
      dbias.data[c] = sumG;
    }
    const gamma = W ? W[c] : 1;
    const scale = gamma * inv;
    if (!batchStats) {
      forEachRowOf(layout, c, (o) => {
        for (let s = 0; s < S; s++) DX[o + s] = G[o + s] * scale;
      });
      continue;
    }
    const meanG = sumG / count;
    const meanGXhat = sumGXhat / count;
    forEachRowOf(layout, c, (o) => {
      for (let s = 0; s < S; s++) {
        const xhat = (X[o + s] - m) * inv;
        DX[o + s] = scale * (G[o + s] - meanG - xhat * meanGXhat);
      }
    });
  }
  return { x: dx, weight: dweight, bias: dbias };
}

/** The channel window of LRN (PyTorch): c - floor(size/2) .. c + floor((size-1)/2), clipped. */
function lrnWindow(size: number, c: number, channels: number): [number, number] {
  return [Math.max(0, c - Math.floor(size / 2)), Math.min(channels - 1, c + Math.floor((size - 1) / 2))];
}

export function localResponseNorm({
  x,
  layout,
  size,
  alpha,
  beta,
  k,
}: Args<'localResponseNorm'>): KernelSpecs['localResponseNorm']['out'] {
  const X = data(x);
  const { batch, channels: C, spatial: S } = layout;
  const y = allocLike(x, X.length);
  const scale = allocLike(x, X.length);
  const Y = y.data;
  const K = scale.data;
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < C; c++) {
      const [lo, hi] = lrnWindow(size, c, C);
      for (let s = 0; s < S; s++) {
        let squares = 0;
        for (let j = lo; j <= hi; j++) squares += X[(n * C + j) * S + s] ** 2;
        const at = (n * C + c) * S + s;
        K[at] = k + (alpha / size) * squares;
        Y[at] = X[at] * K[at] ** -beta;
      }
    }
  }
  return { y, scale };
}

/**
 * y_c = x_c * scale_c^-beta, with scale_c = k + alpha/size * sum over window(c) of x^2, so
 *   dx_j = gy_j * scale_j^-beta - 2 * alpha * beta / size * x_j * sum over {c : j in window(c)} of gy_c * y_c / scale_c.
 * j is in window(c) exactly when c runs from j - floor((size-1)/2) to j + floor(size/2): the
 * window mirrored, which matters for even sizes.
 */
export function localResponseNormBackward({
  gy,
  x,
  y,
  scale,
  layout,
  size,
  alpha,
  beta,
}: Args<'localResponseNormBackward'>): RefStorage {
  const G = data(gy);
  const X = data(x);
  const Y = data(y);
  const K = data(scale);
  const { batch, channels: C, spatial: S } = layout;
  const dx = allocLike(x, X.length);
  const DX = dx.data;
  const factor = (2 * alpha * beta) / size;
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < C; j++) {
      const lo = Math.max(0, j - Math.floor((size - 1) / 2));
      const hi = Math.min(C - 1, j + Math.floor(size / 2));
      for (let s = 0; s < S; s++) {
        let acc = 0;
        for (let c = lo; c <= hi; c++) {
          const at = (n * C + c) * S + s;
          acc += (G[at] * Y[at]) / K[at];
        }
        const at = (n * C + j) * S + s;
        DX[at] = G[at] * K[at] ** -beta - factor * X[at] * acc;
      }
    }
  }
  return dx;
}

/** batchNormInfer of the concatenation, as the two kernels. */
export function concatBatchNormInfer({ xs, shapes, ...norm }: Args<'concatBatchNormInfer'>): RefStorage {
  const joined = concat({ xs, shapes, axis: 1 });
  const [batch, , h, w] = shapes[0];
  const channels = shapes.reduce((c, s) => c + s[1], 0);
  const y = batchNormInfer({ x: joined, ...norm, layout: { batch, channels, spatial: h * w } });
  joined.release();
  return y;
}

/** foldBatchNorm's arithmetic, rounded to the weight's dtype after each step (float32: as the native loop does). */
export function foldBatchNorm(args: Args<'foldBatchNorm'>): { weight: RefStorage; bias: RefStorage } {
  const { channels, eps } = args;
  const W = data(args.weight);
  const [B, G, Be] = [args.bias, args.gamma, args.beta].map((s) => (s ? data(s) : null));
  const [M, V] = [data(args.mean), data(args.variance)];
  const round = W instanceof Float32Array ? Math.fround : (v: number) => v;
  const weight = allocLike(args.weight, W.length);
  const bias = allocLike(args.weight, channels);
  const [WF, BF] = [data(weight), data(bias)];
  const inner = W.length / channels;
  for (let c = 0; c < channels; c++) {
    const sd = round(Math.sqrt(round(V[c] + eps)));
    const scale = round((G ? G[c] : 1) / sd);
    for (let i = c * inner; i < (c + 1) * inner; i++) WF[i] = round(W[i] * scale);
    const shifted = round(round((B ? B[c] : 0) - M[c]) * scale);
    BF[c] = Be ? round(shifted + Be[c]) : shifted;
  }
  return { weight, bias };
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const normKernels = {
  batchNormTrain,
  batchNormInfer,
  concatBatchNormInfer,
  foldBatchNorm,
  batchNormBackward,
  localResponseNorm,
  localResponseNormBackward,
} satisfies Partial<Kernels>;
