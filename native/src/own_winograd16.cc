// convkit's Winograd F(4x4, 3x3) on 16-channel blocks for AVX-512 builds ('own4' there: ownConvPlan with tile 4,
// own_conv.cc): nChw16c maps and OIhw16i16o weights, the layouts of oneDNN's AVX-512 kernels, so that it runs between
// them with no reorder: inference, and in training its forward and the backward data (the forward of the transposed
// conv; own_winograd16_weights.cc has the backward weights). The
// AVX2 kernel on 8-channel blocks (own_winograd.cc) ran CIFAR ResNet's 16-channel convs on Zen 4 no faster than
// direct (2.4-2.6 ms at batch 128 against 2.6-2.8): its transforms took 60 % of the time, in twice the instructions
// of 16-lane vectors, and its maps are nChw8c where oneDNN's AVX-512 kernels write nChw16c. The steps, the
// interpolation points and the transforms are own_winograd.cc's (own_winograd_6pt.h), at 16 lanes: U = G g G^T made at
// each call in training (weights change at every step), once per weight version in inference (the transform plan of
// 16 lanes, kept by the caller), then per group of tiles V = B^T d B, M[p] = V[p] U[p] (12 tiles x 16
// outputs, or 6 x 32, in zmm accumulators) and Y = A^T M A with the bias, an addend and the ReLU. Each thread runs all
// steps on its own groups, so V and M stay in its L2; it runs where U fits six L2 caches (own_winograd_tiles.h's fused
// schedule), elsewhere ownConvPlan gives the AVX2 kernel. Inputs holding a NaN or an infinity run own_conv.cc's direct
// kernel instead, which has them where oneDNN's direct kernel does.
#include "own_winograd16.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <omp.h>

#include <algorithm>

#include "finite_memo.h"
#include "own_winograd_6pt.h"
#include "own_winograd_tiles.h"
#endif

