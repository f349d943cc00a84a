// The backward weights of convkit's Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions for AVX2
// builds (own_winograd.cc has the forwards and the algebra, own_winograd_6pt.h the six-point
// transforms). With X = U . V per tile (U = G g G^T the transformed weights, V = B^T d B the
// transformed input) and y = A^T X A, the gradients are
//   dX = A dY A^T    (Z: 16 or 36 numbers per tile and output channel, from its output gradients)
//   dU = sum over tiles of dX . V, for each of the 16 or 36 positions a matrix product over the tiles
//   dg = G^T dU G    (the 3x3 weight gradient)
// so the backward weights does 16 products per 2x2 tile where direct does 36, or 36 per 4x4 tile
// where direct does 144, as the forwards.
// Where dU fits this core's L2 cache each thread sums its own groups of tiles into its own copy
// (added up in the last step); otherwise both threads share each step, split by position.
// Inputs holding a NaN or an infinity run an exact direct loop instead (the tiles would mix it).
#include <cstring>

#include "finite_memo.h"
#include "own_winograd.h"
#include "own_winograd_6pt.h"
#include "own_winograd_tiles.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <omp.h>
#endif

namespace convkit {

using namespace convplan;

#if defined(__AVX2__) && defined(__FMA__)

namespace {

using namespace winograd;

// z = A d for M vectors d (M outputs per tile side): F(2x2, 3x3)'s A (4 rows) or F(4x4, 3x3)'s (6,
// own_winograd_6pt.h); A's rows are A^T's columns.
template <int M>
inline void timesA(const __m256 d[M], __m256 z[M + 2]) {
  if constexpr (M == 2) {
    z[0] = d[0];
    z[1] = _mm256_add_ps(d[0], d[1]);
    z[2] = _mm256_sub_ps(d[0], d[1]);
    z[3] = _mm256_sub_ps(_mm256_setzero_ps(), d[1]);
  } else {
    six::gradientRow(d, z);
  }
}

// Z[p][i][ob * 8 ..] = A dY A^T of tile t (the i-th of its group) for one 8-channel block, from its
// M x M output gradients ((M + 2)^2 positions p); zeros for the block past the last of an odd count
// (a 16-output group's empty half).
template <int M>
void gradientTile(const float* dy, float* Z, const Sizes& s, int64_t t, int64_t i, int64_t ob) {
  constexpr int A = M + 2;
  const size_t plane = s.mFloats() / (A * A);
  float* z = Z + i * s.O16 * 16 + ob * 8;
  if (ob >= s.OB) {
    for (int p = 0; p < A * A; p++) _mm256_storeu_ps(z + p * plane, _mm256_setzero_ps());
    return;
  }
  const Tile at = tileAt(s, t);
  const float* map = dy + (at.n * s.OB + ob) * s.H * s.W * 8;
  __m256 e[A][M], d[M], r[A];  // e = A dY, down each column
  for (int b = 0; b < M; b++) {
    const int64_t w = M * at.tw + b;
    for (int a = 0; a < M; a++) {
      const int64_t h = M * at.th + a;
      d[a] = h < s.H && w < s.W ? _mm256_loadu_ps(map + (h * s.W + w) * 8) : _mm256_setzero_ps();
    }
    timesA<M>(d, r);
    for (int q = 0; q < A; q++) e[q][b] = r[q];
  }
  for (int q = 0; q < A; q++) {
    timesA<M>(e[q], r);
    for (int j = 0; j < A; j++) _mm256_storeu_ps(z + (q * A + j) * plane, r[j]);
  }
}

// du[R channels][16] += sum over `count` tiles of v[tile][R channels] z[tile][16].
template <int R>
void gradientProduct(const float* v, const float* z, float* du, int64_t count, int64_t ldv, int64_t ldz) {
  static_assert(R >= 1 && R <= 6, "six rows of two vectors: 12 of the 16 ymm registers");
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00,
         a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int64_t t = 0; t < count; t++) {
    const float* vt = v + t * ldv;
    const __m256 z0 = _mm256_loadu_ps(z + t * ldz), z1 = _mm256_loadu_ps(z + t * ldz + 8);
    __m256 b = _mm256_broadcast_ss(vt);
    a00 = _mm256_fmadd_ps(b, z0, a00), a01 = _mm256_fmadd_ps(b, z1, a01);
    if constexpr (R > 1)
      b = _mm256_broadcast_ss(vt + 1), a10 = _mm256_fmadd_ps(b, z0, a10), a11 = _mm256_fmadd_ps(b, z1, a11);
    if constexpr (R > 2)
      b = _mm256_broadcast_ss(vt + 2), a20 = _mm256_fmadd_ps(b, z0, a20), a21 = _mm256_fmadd_ps(b, z1, a21);
    if constexpr (R > 3)
      b = _mm256_broadcast_ss(vt + 3), a30 = _mm256_fmadd_ps(b, z0, a30), a31 = _mm256_fmadd_ps(b, z1, a31);
    if constexpr (R > 4)
      b = _mm256_broadcast_ss(vt + 4), a40 = _mm256_fmadd_ps(b, z0, a40), a41 = _mm256_fmadd_ps(b, z1, a41);
    if constexpr (R > 5)
      b = _mm256_broadcast_ss(vt + 5), a50 = _mm256_fmadd_ps(b, z0, a50), a51 = _mm256_fmadd_ps(b, z1, a51);
  }
  const __m256 rows[6][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}, {a40, a41}, {a50, a51}};
  for (int r = 0; r < R; r++) {
    _mm256_storeu_ps(du + r * 16, _mm256_add_ps(_mm256_loadu_ps(du + r * 16), rows[r][0]));
    _mm256_storeu_ps(du + r * 16 + 8, _mm256_add_ps(_mm256_loadu_ps(du + r * 16 + 8), rows[r][1]));
  }
}

