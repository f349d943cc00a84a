/**
 * The reference backend's matrix multiply, C (+)= op(A) * op(B), in plain TypeScript, organised
 * like the classic GotoBLAS / BLIS loops so that V8's scalar code runs near its limit.
 *
 * Sizes: op(A) is m x k, op(B) is k x n, C is m x n, each stored row-major at an offset with a
 * row stride (dense by default).
 *
 *   for each block of NC = 1024 columns of C                          (j0)
 *     for each block of KC = 256 steps of the k dimension             (p0)
 *       pack op(B)[p0:p0+KC, j0:j0+NC] into 4-column micro-panels
 *       for each block of MC = 128 rows of C                          (i0)
 *         pack op(A)[i0:i0+MC, p0:p0+KC] into 4-row micro-panels
 *         for each 4-column micro-panel of B                          (jr)
 *           for each 4-row micro-panel of A                           (ir)
 *             micro-kernel: the 4 x 4 tile of C (+)= A panel * B panel
 *
 * Register tile (MR x NR = 4 x 4): the micro-kernel keeps its 16 sums of C in local variables
 * for the whole k block, so each k step loads 4 values of A and 4 of B for 16 multiply-adds, where
 * a plain loop loads two values and stores one per multiply-add. V8 computes in doubles in the
 * 16 xmm registers; 16 sums plus 8 operands already spill a little, and larger tiles spill much
 * more: 4x8, 6x8 and 8x8 measured slower, 2x4, 3x4 and 4x3 no faster.
 *
 * Packing copies each block once into contiguous Float64Array scratch in the order the kernel
 * reads it, so the kernel streams two arrays with unit stride whatever transA/transB and the
 * strides were: a transpose costs nothing beyond the packing. The panels are float64 for both
 * dtypes: one monomorphic kernel, no conversions in the inner loop. Edge panels are padded with
 * zeros (nothing outside the matrices is read), so the kernel always computes a full tile, of
 * which only the valid part is written back. Sums run in float64 over a k block and are rounded
 * into C once per block.
 *
 * Block sizes (8-byte doubles): an A micro-panel plus a B micro-panel is (4 + 4) * 256 * 8 =
 * 16 KiB, well inside L1 while the kernel streams them; the packed A block (MC * KC * 8 = 256 KiB)
 * stays in L2 while every B micro-panel of the block passes over it; the packed B block
 * (KC * NC * 8 = 2 MiB) is read from L3 once per A block. At V8's 3-4.5 GFLOP/s the register
 * tile matters far more than these sizes (KC 128-512, MC 64-128 and NC 1024-4096 showed no
 * consistent difference); KC chiefly amortises a tile's write-back over many k steps.
 */
import type { FloatArray } from '../../core/dtype.js';

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
  /**
   * Row strides of A, B and C as stored (BLAS leading dimensions), for operating on a block of
   * columns of a wider matrix. Default: the matrices are dense (A's stored width is k, or m when
   * transposed; B's is n, or k; C's is n).
   */
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/** Rows and columns of the register tile; the micro-kernel and packing are written out for 4 x 4. */
const MR = 4;
const NR = 4;
/** Depth of one k block. */
const KC = 256;
/** Rows of A packed at once. */
const MC = 128;
/** Columns of B packed at once. */
const NC = 1024;

/**
 * Packing scratch (2.25 MiB), sized by the block sizes and shared by every call: gemm is
 * synchronous and never re-enters itself. Module constants rather than arguments on purpose: V8
 * then compiles their address and length into the micro-kernel, measured about 25% faster.
 */
const packedA = new Float64Array(MC * KC);
const packedB = new Float64Array(KC * NC);
/** One tile of C as the micro-kernel leaves it: row-major MR x NR. */
const tile = new Float64Array(MR * NR);

export function gemm(g: GemmArgs): void {
  const { m, n, k, c, cOffset } = g;
  const lda = g.lda ?? (g.transA ? m : k);
  const ldb = g.ldb ?? (g.transB ? k : n);
  const ldc = g.ldc ?? n;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    for (let i = 0; i < m && !g.accumulate; i++) c.fill(0, cOffset + i * ldc, cOffset + i * ldc + n);
    return;
  }
  // op(A)(i, p) = a[aOffset + i * aRow + p * aCol], op(B)(p, j) = b[bOffset + p * bRow + j * bCol].
  const [aRow, aCol] = g.transA ? [1, lda] : [lda, 1];
  const [bRow, bCol] = g.transB ? [1, ldb] : [ldb, 1];
  if (m === 1) {
    rowTimesMatrix(g, aCol, bRow, bCol);
    return;
  }

  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      // The first k block overwrites C unless the caller asked to accumulate.
      const overwrite = p0 === 0 && !g.accumulate;
      packPanels(g.b, g.bOffset + p0 * bRow + j0 * bCol, bCol, bRow, nc, kc, packedB);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packPanels(g.a, g.aOffset + i0 * aRow + p0 * aCol, aRow, aCol, mc, kc, packedA);
        for (let jr = 0; jr < nc; jr += NR) {
          for (let ir = 0; ir < mc; ir += MR) {
            microKernel(kc, ir * kc, jr * kc);
            const at = cOffset + (i0 + ir) * ldc + j0 + jr;
            storeTile(c, at, ldc, Math.min(MR, mc - ir), Math.min(NR, nc - jr), overwrite);
          }
        }
      }
    }
  }
}

/**
 * C (+)= op(A) op(B) when op(A) is a single row (batch-1 linear layers). Packing B would then cost
 * as much as the product and the 4 x 4 tile would waste three of its rows, so op(B) is read in
 * place, four columns at a time so each value of the row is loaded once per four multiply-adds.
 */
