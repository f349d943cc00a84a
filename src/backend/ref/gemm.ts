/**
 * The reference backend's matrix multiply, C (+)= op(A) * op(B), in plain TypeScript. Readable
 * rather than clever: B is made row-major [k, n] (packed when transposed), then C is computed
 * four rows at a time over cache-sized blocks of k and n so each loaded row of B is used four
 * times. This keeps CIFAR-sized convolutions tolerable; the native backend is the fast path.
 */
import { allocFloat, dtypeOf, type FloatArray } from '../../core/dtype.js';

export interface GemmArgs {
  m: number;
  n: number;
  k: number;
  a: FloatArray;
  aOffset: number;
  transA: boolean;
  b: FloatArray;
  bOffset: number;
  transB: boolean;
  c: FloatArray;
  cOffset: number;
  /** Add into C instead of overwriting it. */
  accumulate: boolean;
}

const BLOCK_K = 128;
const BLOCK_N = 512;

export function gemm(g: GemmArgs): void {
  const { m, n, k, a, c, cOffset } = g;
  if (!g.accumulate) c.fill(0, cOffset, cOffset + m * n);
  if (k === 0) return;
  // A element (i, p) sits at aOffset + i * rowStride + p * colStride.
  const rowStride = g.transA ? 1 : k;
  const colStride = g.transA ? m : 1;
  const [b, bOffset] = g.transB ? [transposed(g.b, g.bOffset, n, k), 0] : [g.b, g.bOffset];
  for (let j0 = 0; j0 < n; j0 += BLOCK_N) {
    const j1 = Math.min(n, j0 + BLOCK_N);
    for (let p0 = 0; p0 < k; p0 += BLOCK_K) {
      const p1 = Math.min(k, p0 + BLOCK_K);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = cOffset + i * n;
        const c1 = c0 + n;
        const c2 = c1 + n;
        const c3 = c2 + n;
        for (let p = p0; p < p1; p++) {
          const at = g.aOffset + i * rowStride + p * colStride;
          const a0 = a[at];
          const a1 = a[at + rowStride];
          const a2 = a[at + 2 * rowStride];
          const a3 = a[at + 3 * rowStride];
          const bRow = bOffset + p * n;
          for (let j = j0; j < j1; j++) {
            const bv = b[bRow + j];
            c[c0 + j] += a0 * bv;
            c[c1 + j] += a1 * bv;
            c[c2 + j] += a2 * bv;
            c[c3 + j] += a3 * bv;
          }
        }
      }
      for (; i < m; i++) {
        const c0 = cOffset + i * n;
        for (let p = p0; p < p1; p++) {
          const a0 = a[g.aOffset + i * rowStride + p * colStride];
          const bRow = bOffset + p * n;
          for (let j = j0; j < j1; j++) c[c0 + j] += a0 * b[bRow + j];
        }
      }
    }
  }
}

/** Copies the rows x cols matrix at `offset` into a new cols x rows matrix. */
function transposed(src: FloatArray, offset: number, rows: number, cols: number): FloatArray {
  const out = allocFloat(dtypeOf(src), rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let col = 0; col < cols; col++) out[col * rows + r] = src[offset + r * cols + col];
  }
  return out;
}