namespace convkit {

using namespace convplan;

#ifdef __AVX512F__

namespace {

using namespace winograd;

constexpr int64_t kLanes = 16;

Sizes sizes16Of(const ConvGeometry& g) {
  return sizesOf(g, 4, kLanes);
}

// U[p][ob][c][16 outputs] from OIhw16i16o weights (the padded lanes of the layout are zeros).
void transformWeights(const float* w, float* U, const Sizes& s) {
  const size_t plane = s.uFloats() / s.P;
#pragma omp for collapse(2) schedule(static)
  for (int64_t ob = 0; ob < s.OB; ob++) {
    for (int64_t c = 0; c < s.Cp; c++) {
      __m512 g[9];
      for (int k = 0; k < 9; k++) g[k] = _mm512_loadu_ps(w + ((ob * s.CB + c / 16) * 9 + k) * 256 + (c % 16) * 16);
      six::weightTile<3>(g, U + (ob * s.Cp + c) * 16, plane);
    }
  }
}

// m[R rows][K blocks of 16] = v[R rows][Cp] u[Cp][K blocks] (block k of u at u + k * ldu, of m at + k * 16).
template <int R, int K>
void product(const float* v, const float* u, float* m, int64_t Cp, int64_t ldu, int64_t ldm) {
  static_assert(R * K <= 24, "accumulators and weight rows within the 32 zmm registers");
  __m512 acc[R][K];
  for (int i = 0; i < R; i++)
    for (int k = 0; k < K; k++) acc[i][k] = _mm512_setzero_ps();
  for (int64_t c = 0; c < Cp; c++) {
    __m512 w[K];
    for (int k = 0; k < K; k++) w[k] = _mm512_loadu_ps(u + k * ldu + c * 16);
    for (int i = 0; i < R; i++) {
      const __m512 b = _mm512_set1_ps(v[i * Cp + c]);
      for (int k = 0; k < K; k++) acc[i][k] = _mm512_fmadd_ps(b, w[k], acc[i][k]);
    }
  }
  for (int i = 0; i < R; i++)
    for (int k = 0; k < K; k++) _mm512_storeu_ps(m + i * ldm + k * 16, acc[i][k]);
}

// `rows` rows (up to R) of product<R, K>, R rows at a time.
template <int R, int K>
void productRows(const float* v, const float* u, float* m, int64_t rows, const Sizes& s) {
  const int64_t ldu = s.Cp * 16, ldm = s.OB * 16;
  int64_t i = 0;
  for (; i + R <= rows; i += R) product<R, K>(v + i * s.Cp, u, m + i * ldm, s.Cp, ldu, ldm);
  if constexpr (R > 1) {
    if (i < rows) {
      // The rest (fewer than R rows): R / 2 of them in one call where that many are left, then one a call.
      const int64_t left = rows - i;
      if (left >= R / 2) {
        product<R / 2, K>(v + i * s.Cp, u, m + i * ldm, s.Cp, ldu, ldm);
        i += R / 2;
      }
      for (; i < rows; i++) product<1, K>(v + i * s.Cp, u, m + i * ldm, s.Cp, ldu, ldm);
    }
  }
}

// M[p][i][..] = V[p][i][..] U[p] for the `count` tiles of a group: two output blocks at a time (6 rows), the last odd
// one alone (12 rows).
void productOf(const float* V, const float* U, float* M, const Sizes& s, int64_t count, int64_t p) {
  const float* v = V + p * (s.vFloats() / s.P);
  const float* u = U + p * (s.uFloats() / s.P);
  float* m = M + p * (s.mFloats() / s.P);
  int64_t ob = 0;
  for (; ob + 2 <= s.OB; ob += 2) productRows<6, 2>(v, u + ob * s.Cp * 16, m + ob * 16, count, s);
  if (ob < s.OB) productRows<12, 1>(v, u + ob * s.Cp * 16, m + ob * 16, count, s);
}

// The 4x4 outputs of tile t (the i-th of its group) for output block ob; lanes past the output channels are written as
// zeros, as oneDNN's layouts want their padding.
void outputTile(const float* M, float* y, const Sizes& s, const Epilogue& e, int64_t t, int64_t i, int64_t ob) {
  const Tile at = tileAt(s, t);
  __m512 out[4][4];
  six::outputTile(M + (i * s.OB + ob) * 16, s.mFloats() / s.P, 4, out);
  const __mmask16 keep = simd::firstLanes(s.O - ob * 16);
  const __m512 bias = e.bias ? _mm512_maskz_loadu_ps(keep, e.bias + ob * 16) : _mm512_setzero_ps();
  const int64_t mapOffset = (at.n * s.OB + ob) * s.H * s.W * 16;
  for (int k = 0; k < 4 && 4 * at.th + k < s.H; k++) {
    const int64_t h = 4 * at.th + k;
    for (int j = 0; j < 4 && 4 * at.tw + j < s.W; j++) {
      const int64_t offset = mapOffset + (h * s.W + 4 * at.tw + j) * 16;
      __m512 v = _mm512_add_ps(out[k][j], bias);
      if (e.addend) v = _mm512_add_ps(v, _mm512_loadu_ps(e.addend + offset));
      if (e.relu)
        v = _mm512_maskz_max_ps(0xffff, _mm512_setzero_ps(), v);  // maxps returns its second operand, a NaN, as is
      _mm512_storeu_ps(y + offset, _mm512_maskz_mov_ps(keep, v));
    }
  }
}

// The forward from weights `w` (OIhw16i16o), or from their transform `transformed` where not null.
void forward(const float* x, const float* w, const float* transformed, float* y, const Sizes& s, const Epilogue& e) {
  Scratch& sc = scratch();
  std::lock_guard<std::mutex> hold(sc.lock);
  const int threads = omp_get_max_threads();
  float* made = transformed ? nullptr : sc.u.atLeast(s.uFloats());  // U made here, in training
  const float* U = transformed ? transformed : made;
  float* V = sc.v.atLeast(s.vFloats() * threads);
  float* M = sc.m.atLeast(s.mFloats() * threads);
  const int64_t groups = (s.T + s.group - 1) / s.group;
#pragma omp parallel num_threads(threads)
  {
    if (made) transformWeights(w, made, s);  // ends in a barrier
    float* v = V + omp_get_thread_num() * s.vFloats();
    float* m = M + omp_get_thread_num() * s.mFloats();
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; g++) {
      const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
      for (int64_t i = 0; i < count; i++)
        for (int64_t cb = 0; cb < s.CB; cb++) six::inputTile<__m512>(x, v, s, t0 + i, i, cb);
      // The next group's input and this group's output, a share before each position's products: without them the
      // products waited on memory (in a training step, 2.2-2.5 ms against 1.7-1.9 on maps in the cache).
      RowLines in(x, s, t0 + s.group, std::min(s.group, s.T - t0 - s.group), s.CB, -1, 6);
      RowLines out(y, s, t0, count, s.OB, 0, 4);
      for (int64_t p = 0; p < s.P; p++) {
        in.prefetchShare(false);
        out.prefetchShare(true);
        productOf(v, U, m, s, count, p);
      }
      for (int64_t i = 0; i < count; i++)
        for (int64_t ob = 0; ob < s.OB; ob++) outputTile(m, y, s, e, t0 + i, i, ob);
    }
  }
}

// The direct sum, where an input holds a NaN or an infinity: own_conv.cc's kernel with the bias, then the addend and
// the ReLU.
void direct(const float* x, const float* w, float* y, const ConvGeometry& g, const Sizes& s, const Epilogue& e) {
  ownConv3x3Direct(x, w, e.bias, e.relu && !e.addend, y, g);
  if (!e.addend) return;
  const int64_t vectors = s.N * s.OB * s.H * s.W;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < vectors; k++) {
    const int64_t ob = k / (s.H * s.W) % s.OB;
    const __mmask16 keep = simd::firstLanes(s.O - ob * 16);
    __m512 v = _mm512_add_ps(_mm512_loadu_ps(y + k * 16), _mm512_loadu_ps(e.addend + k * 16));
    if (e.relu) v = _mm512_maskz_max_ps(0xffff, _mm512_setzero_ps(), v);
    _mm512_storeu_ps(y + k * 16, _mm512_maskz_mov_ps(keep, v));
  }
}

}  // namespace

