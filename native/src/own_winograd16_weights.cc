// The backward weights of convkit's Winograd F(4x4, 3x3) on 16-channel blocks for AVX-512 builds ('own4' there:
// ownConv3x3BackwardWeightsPlan with tile 4, own_conv_weights.cc): nChw16c maps and gradients, OIhw16i16o weight
// gradients, as the forwards of own_winograd16.cc read them. The algebra is own_winograd_weights.cc's (the AVX2
// kernel on 8-channel blocks): Z = A dY A^T per tile, dU[p] = sum over tiles of V[p]^T Z[p] (16 input channels x 16
// outputs in zmm accumulators), dg = G^T dU G. Each thread sums its own groups of tiles into its own copy of dU (the
// fused schedule: where U fits six L2 caches), prefetching the next group's input and output-gradient rows as the
// forward does; the copies are added in the last step. Inputs holding a NaN or an infinity run own_conv_weights.cc's
// direct kernel instead.
#include "own_winograd16.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "finite_memo.h"
#include "own_winograd_6pt.h"
#include "own_winograd_tiles.h"
#endif

namespace convkit {

using namespace convplan;

#ifdef __AVX512F__

namespace {

using namespace winograd;

// Z[p][i][ob * 16 ..] = A dY A^T of tile t (the i-th of its group) for output block ob, from its 4x4 output gradients.
void gradientTile(const float* dy, float* Z, const Sizes& s, int64_t t, int64_t i, int64_t ob) {
  const size_t plane = s.mFloats() / s.P;
  float* z = Z + (i * s.OB + ob) * 16;
  const Tile at = tileAt(s, t);
  const float* map = dy + (at.n * s.OB + ob) * s.H * s.W * 16;
  __m512 e[6][4], d[4], r[6];  // e = A dY, down each column
  for (int b = 0; b < 4; b++) {
    const int64_t w = 4 * at.tw + b;
    for (int a = 0; a < 4; a++) {
      const int64_t h = 4 * at.th + a;
      d[a] = h < s.H && w < s.W ? _mm512_loadu_ps(map + (h * s.W + w) * 16) : _mm512_setzero_ps();
    }
    six::gradientRow(d, r);
    for (int q = 0; q < 6; q++) e[q][b] = r[q];
  }
  for (int q = 0; q < 6; q++) {
    six::gradientRow(e[q], r);
    for (int j = 0; j < 6; j++) _mm512_storeu_ps(z + (q * 6 + j) * plane, r[j]);
  }
}

// du[16 channels][16 outputs] += sum over `count` tiles of v[tile][16 channels] z[tile][16 outputs].
void gradientProduct(const float* v, const float* z, float* du, int64_t count, int64_t ldv, int64_t ldz) {
  __m512 acc[16];
  const __m512 z0 = _mm512_loadu_ps(z);
  for (int r = 0; r < 16; r++) acc[r] = _mm512_mul_ps(_mm512_set1_ps(v[r]), z0);
  for (int64_t t = 1; t < count; t++) {
    const float* vt = v + t * ldv;
    const __m512 zt = _mm512_loadu_ps(z + t * ldz);
    for (int r = 0; r < 16; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(vt[r]), zt, acc[r]);
  }
  for (int r = 0; r < 16; r++) _mm512_storeu_ps(du + r * 16, _mm512_add_ps(_mm512_loadu_ps(du + r * 16), acc[r]));
}

// dU[p][ob][..][16] += the group's sums for every input channel.
void gradientProductOf(const float* V, const float* Z, float* dU, const Sizes& s, int64_t count, int64_t p,
                       int64_t ob) {
  const float* v = V + p * (s.vFloats() / s.P);
  const float* z = Z + p * (s.mFloats() / s.P) + ob * 16;
  float* du = dU + p * (s.uFloats() / s.P) + ob * s.Cp * 16;
  for (int64_t c = 0; c < s.Cp; c += 16) gradientProduct(v + c, z, du + c * 16, count, s.Cp, s.OB * 16);
}

// dw (OIhw16i16o) = G^T dU G, dU summed over its `copies`; padding (past the input or output channels) written as
// zeros.
void weightGradient(const float* dU, int copies, float* dw, const Sizes& s) {
  const size_t plane = s.uFloats() / s.P;
#pragma omp for collapse(2) schedule(static)
  for (int64_t ob = 0; ob < s.OB; ob++) {
    for (int64_t c = 0; c < s.Cp; c++) {
      float* out = dw + (ob * s.CB + c / 16) * 9 * 256 + (c % 16) * 16;
      if (c >= s.C) {
        for (int k = 0; k < 9; k++) _mm512_storeu_ps(out + k * 256, _mm512_setzero_ps());
        continue;
      }
      const float* from = dU + (ob * s.Cp + c) * 16;
      __m512 r[3][6], column[6], three[3];  // r = G^T dU, down each column
      for (int q = 0; q < 6; q++) {
        for (int p = 0; p < 6; p++) {
          const size_t at = (p * 6 + q) * plane;
          __m512 sum = _mm512_loadu_ps(from + at);
          for (int k = 1; k < copies; k++) sum = _mm512_add_ps(sum, _mm512_loadu_ps(from + k * s.uFloats() + at));
          column[p] = sum;
        }
        six::weightGradientRow(column, three);
        for (int kh = 0; kh < 3; kh++) r[kh][q] = three[kh];
      }
      const __mmask16 keep = simd::firstLanes(s.O - ob * 16);
      for (int kh = 0; kh < 3; kh++) {
        six::weightGradientRow(r[kh], three);
        for (int kw = 0; kw < 3; kw++)
          _mm512_storeu_ps(out + (kh * 3 + kw) * 256, _mm512_maskz_mov_ps(keep, three[kw]));
      }
    }
  }
}

void backwardWeights(const float* x, const float* dy, float* dw, const Sizes& s) {
  Scratch& sc = scratch();
  std::lock_guard<std::mutex> hold(sc.lock);
  const int threads = omp_get_max_threads();
  float* dU = sc.u.atLeast(s.uFloats() * threads);
  float* V = sc.v.atLeast(s.vFloats() * threads);
  float* Z = sc.m.atLeast(s.mFloats() * threads);
  const int64_t groups = (s.T + s.group - 1) / s.group;
#pragma omp parallel num_threads(threads)
  {
    const int me = omp_get_thread_num();
    float *v = V + me * s.vFloats(), *z = Z + me * s.mFloats(), *du = dU + me * s.uFloats();
    std::memset(du, 0, s.uFloats() * sizeof(float));
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; g++) {
      const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
      for (int64_t i = 0; i < count; i++) {
        for (int64_t cb = 0; cb < s.CB; cb++) six::inputTile<__m512>(x, v, s, t0 + i, i, cb);
        for (int64_t ob = 0; ob < s.OB; ob++) gradientTile(dy, z, s, t0 + i, i, ob);
      }
      // The next group's input and output-gradient rows, a share before each position's products (as the forward).
      const int64_t next = t0 + s.group, nextCount = std::min(s.group, s.T - next);
      RowLines in(x, s, next, nextCount, s.CB, -1, 6), grad(dy, s, next, nextCount, s.OB, 0, 4);
      for (int64_t p = 0; p < s.P; p++) {
        in.prefetchShare(false);
        grad.prefetchShare(false);
        for (int64_t ob = 0; ob < s.OB; ob++) gradientProductOf(v, z, du, s, count, p, ob);
      }
    }
    weightGradient(dU, threads, dw, s);  // after the loop's barrier: every copy summed
  }
}

}  // namespace

