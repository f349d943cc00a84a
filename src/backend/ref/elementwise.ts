/** Elementwise kernels of the reference backend, with NumPy broadcasting. */
import { allocFloat } from '../../core/dtype.js';
import { Generator } from '../../core/random.js';
import { sizeOf } from '../../core/shape.js';
import type { BinaryOp, Kernels, KernelSpecs, ScalarOp, UnaryOp } from '../backend.js';
import { alloc, allocLike, data, RefStorage } from './storage.js';
import { broadcastStrides, forEachRow } from './strided.js';

type Args<K extends keyof KernelSpecs> = KernelSpecs[K]['args'];

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  // x < 0 ? 0 : x keeps NaN (and -0), as torch.relu.
  relu: (x) => (x < 0 ? 0 : x),
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  tanh: Math.tanh,
};

const SCALAR: Record<ScalarOp, (x: number, c: number) => number> = {
  add: (x, c) => x + c,
  mul: (x, c) => x * c,
  pow: (x, c) => x ** c,
  // NaN in x stays NaN (clamp, as torch.clamp); the constant is never NaN here.
  max: (x, c) => (x < c ? c : x),
  min: (x, c) => (x > c ? c : x),
  rsub: (x, c) => c - x,
  rdiv: (x, c) => c / x,
};

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  // A NaN on either side wins, as torch.maximum / torch.minimum.
  max: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
};

export function fill({ size, value, dtype }: Args<'fill'>): RefStorage {
  const out = alloc(dtype, size);
  if (value !== 0) out.data.fill(value);
  return out;
}

export function cast({ x, dtype }: Args<'cast'>): RefStorage {
  const out = allocFloat(dtype, x.size);
  out.set(data(x));
  return new RefStorage(out);
}

export function unary({ op, x }: Args<'unary'>): RefStorage {
  const X = data(x);
  const out = allocLike(x, X.length);
  const Y = out.data;
  const f = UNARY[op];
  for (let i = 0; i < X.length; i++) Y[i] = f(X[i]);
  return out;
}

export function scalar({ op, x, value }: Args<'scalar'>): RefStorage {
  const X = data(x);
  const out = allocLike(x, X.length);
  const Y = out.data;
  const f = SCALAR[op];
  for (let i = 0; i < X.length; i++) Y[i] = f(X[i], value);
  return out;
}

export function binary({ op, a, aShape, b, bShape, outShape }: Args<'binary'>): RefStorage {
  const A = data(a);
  const B = data(b);
  const out = allocLike(a, sizeOf(outShape));
  const Y = out.data;
  const f = BINARY[op];
  if (A.length === Y.length && B.length === Y.length) {
    if (op === 'add') for (let i = 0; i < Y.length; i++) Y[i] = A[i] + B[i];
    else if (op === 'mul') for (let i = 0; i < Y.length; i++) Y[i] = A[i] * B[i];
    else for (let i = 0; i < Y.length; i++) Y[i] = f(A[i], B[i]);
    return out;
  }
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const last = outShape.length - 1;
  const rowLen = last < 0 ? 1 : outShape[last];
  const da = last < 0 ? 0 : sa[last];
  const db = last < 0 ? 0 : sb[last];
  forEachRow(outShape, [sa, sb], ([oa, ob], o) => {
    for (let j = 0; j < rowLen; j++) Y[o + j] = f(A[oa + j * da], B[ob + j * db]);
  });
  return out;
}

export function activationBackward({ op, gy, saved }: Args<'activationBackward'>): RefStorage {
  const G = data(gy);
  const S = data(saved);
  const out = allocLike(gy, G.length);
  const Y = out.data;
  // As PyTorch's threshold_backward: 0 where x <= 0, so the gradient passes a NaN input.
  if (op === 'relu') for (let i = 0; i < G.length; i++) Y[i] = S[i] <= 0 ? 0 : G[i];
  else if (op === 'sigmoid') for (let i = 0; i < G.length; i++) Y[i] = G[i] * S[i] * (1 - S[i]);
  else for (let i = 0; i < G.length; i++) Y[i] = G[i] * (1 - S[i] * S[i]);
  return out;
}

/** The parts summed one by one into the dtype (as a chain of adds), then relu's rule as above. */
export function reluBackwardOfSum({ gys, saved }: Args<'reluBackwardOfSum'>): RefStorage {
  const [first, ...rest] = gys.map(data);
  const S = data(saved);
  const out = allocLike(gys[0], S.length);
  const Y = out.data;
  Y.set(first);
  for (const G of rest) for (let i = 0; i < Y.length; i++) Y[i] += G[i];
  for (let i = 0; i < Y.length; i++) if (S[i] <= 0) Y[i] = 0;
  return out;
}

/** relu(a + b): the sum is rounded to the dtype first (the store into Y), then relu'd, as the two kernels do. */
export function addRelu({ a, b }: Args<'addRelu'>): RefStorage {
  const [A, B] = [data(a), data(b)];
  const out = allocLike(a, A.length);
  const Y = data(out);
  for (let i = 0; i < Y.length; i++) {
    Y[i] = A[i] + B[i];
    Y[i] = UNARY.relu(Y[i]);
  }
  return out;
}

export function expand({ x, shape, outShape }: Args<'expand'>): RefStorage {
  const X = data(x);
  const out = allocLike(x, sizeOf(outShape));
  const Y = out.data;
  const sx = broadcastStrides(shape, outShape);
  const last = outShape.length - 1;
  const rowLen = last < 0 ? 1 : outShape[last];
  const dx = last < 0 ? 0 : sx[last];
  forEachRow(outShape, [sx], ([ox], o) => {
    for (let j = 0; j < rowLen; j++) Y[o + j] = X[ox + j * dx];
  });
  return out;
}

export function dropoutMask({ size, p, seed, dtype }: Args<'dropoutMask'>): RefStorage {
  const out = alloc(dtype, size);
  const M = out.data;
  const rng = new Generator(seed);
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < size; i++) M[i] = rng.uniform() >= p ? keepScale : 0;
  return out;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const elementwiseKernels = {
  fill,
  cast,
  unary,
  scalar,
  binary,
  activationBackward,
  reluBackwardOfSum,
  addRelu,
  expand,
  dropoutMask,
} satisfies Partial<Kernels>;
