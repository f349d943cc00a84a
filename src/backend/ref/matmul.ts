/** Batched matrix multiply of the reference backend. */
import type { KernelSpecs } from '../backend.js';
import { gemm } from './gemm.js';
import { allocLike, data, RefStorage } from './storage.js';

export function matmul({ a, b, batch, m, k, n, transA, transB, aBatched, bBatched }: KernelSpecs['matmul']['args']): RefStorage {
  const A = data(a);
  const B = data(b);
  const out = allocLike(a, batch * m * n);
  for (let i = 0; i < batch; i++) {
    gemm({
      m, n, k,
      a: A, aOffset: aBatched ? i * m * k : 0, transA,
      b: B, bOffset: bBatched ? i * k * n : 0, transB,
      c: out.data, cOffset: i * m * n, accumulate: false,
    });
  }
  return out;
}
