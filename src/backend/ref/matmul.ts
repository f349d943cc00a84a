/** Batched matrix multiply of the reference backend. */
import type { Kernels, KernelSpecs } from '../backend.js';
import { gemm } from './gemm.js';
import { allocLike, data, type RefStorage } from './storage.js';

export function matmul({
  a,
  b,
  batch,
  m,
  k,
  n,
  transA,
  transB,
  aBatched,
  bBatched,
}: KernelSpecs['matmul']['args']): RefStorage {
  const A = data(a);
  const B = data(b);
  const out = allocLike(a, batch * m * n);
  for (let i = 0; i < batch; i++) {
    gemm({
      m,
      n,
      k,
      a: A,
      aOffset: aBatched ? i * m * k : 0,
      transA,
      b: B,
      bOffset: bBatched ? i * k * n : 0,
      transB,
      c: out.data,
      cOffset: i * m * n,
      accumulate: false,
    });
  }
  return out;
}

/** nn.Linear's forward: x W^T, then the bias added to each row and the ReLU, each rounded as its own op. */
export function linear({ x, weight, bias, rows, inF, outF, relu = false }: KernelSpecs['linear']['args']): RefStorage {
  const out = matmul({
    a: x,
    b: weight,
    batch: 1,
    m: rows,
    k: inF,
    n: outF,
    transA: false,
    transB: true,
    aBatched: false,
    bBatched: false,
  });
  const y = out.data;
  if (bias !== null) {
    const b = data(bias);
    for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) y[r * outF + o] += b[o];
  }
  if (relu) for (let i = 0; i < y.length; i++) y[i] = y[i] < 0 ? 0 : y[i]; // NaN stays NaN
  return out;
}

/** This file's kernels, spread into the reference backend (index.ts). */
export const matmulKernels = { matmul, linear } satisfies Partial<Kernels>;
