// Winograd's six-point transforms on vectors of 8 or 16 channels (simd.h), for the F(4x4, 3x3) and F(2x2, 5x5)
// forwards of own_winograd.cc (which also runs F(2x2, 3x3), own_winograd_tiles.h) and own_winograd16.cc. Both take 6x6
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
#include "simd.h"

namespace convkit::winograd::six {

using namespace simd;

// r = B^T d for six vectors d (a row or a column of a tile).
template <class T>
inline void inputRow(const T d[6], T r[6]) {
  const T half = set1<T>(0.5f), two = set1<T>(2.0f), three = set1<T>(3.0f);
  const T threeHalves = set1<T>(1.5f);
  const T t31 = sub(d[3], d[1]), t42 = sub(d[4], d[2]);
  const T p = fmadd(half, add(d[2], d[3]), d[4]);  // d4 + (d2 + d3) / 2
  r[0] = fmadd(threeHalves, t31, fnmadd(two, d[2], add(d[0], d[4])));
  r[1] = fmadd(two, d[3], sub(p, d[1]));
  r[2] = fnmadd(three, d[2], add(p, d[1]));
  r[3] = fmadd(two, t31, t42);
  r[4] = fnmadd(half, t31, t42);
  r[5] = fmadd(threeHalves, t42, fnmadd(two, d[3], add(d[1], d[5])));
}

// u = G g for three vectors g (a row or a column of the 3x3 taps).
template <class T>
inline void weightRow(const T g[3], T u[6]) {
  const T third = set1<T>(1.0f / 3.0f), fifteenth = set1<T>(1.0f / 15.0f);
  const T even = add(g[0], g[2]);
  u[0] = g[0];
  u[1] = mul(third, add(even, g[1]));
  u[2] = mul(third, sub(g[1], even));
  // -(16 g0 + 8 g1 + 4 g2) / 15 and (g0 - 2 g1 + 4 g2) / 15
  const T four = set1<T>(4.0f), two = set1<T>(2.0f);
  u[3] = mul(set1<T>(-4.0f / 15.0f), fmadd(four, g[0], fmadd(two, g[1], g[2])));
  u[4] = mul(fifteenth, fmadd(four, g[2], fnmadd(two, g[1], g[0])));
  u[5] = g[2];
}

// y = A^T m for six vectors m (a row or a column of a tile's products).
template <class T>
inline void outputRow(const T m[6], T y[4]) {
  const T s12 = add(m[1], m[2]), d12 = sub(m[1], m[2]);
  y[0] = add(add(m[0], s12), add(m[3], m[4]));
  y[1] = fmadd(set1<T>(0.5f), m[3], fnmadd(set1<T>(2.0f), m[4], d12));
  y[2] = fmadd(set1<T>(0.25f), m[3], fmadd(set1<T>(4.0f), m[4], s12));
  y[3] = fmadd(set1<T>(0.125f), m[3], fnmadd(set1<T>(8.0f), m[4], add(d12, m[5])));
}

// u = G g for five vectors g (a row or a column of 5x5 taps): F(2x2, 5x5)'s G.
template <class T>
inline void weightRow5(const T g[5], T u[6]) {
  const T third = set1<T>(1.0f / 3.0f), two = set1<T>(2.0f);
  const T even = add(add(g[0], g[2]), g[4]), odd = add(g[1], g[3]);
  u[0] = g[0];
  u[1] = mul(third, add(even, odd));
  u[2] = mul(third, sub(odd, even));
  // -(16 g0 + 8 g1 + 4 g2 + 2 g3 + g4) / 15 and (g0 - 2 g1 + 4 g2 - 8 g3 + 16 g4) / 15, by Horner
  T up = g[0], down = g[4];
  for (int k = 1; k < 5; k++) {
    up = fmadd(two, up, g[k]);
    down = fnmadd(two, down, g[4 - k]);
  }
  u[3] = mul(set1<T>(-1.0f / 15.0f), up);
  u[4] = mul(set1<T>(1.0f / 15.0f), down);
  u[5] = g[4];
}

// y = the first two rows of F(2x2, 5x5)'s A^T times six vectors m.
template <class T>
inline void outputRow2(const T m[6], T y[2]) {
  y[0] = add(add(add(m[0], m[1]), add(m[2], m[3])), m[4]);
  y[1] = add(fmadd(set1<T>(0.5f), m[3], fnmadd(set1<T>(2.0f), m[4], sub(m[1], m[2]))), m[5]);
}

// z = A d for four vectors d (a row or a column of a 4x4 tile's output gradients): the backward
// weights' dX = A dY A^T (own_winograd_weights.cc, own_winograd16_weights.cc); A's rows are A^T's
// columns.
template <class T>
inline void gradientRow(const T d[4], T z[6]) {
  const T s02 = add(d[0], d[2]), s13 = add(d[1], d[3]);
  z[0] = d[0];
  z[1] = add(s02, s13);
  z[2] = sub(s02, s13);
  // d0 + d1 / 2 + d2 / 4 + d3 / 8 and d0 - 2 d1 + 4 d2 - 8 d3, by Horner
  const T half = set1<T>(0.5f), minusTwo = set1<T>(-2.0f);
  z[3] = fmadd(half, fmadd(half, fmadd(half, d[3], d[2]), d[1]), d[0]);
  z[4] = fmadd(minusTwo, fmadd(minusTwo, fmadd(minusTwo, d[3], d[2]), d[1]), d[0]);
  z[5] = d[3];
}

// r = G^T u for six vectors u (a row or a column of the summed dU): the weight gradient dg = G^T dU G.
template <class T>
inline void weightGradientRow(const T u[6], T r[3]) {
  const T third = set1<T>(1.0f / 3.0f), fifteenth = set1<T>(1.0f / 15.0f);
  const T s12 = mul(third, add(u[1], u[2])), d12 = mul(third, sub(u[1], u[2]));
  // (u4 - 16 u3) / 15, -(8 u3 + 2 u4) / 15 and 4 (u4 - u3) / 15
  r[0] = add(add(u[0], d12), mul(fifteenth, fnmadd(set1<T>(16.0f), u[3], u[4])));
  r[1] = sub(s12, mul(set1<T>(2.0f / 15.0f), fmadd(set1<T>(4.0f), u[3], u[4])));
  r[2] = add(add(d12, u[5]), mul(set1<T>(4.0f / 15.0f), sub(u[4], u[3])));
}

// U[r * 6 + q] = (G g G^T)[r][q] of one input channel's R x R taps g[kh * R + kw] for a vector of
// outputs, at out + position * plane: F(4x4, 3x3) (R 3) or F(2x2, 5x5) (R 5).
template <int R, class T>
inline void weightTile(const T g[R * R], float* out, size_t plane) {
  const auto timesG = [](const T v[R], T u[6]) {
    if constexpr (R == 3)
      weightRow(v, u);
    else
      weightRow5(v, u);
  };
  T t[6][R], column[R], row[6];  // t = G g, then each row of t times G^T
  for (int k = 0; k < R; k++) {
    for (int j = 0; j < R; j++) column[j] = g[R * j + k];
    timesG(column, row);
    for (int r = 0; r < 6; r++) t[r][k] = row[r];
  }
  for (int r = 0; r < 6; r++) {
    timesG(t[r], row);
    for (int q = 0; q < 6; q++) store(out + (r * 6 + q) * plane, row[q]);
  }
}

// V[p][i][cb * L ..] of tile t (the i-th of its group) for one block of L channels (T's lanes; `s` of
// L-channel blocks): the 6x6 input tile at (m th - pad, m tw - pad) (pad 1 for 3x3, 2 for 5x5), the
// padding as zeros.
template <class T>
inline void inputTile(const float* x, float* V, const Sizes& s, int64_t t, int64_t i, int64_t cb) {
  constexpr int L = lanes<T>;
  const Tile at = tileAt(s, t);
  const float* map = x + (at.n * s.CB + cb) * s.H * s.W * L;
  const int64_t pad = (s.r - 1) / 2, h0 = s.m * at.th - pad, w0 = s.m * at.tw - pad;
  const bool inside = h0 >= 0 && h0 + 6 <= s.H && w0 >= 0 && w0 + 6 <= s.W;
  T e[6][6], d[6], r[6];  // e = each row of the tile times B
  for (int a = 0; a < 6; a++) {
    const int64_t h = h0 + a;
    for (int b = 0; b < 6; b++) {
      const int64_t c = w0 + b;
      d[b] = inside || (h >= 0 && h < s.H && c >= 0 && c < s.W) ? load<T>(map + (h * s.W + c) * L) : zero<T>();
    }
    inputRow(d, e[a]);
  }
  const size_t plane = s.vFloats() / s.P;
  float* v = V + i * s.Cp + cb * L;
  for (int b = 0; b < 6; b++) {
    for (int a = 0; a < 6; a++) d[a] = e[a][b];
    inputRow(d, r);
    for (int a = 0; a < 6; a++) store(v + (a * 6 + b) * plane, r[a]);
  }
}

// out[k][j] = (A^T M A)[k][j] of one tile's 36 products for a vector of outputs, M[p] at mi + p *
// plane: 4x4 outputs (F(4x4, 3x3), m 4) or 2x2 (F(2x2, 5x5), m 2).
template <class T>
inline void outputTile(const float* mi, size_t plane, int64_t m, T out[4][4]) {
  T a[4][6], column[6], r[4];  // a = A^T M, down each column
  for (int j = 0; j < 6; j++) {
    for (int q = 0; q < 6; q++) column[q] = load<T>(mi + (q * 6 + j) * plane);
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