// dU[p][o16][..][16] += the group's sums for every input channel.
void gradientProductOf(const float* V, const float* Z, float* dU, const Sizes& s, int64_t count, int64_t p,
                       int64_t o16) {
  const float* v = V + p * (s.vFloats() / s.P);
  const float* z = Z + p * (s.mFloats() / s.P) + o16 * 16;
  float* du = dU + p * (s.uFloats() / s.P) + o16 * s.Cp * 16;
  const int64_t ldz = s.O16 * 16;
  int64_t c = 0;
  for (; c + 6 <= s.Cp; c += 6) gradientProduct<6>(v + c, z, du + c * 16, count, s.Cp, ldz);
  switch (s.Cp - c) {  // Cp is a multiple of 8: 2 or 4 left, or none
    case 4:
      return gradientProduct<4>(v + c, z, du + c * 16, count, s.Cp, ldz);
    case 2:
      return gradientProduct<2>(v + c, z, du + c * 16, count, s.Cp, ldz);
    default:
      return;
  }
}

// r = G^T u for A vectors u (a row or a column of dU): F(2x2, 3x3)'s G (A 4) or F(4x4, 3x3)'s (A 6,
// own_winograd_6pt.h).
template <int A>
inline void weightGradientRow(const __m256 u[A], __m256 r[3]) {
  if constexpr (A == 4) {
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256 mid = _mm256_mul_ps(half, _mm256_add_ps(u[1], u[2]));
    r[0] = _mm256_add_ps(u[0], mid);
    r[1] = _mm256_mul_ps(half, _mm256_sub_ps(u[1], u[2]));
    r[2] = _mm256_add_ps(mid, u[3]);
  } else {
    six::weightGradientRow(u, r);
  }
}

