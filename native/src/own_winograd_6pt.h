// Winograd's six-point transforms on 8-channel vectors, for the F(4x4, 3x3) and F(2x2, 5x5)
// forwards of own_winograd.cc (which also runs F(2x2, 3x3), own_winograd_tiles.h). Both take 6x6
// input tiles, with the same B^T: F(4x4, 3x3) gives a 4x4 output tile with 36 products where
// direct takes 144 (F(2x2, 3x3): 16 for 4 outputs, 36 with direct); F(2x2, 5x5) a 2x2 tile with
// 36 where direct takes 100.
// Interpolation points 0, 1, -1, 1/2, -2 and infinity, by the Toom-Cook construction (each
// point's scale in G). The points decide the rounding (Barabasz et al. 2020, "Error analysis and
// improving the accuracy of Winograd convolution for deep neural networks"); of seven sets with
// small constants simulated in float32 on 64-channel sums, these had the least worst error for
// F(4x4, 3x3), 7.4e-6 of the RMS against 2.9e-5 for Lavin and Gray's 0, 1, -1, 2, -2 (F(2x2,
// 5x5): 4.3e-6 against 1.5e-5). In this kernel F(4x4, 3x3)'s worst error fell from 3.2e-5 to
// 1.0e-5 (direct: 4.6e-6).
//   B^T = [1 -3/2   -2  3/2 1 0]   G = [    1     0     0]   A^T = [1  1  1    1  1  0]
//         [0   -1  1/2  5/2 1 0]       [  1/3   1/3   1/3]         [0  1 -1  1/2 -2  0]
//         [0    1 -5/2  1/2 1 0]       [ -1/3   1/3  -1/3]         [0  1  1  1/4  4  0]
//         [0   -2   -1    2 1 0]       [-16/15 -8/15 -4/15]        [0  1 -1  1/8 -8  1]
//         [0  1/2   -1 -1/2 1 0]       [ 1/15 -2/15  4/15]
//         [0    1 -3/2   -2 3/2 1]     [    0     0     1]
// F(2x2, 5x5): the same B^T, the first two rows of A^T with its last column in the second, and
//   G = [1 0 0 0 0; 1/3 1/3 1/3 1/3 1/3; -1/3 1/3 -1/3 1/3 -1/3;
//        -16/15 -8/15 -4/15 -2/15 -1/15; 1/15 -2/15 4/15 -8/15 16/15; 0 0 0 0 1]
#pragma once

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "own_winograd_tiles.h"

namespace convkit::winograd::six {

// r = B^T d for six vectors d (a row or a column of a tile).
inline void inputRow(const __m256 d[6], __m256 r[6]) {
  const __m256 half = _mm256_set1_ps(0.5f), two = _mm256_set1_ps(2.0f), three = _mm256_set1_ps(3.0f);
  const __m256 threeHalves = _mm256_set1_ps(1.5f);
  const __m256 t31 = _mm256_sub_ps(d[3], d[1]), t42 = _mm256_sub_ps(d[4], d[2]);
  const __m256 p = _mm256_fmadd_ps(half, _mm256_add_ps(d[2], d[3]), d[4]);  // d4 + (d2 + d3) / 2
  r[0] = _mm256_fmadd_ps(threeHalves, t31, _mm256_fnmadd_ps(two, d[2], _mm256_add_ps(d[0], d[4])));
  r[1] = _mm256_fmadd_ps(two, d[3], _mm256_sub_ps(p, d[1]));
  r[2] = _mm256_fnmadd_ps(three, d[2], _mm256_add_ps(p, d[1]));
  r[3] = _mm256_fmadd_ps(two, t31, t42);
  r[4] = _mm256_fnmadd_ps(half, t31, t42);
  r[5] = _mm256_fmadd_ps(threeHalves, t42, _mm256_fnmadd_ps(two, d[3], _mm256_add_ps(d[1], d[5])));
}

// u = G g for three vectors g (a row or a column of the 3x3 taps).
inline void weightRow(const __m256 g[3], __m256 u[6]) {
  const __m256 third = _mm256_set1_ps(1.0f / 3.0f), fifteenth = _mm256_set1_ps(1.0f / 15.0f);
  const __m256 even = _mm256_add_ps(g[0], g[2]);
  u[0] = g[0];
  u[1] = _mm256_mul_ps(third, _mm256_add_ps(even, g[1]));
  u[2] = _mm256_mul_ps(third, _mm256_sub_ps(g[1], even));
  // -(16 g0 + 8 g1 + 4 g2) / 15 and (g0 - 2 g1 + 4 g2) / 15
  const __m256 four = _mm256_set1_ps(4.0f), two = _mm256_set1_ps(2.0f);
  u[3] = _mm256_mul_ps(_mm256_set1_ps(-4.0f / 15.0f), _mm256_fmadd_ps(four, g[0], _mm256_fmadd_ps(two, g[1], g[2])));
  u[4] = _mm256_mul_ps(fifteenth, _mm256_fmadd_ps(four, g[2], _mm256_fnmadd_ps(two, g[1], g[0])));
  u[5] = g[2];
}

// y = A^T m for six vectors m (a row or a column of a tile's products).
inline void outputRow(const __m256 m[6], __m256 y[4]) {
  const __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
  y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), _mm256_add_ps(m[3], m[4]));
  y[1] = _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m[3], _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m[4], d12));
  y[2] = _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m[3], _mm256_fmadd_ps(_mm256_set1_ps(4.0f), m[4], s12));
  y[3] = _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m[3],
                         _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), m[4], _mm256_add_ps(d12, m[5])));
}

