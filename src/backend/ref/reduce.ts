/** Reductions, argmax and softmax of the reference backend. */
import { sizeOf, stridesOf } from '../../core/shape.js';
import type { Kernels, KernelSpecs } from '../backend.js';
import { allocLike, data, type RefStorage } from './storage.js';
import { forEachRow } from './strided.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

export function reduce({ op, x, shape, axes }: Args<'reduce'>): RefStorage {
  const X = data(x);
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outStrides = stridesOf(outShape).map((s, i) => (axes.includes(i) ? 0 : s));
  const out = allocLike(x, sizeOf(outShape));
  // Accumulate in float64 and round once at the end: a float32 slot loses ~7 digits per 1e6 terms
  // (summing 1e6 x 0.1 gave 100958). max and min propagate NaN (Math.max), as PyTorch's amax.
  const Y = new Float64Array(out.data.length);
  const init = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
  Y.fill(init);
  const last = shape.length - 1;
  const rowLen = last < 0 ? 1 : shape[last];
  const dy = last < 0 ? 0 : outStrides[last];
  // Walk x row by row; each element lands on the output slot its kept coordinates name.
  forEachRow(shape, [outStrides], ([oy], ox) => {
    if (op === 'max') for (let j = 0; j < rowLen; j++) Y[oy + j * dy] = Math.max(Y[oy + j * dy], X[ox + j]);
    else if (op === 'min') for (let j = 0; j < rowLen; j++) Y[oy + j * dy] = Math.min(Y[oy + j * dy], X[ox + j]);
    else if (dy === 0) {
      // A row into one slot: sum it locally first (same float64 result, fewer stores).
      let s = 0;
      for (let j = 0; j < rowLen; j++) s += X[ox + j];
      Y[oy] += s;
    } else for (let j = 0; j < rowLen; j++) Y[oy + j * dy] += X[ox + j];
  });
  if (op === 'mean') {
    const count = sizeOf(axes.map((a) => shape[a]));
    for (let i = 0; i < Y.length; i++) Y[i] /= count;
  }
  out.data.set(Y);
  return out;
}

export function argmax({ x, layout }: Args<'argmax'>): RefStorage {
  const X = data(x);
  const { outer, dim, inner } = layout;
  const out = allocLike(x, outer * inner);
  const Y = out.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = -Infinity;
      let at = 0;
      for (let d = 0; d < dim; d++) {
        const v = X[(o * dim + d) * inner + i];
        if (v > best || Number.isNaN(v)) {
          best = v;
          at = d;
          if (Number.isNaN(v)) break;
        }
      }
      Y[o * inner + i] = at;
    }
  }
  return out;
}

export function softmax({ x, layout, log }: Args<'softmax'>): RefStorage {
  const X = data(x);
  const { outer, dim, inner } = layout;
  const out = allocLike(x, X.length);
  const Y = out.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let max = -Infinity;
      // Math.max propagates NaN, so a row with a NaN comes out all NaN (as PyTorch's).
      for (let d = 0; d < dim; d++) max = Math.max(max, X[base + d * inner]);
      let sum = 0;
      for (let d = 0; d < dim; d++) sum += Math.exp(X[base + d * inner] - max);
      const logSum = Math.log(sum);
      for (let d = 0; d < dim; d++) {
        const shifted = X[base + d * inner] - max;
        Y[base + d * inner] = log ? shifted - logSum : Math.exp(shifted) / sum;
      }
    }
  }
  return out;
}

export function softmaxBackward({ gy, y, layout, log }: Args<'softmaxBackward'>): RefStorage {
  const G = data(gy);
  const Y = data(y);
  const { outer, dim, inner } = layout;
  const out = allocLike(gy, G.length);
  const GX = out.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * dim * inner + i;
      let dot = 0;
      // softmax: gx = y * (g - sum(g * y)); log-softmax: gx = g - exp(y) * sum(g)
      for (let d = 0; d < dim; d++) dot += log ? G[base + d * inner] : G[base + d * inner] * Y[base + d * inner];
      for (let d = 0; d < dim; d++) {
        const k = base + d * inner;
        GX[k] = log ? G[k] - Math.exp(Y[k]) * dot : Y[k] * (G[k] - dot);
      }
    }
  }
  return out;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const reduceKernels = { reduce, argmax, softmax, softmaxBackward } satisfies Partial<Kernels>;