bool ownWinograd16Runs(const ConvGeometry& g) {
  return ownConv3x3Shape(g) && sizes16Of(g).fused;
}

Napi::Value OwnWinograd16Plan(const Napi::CallbackInfo& info, const ConvGeometry& g, const OwnPostOps& post) {
  const auto [src, dst, weights] = ownConvDescsOf(g, ownWinograd16Runs(g), 16);
  Plan plan;
  plan.name = "ownConv";
  plan.descs = {src, post.transformed ? transformedWeightsDesc(g, 4, kLanes) : weights};
  if (post.bias) plan.descs.push_back(plainDescOf({g.O}));
  plan.descs.push_back(dst);
  if (post.sum) plan.descs.push_back(dst);
  if (post.transformed) plan.descs.push_back(weights);  // guardWeights, last
  const size_t dstAt = post.bias ? 3 : 2, weightsAt = post.transformed ? plan.descs.size() - 1 : 1;
  for (size_t i = 0; i < plan.descs.size(); i++) {
    plan.args.push_back(static_cast<int>(i));
    plan.customReads.push_back(i != dstAt);
  }
  const Sizes s = sizes16Of(g);
  const int64_t srcFloats = floatsOf(src), weightFloats = floatsOf(weights), dstFloats = floatsOf(dst);
  plan.customScanned = [g, s, post, dstAt, weightsAt, srcFloats, weightFloats, dstFloats](
                           const std::vector<void*>& buffers, FiniteMemo* memo) {
    const auto* x = static_cast<const float*>(buffers[0]);
    const auto* w = static_cast<const float*>(buffers[weightsAt]);
    const auto* transformed = post.transformed ? static_cast<const float*>(buffers[1]) : nullptr;
    auto* y = static_cast<float*>(buffers[dstAt]);
    const Epilogue e = epilogueOf(buffers, post.bias, post.sum, post.relu, dstAt);
    if (nonFiniteIn(memo, x, srcFloats) || nonFiniteIn(memo, w, weightFloats) || nonFiniteIn(memo, e, g.O, dstFloats))
      direct(x, w, y, g, s, e);
    else
      forward(x, w, transformed, y, s, e);
  };
  std::vector<std::pair<std::string, int>> descs = {{"src", internDesc(src)}, {"weights", internDesc(plan.descs[1])}};
  if (post.bias) descs.push_back({"bias", internDesc(plan.descs[2])});
  descs.push_back({"dst", internDesc(dst)});
  if (post.sum) descs.push_back({"addend", internDesc(dst)});
  if (post.transformed) descs.push_back({"guardWeights", internDesc(weights)});
  Napi::Object result = planResult(info.Env(), registerPlan(std::move(plan)), descs);
  result.Set("impl", Napi::String::New(info.Env(), "convkit:avx512_wino_4x3"));
  // Its transformed weights are ownWinogradWeightsTransformPlan's of 16 lanes.
  if (post.transformed) result.Set("lanes", Napi::Number::New(info.Env(), kLanes));
  return result;
}

Napi::Value OwnWinograd16WeightsTransformPlan(const Napi::CallbackInfo& info, const ConvGeometry& g, int64_t tile) {
  if (tile != 4 || !ownWinograd16Runs(g))
    throw std::invalid_argument("convkit has no own implementation of 16 lanes for this convolution on this CPU");
  const dnnl::memory::desc weights = ownConvDescsOf(g, true, 16).weights,
                           transformed = transformedWeightsDesc(g, 4, 16);
  Plan plan;
  plan.name = "ownWinogradWeightsTransform";
  plan.descs = {weights, transformed};
  plan.args = {0, 1};
  plan.customReads = {true, false};
  const Sizes s = sizes16Of(g);
  plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
#pragma omp parallel
    transformWeights(static_cast<const float*>(buffers[0]), static_cast<float*>(buffers[1]), s);
  };
  return planResult(info.Env(), registerPlan(std::move(plan)),
                    {{"weights", internDesc(weights)}, {"transformed", internDesc(transformed)}});
}

#else

bool ownWinograd16Runs(const ConvGeometry&) {
  return false;
}
Napi::Value OwnWinograd16Plan(const Napi::CallbackInfo&, const ConvGeometry&, const OwnPostOps&) {
  throw std::invalid_argument("convkit has no own4 implementation for this convolution on this CPU");
}
Napi::Value OwnWinograd16WeightsTransformPlan(const Napi::CallbackInfo&, const ConvGeometry&, int64_t) {
  throw std::invalid_argument("convkit has no own implementation of 16 lanes for this convolution on this CPU");
}

#endif

}  // namespace convkit