// u = G g for five vectors g (a row or a column of 5x5 taps): F(2x2, 5x5)'s G.
inline void weightRow5(const __m256 g[5], __m256 u[6]) {
  const __m256 third = _mm256_set1_ps(1.0f / 3.0f), two = _mm256_set1_ps(2.0f);
  const __m256 even = _mm256_add_ps(_mm256_add_ps(g[0], g[2]), g[4]), odd = _mm256_add_ps(g[1], g[3]);
  u[0] = g[0];
  u[1] = _mm256_mul_ps(third, _mm256_add_ps(even, odd));
  u[2] = _mm256_mul_ps(third, _mm256_sub_ps(odd, even));
  // -(16 g0 + 8 g1 + 4 g2 + 2 g3 + g4) / 15 and (g0 - 2 g1 + 4 g2 - 8 g3 + 16 g4) / 15, by Horner
  __m256 up = g[0], down = g[4];
  for (int k = 1; k < 5; k++) {
    up = _mm256_fmadd_ps(two, up, g[k]);
    down = _mm256_fnmadd_ps(two, down, g[4 - k]);
  }
  u[3] = _mm256_mul_ps(_mm256_set1_ps(-1.0f / 15.0f), up);
  u[4] = _mm256_mul_ps(_mm256_set1_ps(1.0f / 15.0f), down);
  u[5] = g[4];
}

// y = the first two rows of F(2x2, 5x5)'s A^T times six vectors m.
inline void outputRow2(const __m256 m[6], __m256 y[2]) {
  y[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m[0], m[1]), _mm256_add_ps(m[2], m[3])), m[4]);
  y[1] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(0.5f), m[3],
                                       _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m[4], _mm256_sub_ps(m[1], m[2]))),
                       m[5]);
}

// U[r * 6 + q] = (G g G^T)[r][q] of one input channel's R x R taps g[kh * R + kw] for 8 outputs,
// at out + position * plane: F(4x4, 3x3) (R 3) or F(2x2, 5x5) (R 5).
template <int R>
inline void weightTile(const __m256 g[R * R], float* out, size_t plane) {
  const auto timesG = [](const __m256 v[R], __m256 u[6]) {
    if constexpr (R == 3)
      weightRow(v, u);
    else
      weightRow5(v, u);
  };
  __m256 t[6][R], column[R], row[6];  // t = G g, then each row of t times G^T
  for (int k = 0; k < R; k++) {
    for (int j = 0; j < R; j++) column[j] = g[R * j + k];
    timesG(column, row);
    for (int r = 0; r < 6; r++) t[r][k] = row[r];
  }
  for (int r = 0; r < 6; r++) {
    timesG(t[r], row);
    for (int q = 0; q < 6; q++) _mm256_storeu_ps(out + (r * 6 + q) * plane, row[q]);
  }
}

// V[p][i][cb * 8 ..] of tile t (the i-th of its group) for one 8-channel block: the 6x6 input tile
// at (m th - pad, m tw - pad) (pad 1 for 3x3, 2 for 5x5), the padding as zeros.
inline void inputTile(const float* x, float* V, const Sizes& s, int64_t t, int64_t i, int64_t cb) {
  const Tile at = tileAt(s, t);
  const float* map = x + (at.n * s.CB + cb) * s.H * s.W * 8;
  const int64_t pad = (s.r - 1) / 2, h0 = s.m * at.th - pad, w0 = s.m * at.tw - pad;
  const bool inside = h0 >= 0 && h0 + 6 <= s.H && w0 >= 0 && w0 + 6 <= s.W;
  __m256 e[6][6], d[6], r[6];  // e = each row of the tile times B
  for (int a = 0; a < 6; a++) {
    const int64_t h = h0 + a;
    for (int b = 0; b < 6; b++) {
      const int64_t c = w0 + b;
      d[b] = inside || (h >= 0 && h < s.H && c >= 0 && c < s.W) ? _mm256_loadu_ps(map + (h * s.W + c) * 8)
                                                                : _mm256_setzero_ps();
    }
    inputRow(d, e[a]);
  }
  const size_t plane = s.vFloats() / s.P;
  float* v = V + i * s.Cp + cb * 8;
  for (int b = 0; b < 6; b++) {
    for (int a = 0; a < 6; a++) d[a] = e[a][b];
    inputRow(d, r);
    for (int a = 0; a < 6; a++) _mm256_storeu_ps(v + (a * 6 + b) * plane, r[a]);
  }
}

// out[k][j] = (A^T M A)[k][j] of one tile's 36 products for 8 outputs, M[p] at mi + p * plane:
// 4x4 outputs (F(4x4, 3x3), m 4) or 2x2 (F(2x2, 5x5), m 2).
inline void outputTile(const float* mi, size_t plane, int64_t m, __m256 out[4][4]) {
  __m256 a[4][6], column[6], r[4];  // a = A^T M, down each column
  for (int j = 0; j < 6; j++) {
    for (int q = 0; q < 6; q++) column[q] = _mm256_loadu_ps(mi + (q * 6 + j) * plane);
    if (m == 4)
      outputRow(column, r);
    else
      outputRow2(column, r);
    for (int k = 0; k < m; k++) a[k][j] = r[k];
  }
  for (int k = 0; k < m; k++)
    if (m == 4)
      outputRow(a[k], out[k]);
    else
      outputRow2(a[k], out[k]);
}

}  // namespace convkit::winograd::six
#endif