// dw (OIhw8i8o) = G^T dU G of an A x A tile (4: F(2x2, 3x3), 6: F(4x4, 3x3)), dU summed over its
// `copies`; padding lanes (past the input or output channels) written as zeros.
template <int A>
void weightGradient(const float* dU, int copies, float* dw, const Sizes& s) {
  const size_t plane = s.uFloats() / (A * A);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma omp for collapse(2) schedule(static)
  for (int64_t ob = 0; ob < s.OB; ob++) {
    for (int64_t c = 0; c < s.Cp; c++) {
      float* out = dw + (ob * s.CB + c / 8) * 9 * 64 + (c % 8) * 8;
      if (c >= s.C) {
        for (int k = 0; k < 9; k++) _mm256_storeu_ps(out + k * 64, zero);
        continue;
      }
      const float* from = dU + ((ob / 2) * s.Cp + c) * 16 + (ob % 2) * 8;
      __m256 r[3][A], column[A], three[3];  // r = G^T dU, down each column
      for (int q = 0; q < A; q++) {
        for (int p = 0; p < A; p++) {
          const size_t at = (p * A + q) * plane;
          __m256 sum = _mm256_loadu_ps(from + at);
          for (int k = 1; k < copies; k++) sum = _mm256_add_ps(sum, _mm256_loadu_ps(from + k * s.uFloats() + at));
          column[p] = sum;
        }
        weightGradientRow<A>(column, three);
        for (int kh = 0; kh < 3; kh++) r[kh][q] = three[kh];
      }
      const int64_t real = std::min<int64_t>(8, s.O - ob * 8);
      const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(real)), lane));
      for (int kh = 0; kh < 3; kh++) {
        weightGradientRow<A>(r[kh], three);
        for (int kw = 0; kw < 3; kw++) _mm256_storeu_ps(out + (kh * 3 + kw) * 64, _mm256_and_ps(three[kw], keep));
      }
    }
  }
}

void backwardWeights(const float* x, const float* dy, float* dw, const Sizes& s) {
  const auto transformInput = s.m == 4 ? six::inputTile<__m256> : inputTile;
  const auto transformGradient = s.m == 4 ? gradientTile<4> : gradientTile<2>;
  Scratch& sc = scratch();
  std::lock_guard<std::mutex> hold(sc.lock);
  const int threads = omp_get_max_threads();
  const int copies = s.fused ? threads : 1;
  float* dU = sc.u.atLeast(s.uFloats() * copies);
  float* V = sc.v.atLeast(s.vFloats() * copies);
  float* Z = sc.m.atLeast(s.mFloats() * copies);
  const int64_t groups = (s.T + s.group - 1) / s.group;
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int k = 0; k < copies; k++) std::memset(dU + k * s.uFloats(), 0, s.uFloats() * sizeof(float));
    if (s.fused) {
      const int me = omp_get_thread_num();
      float *v = V + me * s.vFloats(), *z = Z + me * s.mFloats(), *du = dU + me * s.uFloats();
#pragma omp for schedule(static)
      for (int64_t g = 0; g < groups; g++) {
        const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
        for (int64_t i = 0; i < count; i++) {
          for (int64_t cb = 0; cb < s.CB; cb++) transformInput(x, v, s, t0 + i, i, cb);
          for (int64_t ob = 0; ob < 2 * s.O16; ob++) transformGradient(dy, z, s, t0 + i, i, ob);
        }
        // The next group's input and output-gradient rows, a share before each position's products.
        const int64_t next = t0 + s.group, nextCount = std::min(s.group, s.T - next);
        RowLines in(x, s, next, nextCount, s.CB, -1, s.m + 2, 8), grad(dy, s, next, nextCount, s.OB, 0, s.m, 8);
        for (int64_t p = 0; p < s.P; p++) {
          in.prefetchShare(false);
          grad.prefetchShare(false);
          for (int64_t o16 = 0; o16 < s.O16; o16++) gradientProductOf(v, z, du, s, count, p, o16);
        }
      }
    } else {
      for (int64_t g = 0; g < groups; g++) {
        const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
#pragma omp for collapse(2) schedule(static) nowait
        for (int64_t i = 0; i < count; i++)
          for (int64_t cb = 0; cb < s.CB; cb++) transformInput(x, V, s, t0 + i, i, cb);
#pragma omp for collapse(2) schedule(static)
        for (int64_t i = 0; i < count; i++)
          for (int64_t ob = 0; ob < 2 * s.O16; ob++) transformGradient(dy, Z, s, t0 + i, i, ob);
#pragma omp for collapse(2) schedule(static)
        for (int64_t p = 0; p < s.P; p++)
          for (int64_t o16 = 0; o16 < s.O16; o16++) gradientProductOf(V, Z, dU, s, count, p, o16);
      }
    }
    if (s.m == 4)
      weightGradient<6>(dU, copies, dw, s);
    else
      weightGradient<4>(dU, copies, dw, s);
  }
}

