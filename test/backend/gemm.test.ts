/**
 * The blocked gemm of the reference backend against a naive triple loop, on sizes that leave
 * partial register tiles and partial cache blocks, every transpose combination, offsets into
 * larger arrays, row strides (lda, ldb, ldc) wider than the matrices, accumulate on and off,
 * float32 and float64. The expected values come from the definition of the product, in float64.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gemm } from '../../src/backend/ref/gemm.js';
import { allocFloat, type DType, type FloatArray } from '../../src/core/dtype.js';
import { Generator } from '../../src/core/random.js';

const SIZES = [1, 3, 5, 17, 67, 130];

function random(dtype: DType, size: number, g: Generator): FloatArray {
  const out = allocFloat(dtype, size);
  for (let i = 0; i < size; i++) out[i] = g.uniform() * 2 - 1;
  return out;
}

interface Case {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  dtype: DType;
  /** Extra elements at the end of every stored row: the matrices are blocks of wider ones. */
  rowPadding?: number;
}

interface Layout {
  aOffset: number;
  bOffset: number;
  cOffset: number;
  lda: number;
  ldb: number;
  ldc: number;
}

/** C (+)= op(A) op(B) by definition, in float64, on the same strided layout gemm sees. */
function naive(c: Case, l: Layout, a: FloatArray, b: FloatArray, c0: FloatArray): Float64Array {
  const out = Float64Array.from(c0);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let s = 0;
      for (let p = 0; p < c.k; p++) {
        const av = c.transA ? a[l.aOffset + p * l.lda + i] : a[l.aOffset + i * l.lda + p];
        const bv = c.transB ? b[l.bOffset + j * l.ldb + p] : b[l.bOffset + p * l.ldb + j];
        s += av * bv;
      }
      const at = l.cOffset + i * l.ldc + j;
      out[at] = c.accumulate ? out[at] + s : s;
    }
  }
  return out;
}

function check(c: Case, seed: number): void {
  const g = new Generator(seed);
  const pad = c.rowPadding ?? 0;
  const [aRows, aCols] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [bRows, bCols] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const l: Layout = { aOffset: 3, bOffset: 5, cOffset: 7, lda: aCols + pad, ldb: bCols + pad, ldc: c.n + pad };
  // Offsets, row padding and trailing guard elements: gemm must read only its window and write
  // only C's block (the padding of C must keep its values).
  const a = random(c.dtype, l.aOffset + aRows * l.lda + 4, g);
  const b = random(c.dtype, l.bOffset + bRows * l.ldb + 4, g);
  const cInit = random(c.dtype, l.cOffset + c.m * l.ldc + 4, g);
  const expected = naive(c, l, a, b, cInit);
  const out = cInit.slice();
  const strides = pad === 0 ? {} : { lda: l.lda, ldb: l.ldb, ldc: l.ldc };
  gemm({
    m: c.m,
    n: c.n,
    k: c.k,
    a,
    aOffset: l.aOffset,
    transA: c.transA,
    b,
    bOffset: l.bOffset,
    transB: c.transB,
    c: out,
    cOffset: l.cOffset,
    accumulate: c.accumulate,
    ...strides,
  });
  // float32: inputs are float32 values, so the only error is rounding of the sum (|terms| < 1).
  const tol = c.dtype === 'float32' ? 2e-6 * (c.k + 1) : 1e-13 * (c.k + 1);
  for (let i = 0; i < out.length; i++) {
    const ok = Math.abs(out[i] - expected[i]) <= tol;
    if (!ok) assert.fail(`${JSON.stringify(c)}: element ${i} is ${out[i]}, expected ${expected[i]}`);
  }
}

describe('ref gemm', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`matches a naive triple loop on awkward sizes (${dtype}, transA ${transA}, transB ${transB})`, () => {
          let seed = 1;
          for (const m of SIZES) {
            for (const n of SIZES) {
              for (const k of SIZES) {
                for (const accumulate of [false, true]) check({ m, n, k, transA, transB, accumulate, dtype }, seed++);
              }
            }
          }
        });

        it(`crosses the k, row and column block edges (${dtype}, transA ${transA}, transB ${transB})`, () => {
          // k = 300 spans two k blocks of 256, m = 131 two row blocks of 128, n = 2051 two column blocks of 2048.
          let seed = 1000;
          for (const [m, n, k] of [
            [67, 130, 300],
            [131, 5, 17],
            [3, 2051, 5],
            [1, 67, 300],
          ]) {
            for (const accumulate of [false, true]) check({ m, n, k, transA, transB, accumulate, dtype }, seed++);
          }
        });

        it(`reads and writes blocks of wider matrices through lda, ldb, ldc (${dtype}, transA ${transA}, transB ${transB})`, () => {
          let seed = 2000;
          for (const [m, n, k] of [
            [1, 5, 17],
            [5, 3, 1],
            [17, 67, 5],
            [67, 17, 300],
            [3, 1, 0],
          ]) {
            for (const accumulate of [false, true])
              check({ m, n, k, transA, transB, accumulate, dtype, rowPadding: 3 }, seed++);
          }
        });
      }
    }
  }

  it('k = 0 leaves C alone when accumulating and zeroes it otherwise', () => {
    const c = Float32Array.from([9, 1, 2, 3, 9]);
    const args = {
      m: 1,
      n: 3,
      k: 0,
      a: new Float32Array(0),
      aOffset: 0,
      transA: false,
      b: new Float32Array(0),
      bOffset: 0,
      transB: false,
      c,
      cOffset: 1,
    };
    gemm({ ...args, accumulate: true });
    assert.deepEqual([...c], [9, 1, 2, 3, 9]);
    gemm({ ...args, accumulate: false });
    assert.deepEqual([...c], [9, 0, 0, 0, 9]);
  });

  it('a hand-computed product with both operands transposed', () => {
    // op(A) = [[1, 2], [3, 4]] stored transposed as [1, 3, 2, 4]; op(B) = [[5, 6], [7, 8]] as [5, 7, 6, 8].
    // [[1*5 + 2*7, 1*6 + 2*8], [3*5 + 4*7, 3*6 + 4*8]] = [[19, 22], [43, 50]].
    const c = new Float64Array(4);
    gemm({
      m: 2,
      n: 2,
      k: 2,
      a: Float64Array.from([1, 3, 2, 4]),
      aOffset: 0,
      transA: true,
      b: Float64Array.from([5, 7, 6, 8]),
      bOffset: 0,
      transB: true,
      c,
      cOffset: 0,
      accumulate: false,
    });
    assert.deepEqual([...c], [19, 22, 43, 50]);
  });
});