Napi::Value OwnWinograd16WeightsPlan(const Napi::CallbackInfo& info, const ConvGeometry& g) {
  const auto [src, diffDst, diffWeights] = ownConvDescsOf(g, ownWinograd16Runs(g), 16);
  Plan plan = readTwoWriteOnePlan("ownConv3x3BackwardWeights", {src, diffDst, diffWeights});
  const Sizes s = sizesOf(g, 4, 16);
  const int64_t srcFloats = floatsOf(src), diffDstFloats = floatsOf(diffDst);
  plan.customScanned = [g, s, srcFloats, diffDstFloats](const std::vector<void*>& buffers, FiniteMemo* memo) {
    const auto* x = static_cast<const float*>(buffers[0]);
    const auto* dy = static_cast<const float*>(buffers[1]);
    auto* dw = static_cast<float*>(buffers[2]);
    if (nonFiniteIn(memo, x, srcFloats) || nonFiniteIn(memo, dy, diffDstFloats))
      ownConv3x3DirectWeights(x, dy, dw, g);
    else
      backwardWeights(x, dy, dw, s);
  };
  Napi::Object result = planResult(
      info.Env(), registerPlan(std::move(plan)),
      {{"src", internDesc(src)}, {"diffDst", internDesc(diffDst)}, {"diffWeights", internDesc(diffWeights)}});
  result.Set("impl", Napi::String::New(info.Env(), "convkit:avx512_wino_4x3"));
  return result;
}

#else

Napi::Value OwnWinograd16WeightsPlan(const Napi::CallbackInfo&, const ConvGeometry&) {
  throw std::invalid_argument("convkit has no own4 implementation for this convolution's backward weights on this CPU");
}

#endif

}  // namespace convkit