// The direct sums, as oneDNN's direct kernel takes them for non-finite values: every product of
// an input inside the map with an output gradient, none with the padding.
void directWeights(const float* x, const float* dy, float* dw, const Sizes& s) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t ob = 0; ob < s.OB; ob++)
    for (int64_t cb = 0; cb < s.CB; cb++) {
      float acc[9][8][8] = {};  // tap, input lane, output lane
      for (int64_t n = 0; n < s.N; n++)
        for (int64_t oh = 0; oh < s.H; oh++)
          for (int64_t ow = 0; ow < s.W; ow++) {
            const float* g = dy + (((n * s.OB + ob) * s.H + oh) * s.W + ow) * 8;
            for (int64_t kh = 0; kh < 3; kh++)
              for (int64_t kw = 0; kw < 3; kw++) {
                const int64_t ih = oh + kh - 1, iw = ow + kw - 1;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const float* in = x + (((n * s.CB + cb) * s.H + ih) * s.W + iw) * 8;
                for (int ic = 0; ic < 8; ic++)
                  for (int oc = 0; oc < 8; oc++) acc[kh * 3 + kw][ic][oc] += in[ic] * g[oc];
              }
          }
      float* out = dw + (ob * s.CB + cb) * 9 * 64;
      for (int k = 0; k < 9; k++)
        for (int ic = 0; ic < 8; ic++)
          for (int oc = 0; oc < 8; oc++)
            out[k * 64 + ic * 8 + oc] = cb * 8 + ic < s.C && ob * 8 + oc < s.O ? acc[k][ic][oc] : 0.0f;
    }
}

}  // namespace

void ownWinogradWeightsCustom(Plan& plan, const ConvGeometry& g, int64_t tile) {
  const Sizes s = sizesOf(g, tile);
  const int64_t srcFloats = floatsOf(plan.descs[0]), diffDstFloats = floatsOf(plan.descs[1]);
  plan.customScanned = [s, srcFloats, diffDstFloats](const std::vector<void*>& buffers, FiniteMemo* memo) {
    const auto* x = static_cast<const float*>(buffers[0]);
    const auto* dy = static_cast<const float*>(buffers[1]);
    auto* dw = static_cast<float*>(buffers[2]);
    if (nonFiniteIn(memo, x, srcFloats) || nonFiniteIn(memo, dy, diffDstFloats))
      directWeights(x, dy, dw, s);
    else
      backwardWeights(x, dy, dw, s);
  };
}

#else

void ownWinogradWeightsCustom(Plan&, const ConvGeometry&, int64_t) {}

#endif

// ownWinograd3x3BackwardWeightsPlan(geometry, { tile? }?) -> { plan, src, diffDst, diffWeights, impl }:
// buffers [src nChw8c, diffDst nChw8c, diffWeights OIhw8i8o], no bias; F(2x2, 3x3) or (tile 4)
// F(4x4, 3x3). The 3x3 shapes, builds and error of ownWinogradPlan (own_winograd.cc); the AVX2
// build's ownConv3x3BackwardWeightsPlan.
Napi::Value OwnWinograd3x3BackwardWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "ownWinograd3x3BackwardWeights";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const int64_t tile = winogradTileArg(info, 1, op);
    // F(2x2, 3x3) only: a 5x5 conv's backward weights stays oneDNN's.
    const auto [src, diffDst, diffWeights] = ownConvDescsOf(g, ownWinogradRuns(g) && ownConv3x3Shape(g), 8);
    Plan plan = readTwoWriteOnePlan(op, {src, diffDst, diffWeights});
    ownWinogradWeightsCustom(plan, g, tile);
    Napi::Object result = planResult(
        info.Env(), registerPlan(std::move(plan)),
        {{"src", internDesc(src)}, {"diffDst", internDesc(diffDst)}, {"diffWeights", internDesc(diffWeights)}});
    result.Set("impl", Napi::String::New(info.Env(), tile == 4 ? "convkit:avx2_wino_4x3" : "convkit:avx2_wino_2x3"));
    return result;
  });
}
CONVKIT_EXPORT(ownWinograd3x3BackwardWeightsPlan, OwnWinograd3x3BackwardWeightsPlan);

}  // namespace convkit