function rowTimesMatrix(g: GemmArgs, aCol: number, bRow: number, bCol: number): void {
  const { n, k, a, b, aOffset } = g;
  const overwrite = !g.accumulate;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    let bi = g.bOffset + j * bCol;
    for (let p = 0, ai = aOffset; p < k; p++, ai += aCol, bi += bRow) {
      const av = a[ai];
      s0 += av * b[bi];
      s1 += av * b[bi + bCol];
      s2 += av * b[bi + 2 * bCol];
      s3 += av * b[bi + 3 * bCol];
    }
    tile[0] = s0;
    tile[1] = s1;
    tile[2] = s2;
    tile[3] = s3;
    storeTile(g.c, g.cOffset + j, n, 1, 4, overwrite);
  }
  for (; j < n; j++) {
    let s = 0;
    for (let p = 0, ai = aOffset, bi = g.bOffset + j * bCol; p < k; p++, ai += aCol, bi += bRow) s += a[ai] * b[bi];
    tile[0] = s;
    storeTile(g.c, g.cOffset + j, n, 1, 1, overwrite);
  }
}

/**
 * Copies `lanes` x `depth` elements of a strided matrix into panels of 4 lanes (MR = NR = 4):
 * panel q holds, for p = 0..depth-1 in turn, the elements (4q, p), (4q + 1, p), (4q + 2, p),
 * (4q + 3, p), with element (lane, p) at src[offset + lane * laneStride + p * depthStride]. Lanes
 * past the end are zero. For A the lanes are rows of op(A); for B they are columns of op(B).
 */
function packPanels(
  src: FloatArray,
  offset: number,
  laneStride: number,
  depthStride: number,
  lanes: number,
  depth: number,
  dst: Float64Array,
): void {
  let to = 0;
  for (let q = 0; q < lanes; q += 4) {
    let from = offset + q * laneStride;
    if (q + 4 <= lanes) {
      for (let p = 0; p < depth; p++, to += 4, from += depthStride) {
        dst[to] = src[from];
        dst[to + 1] = src[from + laneStride];
        dst[to + 2] = src[from + 2 * laneStride];
        dst[to + 3] = src[from + 3 * laneStride];
      }
    } else {
      for (let p = 0; p < depth; p++, to += 4, from += depthStride) {
        for (let w = 0; w < 4; w++) dst[to + w] = q + w < lanes ? src[from + w * laneStride] : 0;
      }
    }
  }
}

/**
 * tile = A panel (MR x kc, at packedA[aAt]) times B panel (kc x NR, at packedB[bAt]), with the
 * 16 partial sums kept in locals (registers) across the whole loop.
 */
function microKernel(kc: number, aAt: number, bAt: number): void {
  const a = packedA;
  const b = packedB;
  let c00 = 0,
    c01 = 0,
    c02 = 0,
    c03 = 0;
  let c10 = 0,
    c11 = 0,
    c12 = 0,
    c13 = 0;
  let c20 = 0,
    c21 = 0,
    c22 = 0,
    c23 = 0;
  let c30 = 0,
    c31 = 0,
    c32 = 0,
    c33 = 0;
  let ai = aAt;
  let bi = bAt;
  for (let p = 0; p < kc; p++) {
    const a0 = a[ai],
      a1 = a[ai + 1],
      a2 = a[ai + 2],
      a3 = a[ai + 3];
    const b0 = b[bi],
      b1 = b[bi + 1],
      b2 = b[bi + 2],
      b3 = b[bi + 3];
    c00 += a0 * b0;
    c01 += a0 * b1;
    c02 += a0 * b2;
    c03 += a0 * b3;
    c10 += a1 * b0;
    c11 += a1 * b1;
    c12 += a1 * b2;
    c13 += a1 * b3;
    c20 += a2 * b0;
    c21 += a2 * b1;
    c22 += a2 * b2;
    c23 += a2 * b3;
    c30 += a3 * b0;
    c31 += a3 * b1;
    c32 += a3 * b2;
    c33 += a3 * b3;
    ai += MR;
    bi += NR;
  }
  tile[0] = c00;
  tile[1] = c01;
  tile[2] = c02;
  tile[3] = c03;
  tile[4] = c10;
  tile[5] = c11;
  tile[6] = c12;
  tile[7] = c13;
  tile[8] = c20;
  tile[9] = c21;
  tile[10] = c22;
  tile[11] = c23;
  tile[12] = c30;
  tile[13] = c31;
  tile[14] = c32;
  tile[15] = c33;
}

/** Writes (or adds) the top-left rows x cols of `tile` into C at c[at], row stride ldc. */
function storeTile(c: FloatArray, at: number, ldc: number, rows: number, cols: number, overwrite: boolean): void {
  if (rows === MR && cols === NR) {
    // The common full tile, unrolled: with a short k this write-back costs as much as the kernel.
    for (let t = 0; t < MR * NR; t += NR, at += ldc) {
      if (overwrite) {
        c[at] = tile[t];
        c[at + 1] = tile[t + 1];
        c[at + 2] = tile[t + 2];
        c[at + 3] = tile[t + 3];
      } else {
        c[at] += tile[t];
        c[at + 1] += tile[t + 1];
        c[at + 2] += tile[t + 2];
        c[at + 3] += tile[t + 3];
      }
    }
    return;
  }
  for (let i = 0; i < rows; i++) {
    const row = at + i * ldc;
    for (let j = 0; j < cols; j++) {
      c[row + j] = overwrite ? tile[i * NR + j] : c[row + j] + tile[i * NR + j];
    }
  }
}
