// A Winograd F(2x2, 3x3) convolution of our own on nChw8c maps and OIhw8i8o weights, for
// AVX2 builds ('own' in conv-own.ts on CPUs without AVX-512; own_conv.cc has the AVX-512 kernel;
// 'own4' on every build).
// oneDNN 2.6 has Winograd kernels only for AVX-512, so on an AVX2 host every 3x3 conv ran its
// direct kernel at 85-95 % of the FMA peak with no headroom left; this one does 16 products per
// 2x2 output tile where direct does 36; or (tile 4, 'own4') F(4x4, 3x3), 36 products per 4x4
// output tile where direct does 144; and for 5x5 convs F(2x2, 5x5), 36 per 2x2 where direct does
// 100 (the six-point transforms of own_winograd_6pt.h). Four steps, each over 8-channel vectors
// (the sizes below are F(2x2, 3x3)'s; the others have 36 positions on 6x6 input tiles):
//   U = G g G^T      the weights, 16 numbers per (input, output) channel pair: made at each call
//                    in training (the weights change at every step), once per weight version in
//                    inference (ownWinogradWeightsTransformPlan, kept by the caller);
//   V = B^T d B      each 4x4 input tile (stride 2, the padding as zeros), 16 numbers per channel;
//   M[p] = V[p] U[p] for each of the 16 positions p, a matrix product over the input channels
//                    (6 tiles x 16 output channels in 12 ymm accumulators);
//   Y = A^T M A      the 2x2 outputs of each tile, then the bias, a residual addend and the ReLU.
// Where U fits this core's L2 cache, each thread runs all four steps on its own groups of tiles,
// so V and M never leave the cache; otherwise both threads share each step on larger groups, so
// that U streams from memory once per group. The transforms mix a whole tile, so a NaN or an
// infinity would reach outputs the direct sum keeps it from (and an infinite weight on a padding
// tap would meet the padding's zeros): inputs holding one run an exact direct loop instead.
#include "own_winograd.h"
#include "own_winograd16.h"

#include <algorithm>

#include "finite_memo.h"
#include "own_winograd_6pt.h"
#include "own_winograd_tiles.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <omp.h>
#endif

namespace convkit {

using namespace convplan;

#if defined(__AVX2__) && defined(__FMA__)

namespace {

using namespace winograd;

// U[p][o16][c][16 outputs] from OIhw8i8o weights: two 8-output blocks per 16-output group.
void transformWeights(const float* w, float* U, const Sizes& s) {
  const size_t plane = s.uFloats() / s.P;
  const __m256 half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
#pragma omp for collapse(2) schedule(static)
  for (int64_t o16 = 0; o16 < s.O16; o16++) {
    for (int64_t c = 0; c < s.Cp; c++) {
      float* u = U + (o16 * s.Cp + c) * 16;
      for (int64_t half8 = 0; half8 < 2; half8++) {
        const int64_t ob = 2 * o16 + half8;
        // g[k]: tap k of input channel c for the block's 8 outputs (zeros past the last block).
        const int64_t taps = s.r * s.r;
        __m256 g[25];
        for (int k = 0; k < taps; k++)
          g[k] = ob < s.OB ? _mm256_loadu_ps(w + ((ob * s.CB + c / 8) * taps + k) * 64 + (c % 8) * 8) : zero;
        float* out = u + half8 * 8;
        if (s.r == 5) {
          six::weightTile<5>(g, out, plane);
          continue;
        }
        if (s.m == 4) {
          six::weightTile<3>(g, out, plane);
          continue;
        }
        __m256 t[4][3];
        for (int k = 0; k < 3; k++) {
          const __m256 g02 = _mm256_add_ps(g[k], g[6 + k]);
          t[0][k] = g[k];
          t[1][k] = _mm256_mul_ps(half, _mm256_add_ps(g02, g[3 + k]));
          t[2][k] = _mm256_mul_ps(half, _mm256_sub_ps(g02, g[3 + k]));
          t[3][k] = g[6 + k];
        }
        for (int r = 0; r < 4; r++) {
          const __m256 t02 = _mm256_add_ps(t[r][0], t[r][2]);
          _mm256_storeu_ps(out + (r * 4 + 0) * plane, t[r][0]);
          _mm256_storeu_ps(out + (r * 4 + 1) * plane, _mm256_mul_ps(half, _mm256_add_ps(t02, t[r][1])));
          _mm256_storeu_ps(out + (r * 4 + 2) * plane, _mm256_mul_ps(half, _mm256_sub_ps(t02, t[r][1])));
          _mm256_storeu_ps(out + (r * 4 + 3) * plane, t[r][2]);
        }
      }
    }
  }
}

// m[R rows][16] = v[R rows][Cp] u[Cp][16]. Named accumulators: GCC spilled an array of them.
template <int R>
void product(const float* v, const float* u, float* m, int64_t Cp, int64_t ld) {
  static_assert(R >= 1 && R <= 6, "six rows of two vectors: 12 of the 16 ymm registers");
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00,
         a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  const float *v1 = v + Cp, *v2 = v1 + Cp, *v3 = v2 + Cp, *v4 = v3 + Cp, *v5 = v4 + Cp;
  for (int64_t c = 0; c < Cp; c++) {
    const __m256 u0 = _mm256_loadu_ps(u + c * 16), u1 = _mm256_loadu_ps(u + c * 16 + 8);
    __m256 b = _mm256_broadcast_ss(v + c);
    a00 = _mm256_fmadd_ps(b, u0, a00), a01 = _mm256_fmadd_ps(b, u1, a01);
    if constexpr (R > 1)
      b = _mm256_broadcast_ss(v1 + c), a10 = _mm256_fmadd_ps(b, u0, a10), a11 = _mm256_fmadd_ps(b, u1, a11);
    if constexpr (R > 2)
      b = _mm256_broadcast_ss(v2 + c), a20 = _mm256_fmadd_ps(b, u0, a20), a21 = _mm256_fmadd_ps(b, u1, a21);
    if constexpr (R > 3)
      b = _mm256_broadcast_ss(v3 + c), a30 = _mm256_fmadd_ps(b, u0, a30), a31 = _mm256_fmadd_ps(b, u1, a31);
    if constexpr (R > 4)
      b = _mm256_broadcast_ss(v4 + c), a40 = _mm256_fmadd_ps(b, u0, a40), a41 = _mm256_fmadd_ps(b, u1, a41);
    if constexpr (R > 5)
      b = _mm256_broadcast_ss(v5 + c), a50 = _mm256_fmadd_ps(b, u0, a50), a51 = _mm256_fmadd_ps(b, u1, a51);
  }
  const __m256 rows[6][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}, {a40, a41}, {a50, a51}};
  for (int i = 0; i < R; i++) {
    _mm256_storeu_ps(m + i * ld, rows[i][0]);
    _mm256_storeu_ps(m + i * ld + 8, rows[i][1]);
  }
}

// M[p][tiles][o16 * 16 ..] for `count` tiles of a group.
void productOf(const float* V, const float* U, float* M, const Sizes& s, int64_t count, int64_t p, int64_t o16) {
  const int64_t ld = s.O16 * 16;
  const float* u = U + p * (s.uFloats() / s.P) + o16 * s.Cp * 16;
  const float* v = V + p * (s.vFloats() / s.P);
  float* m = M + p * (s.mFloats() / s.P) + o16 * 16;
  int64_t i = 0;
  for (; i + 6 <= count; i += 6) product<6>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
  switch (count - i) {
    case 5:
      return product<5>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
    case 4:
      return product<4>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
    case 3:
      return product<3>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
    case 2:
      return product<2>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
    case 1:
      return product<1>(v + i * s.Cp, u, m + i * ld, s.Cp, ld);
    default:
      return;
  }
}

// The m x m outputs of tile t (the i-th of its group) for one 8-channel output block; lanes past
// the output channels are written as zeros, as oneDNN's layouts want their padding.
void outputTile(const float* M, float* y, const Sizes& s, const Epilogue& e, int64_t t, int64_t i, int64_t ob) {
  const Tile at = tileAt(s, t);
  const size_t plane = s.mFloats() / s.P;
  const float* mi = M + i * s.O16 * 16 + ob * 8;
  __m256 out[4][4];  // out[k][j]: row k, column j of the tile's outputs
  if (s.P == 36) {
    six::outputTile(mi, plane, s.m, out);
  } else {
    __m256 m[4][4];
    for (int p = 0; p < 16; p++) m[p / 4][p % 4] = _mm256_loadu_ps(mi + p * plane);
    __m256 a[2][4];
    for (int j = 0; j < 4; j++) {
      a[0][j] = _mm256_add_ps(_mm256_add_ps(m[0][j], m[1][j]), m[2][j]);
      a[1][j] = _mm256_sub_ps(_mm256_sub_ps(m[1][j], m[2][j]), m[3][j]);
    }
    for (int k = 0; k < 2; k++) {
      out[k][0] = _mm256_add_ps(_mm256_add_ps(a[k][0], a[k][1]), a[k][2]);
      out[k][1] = _mm256_sub_ps(_mm256_sub_ps(a[k][1], a[k][2]), a[k][3]);
    }
  }
  const int64_t real = std::min<int64_t>(8, s.O - ob * 8);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i keepLanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(real)), lane);
  const __m256 keep = _mm256_castsi256_ps(keepLanes);
  // The bias holds O floats: the last block's load stops there.
  const __m256 bias = e.bias ? _mm256_maskload_ps(e.bias + ob * 8, keepLanes) : _mm256_setzero_ps();
  const int64_t mapOffset = (at.n * s.OB + ob) * s.H * s.W * 8;
  for (int k = 0; k < s.m; k++) {
    const int64_t h = s.m * at.th + k;
    if (h >= s.H) break;
    for (int j = 0; j < s.m; j++) {
      const int64_t w = s.m * at.tw + j;
      if (w >= s.W) break;
      const int64_t offset = mapOffset + (h * s.W + w) * 8;
      __m256 v = _mm256_add_ps(out[k][j], bias);
      if (e.addend) v = _mm256_add_ps(v, _mm256_loadu_ps(e.addend + offset));
      if (e.relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);  // maxps returns its second operand, a NaN, as is
      _mm256_storeu_ps(y + offset, _mm256_and_ps(v, keep));
    }
  }
}

// The input transform of tile t for one 8-channel block: 4x4 tiles, or 6x6 (36 positions).
inline void inputTileOf(const float* x, float* V, const Sizes& s, int64_t t, int64_t i, int64_t cb) {
  if (s.P == 36)
    six::inputTile<__m256>(x, V, s, t, i, cb);
  else
    inputTile(x, V, s, t, i, cb);
}

// The forward from weights `w` (OIhw8i8o), or from their transform `transformed` where not null.
void forward(const float* x, const float* w, const float* transformed, float* y, const Sizes& s, const Epilogue& e) {
  Scratch& sc = scratch();
  std::lock_guard<std::mutex> hold(sc.lock);
  const int threads = omp_get_max_threads();
  const size_t copies = s.fused ? threads : 1;
  float* made = transformed ? nullptr : sc.u.atLeast(s.uFloats());  // U made here, in training
  const float* U = transformed ? transformed : made;
  float* V = sc.v.atLeast(s.vFloats() * copies);
  float* M = sc.m.atLeast(s.mFloats() * copies);
  const int64_t groups = (s.T + s.group - 1) / s.group;
#pragma omp parallel num_threads(threads)
  {
    if (made) transformWeights(w, made, s);  // ends in a barrier
    if (s.fused) {
      float* v = V + omp_get_thread_num() * s.vFloats();
      float* m = M + omp_get_thread_num() * s.mFloats();
#pragma omp for schedule(static)
      for (int64_t g = 0; g < groups; g++) {
        const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
        for (int64_t i = 0; i < count; i++)
          for (int64_t cb = 0; cb < s.CB; cb++) inputTileOf(x, v, s, t0 + i, i, cb);
        // The next group's input rows and this group's output rows, a share before each position's products.
        const int64_t pad = (s.r - 1) / 2, next = t0 + s.group;
        RowLines in(x, s, next, std::min(s.group, s.T - next), s.CB, -pad, s.m + 2 * pad, 8);
        RowLines out(y, s, t0, count, s.OB, 0, s.m, 8);
        for (int64_t p = 0; p < s.P; p++) {
          in.prefetchShare(false);
          out.prefetchShare(true);
          for (int64_t o16 = 0; o16 < s.O16; o16++) productOf(v, U, m, s, count, p, o16);
        }
        for (int64_t i = 0; i < count; i++)
          for (int64_t ob = 0; ob < s.OB; ob++) outputTile(m, y, s, e, t0 + i, i, ob);
      }
    } else {
      for (int64_t g = 0; g < groups; g++) {
        const int64_t t0 = g * s.group, count = std::min(s.group, s.T - t0);
#pragma omp for collapse(2) schedule(static)
        for (int64_t i = 0; i < count; i++)
          for (int64_t cb = 0; cb < s.CB; cb++) inputTileOf(x, V, s, t0 + i, i, cb);
#pragma omp for collapse(2) schedule(static)
        for (int64_t p = 0; p < s.P; p++)
          for (int64_t o16 = 0; o16 < s.O16; o16++) productOf(V, U, M, s, count, p, o16);
#pragma omp for collapse(2) schedule(static)
        for (int64_t i = 0; i < count; i++)
          for (int64_t ob = 0; ob < s.OB; ob++) outputTile(M, y, s, e, t0 + i, i, ob);
      }
    }
  }
}

// The direct sum, exactly as oneDNN's direct kernel takes it for non-finite values: taps in the
// padding are skipped (an infinite weight there gives no NaN), every other product is taken.
void direct(const float* x, const float* w, float* y, const Sizes& s, const Epilogue& e) {
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < s.N; n++)
    for (int64_t ob = 0; ob < s.OB; ob++)
      for (int64_t oh = 0; oh < s.H; oh++)
        for (int64_t ow = 0; ow < s.W; ow++) {
          float acc[8] = {};
          const int64_t pad = (s.r - 1) / 2;
          for (int64_t cb = 0; cb < s.CB; cb++)
            for (int64_t kh = 0; kh < s.r; kh++)
              for (int64_t kw = 0; kw < s.r; kw++) {
                const int64_t ih = oh + kh - pad, iw = ow + kw - pad;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const float* in = x + (((n * s.CB + cb) * s.H + ih) * s.W + iw) * 8;
                const float* taps = w + (((ob * s.CB + cb) * s.r + kh) * s.r + kw) * 64;
                for (int ic = 0; ic < 8; ic++)
                  for (int oc = 0; oc < 8; oc++) acc[oc] += taps[ic * 8 + oc] * in[ic];
              }
          const int64_t at = (((n * s.OB + ob) * s.H + oh) * s.W + ow) * 8;
          for (int oc = 0; oc < 8; oc++) {
            const int64_t o = ob * 8 + oc;
            float v = acc[oc] + (e.bias && o < s.O ? e.bias[o] : 0.0f) + (e.addend ? e.addend[at + oc] : 0.0f);
            if (e.relu) v = v < 0.0f ? 0.0f : v;
            y[at + oc] = o < s.O ? v : 0.0f;
          }
        }
}

}  // namespace

bool ownWinogradRuns(const ConvGeometry& g) {
  const bool padded2 = g.pT == 2 && g.pB == 2 && g.pL == 2 && g.pR == 2;
  const bool fiveByFive = g.KH == 5 && g.KW == 5 && g.sH == 1 && g.sW == 1 && g.dH == 1 && g.dW == 1 && g.G == 1;
  return ownConv3x3Shape(g) || (fiveByFive && padded2);
}

void ownWinogradCustom(Plan& plan, const ConvGeometry& g, const OwnPostOps& post) {
  const Sizes s = sizesOf(g, post.tile);
  const size_t dstAt = post.bias ? 3 : 2, weightsAt = post.transformed ? plan.descs.size() - 1 : 1;
  const int64_t srcFloats = floatsOf(plan.descs[0]), weightFloats = floatsOf(plan.descs[weightsAt]);
  const int64_t dstFloats = floatsOf(plan.descs[dstAt]);
  plan.customScanned = [s, srcFloats, weightFloats, dstFloats, post, dstAt, weightsAt](
                           const std::vector<void*>& buffers, FiniteMemo* memo) {
    const auto* x = static_cast<const float*>(buffers[0]);
    const auto* w = static_cast<const float*>(buffers[weightsAt]);
    const auto* transformed = post.transformed ? static_cast<const float*>(buffers[1]) : nullptr;
    auto* y = static_cast<float*>(buffers[dstAt]);
    const Epilogue e = epilogueOf(buffers, post.bias, post.sum, post.relu, dstAt);
    if (nonFiniteIn(memo, x, srcFloats) || nonFiniteIn(memo, w, weightFloats) || nonFiniteIn(memo, e, s.O, dstFloats))
      direct(x, w, y, s, e);
    else
      forward(x, w, transformed, y, s, e);
  };
}

void ownWinogradTransformCustom(Plan& plan, const ConvGeometry& g, int64_t tile) {
  const Sizes s = sizesOf(g, tile);
  plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
#pragma omp parallel
    transformWeights(static_cast<const float*>(buffers[0]), static_cast<float*>(buffers[1]), s);
  };
}

#else

bool ownWinogradRuns(const ConvGeometry&) {
  return false;
}
void ownWinogradCustom(Plan&, const ConvGeometry&, const OwnPostOps&) {}
void ownWinogradTransformCustom(Plan&, const ConvGeometry&, int64_t) {}

#endif

dnnl::memory::desc transformedWeightsDesc(const ConvGeometry& g, int64_t tile, int64_t lanes) {
  const int64_t side = tile + g.KH - 1;
  return plainDescOf({side * side, (g.O + 15) / 16, (g.C + lanes - 1) / lanes * lanes, 16});
}

namespace {
// The optional field `tile` of an options object: F(2x2, 3x3) (2, the default) or F(4x4, 3x3) (4).
int64_t winogradTileOf(Fields& options, const Napi::Object& object, const char* op) {
  if (!object.Has("tile")) return 2;
  const int64_t tile = options.integer("tile", 2, 4);
  if (tile == 3)
    throw std::invalid_argument(std::string(op) + ": argument 'options' field 'tile' must be 2 or 4, got 3");
  return tile;
}

}  // namespace

int64_t lanesArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (info.Length() <= index || info[index].IsUndefined()) return 8;
  Fields options(info, index, op, "options");
  if (!info[index].As<Napi::Object>().Has("lanes")) return 8;
  const int64_t lanes = options.integer("lanes", 8, 16);
  if (lanes != 8 && lanes != 16)
    throw std::invalid_argument(std::string(op) + ": argument 'options' field 'lanes' must be 8 or 16, got " +
                                std::to_string(lanes));
  return lanes;
}

int64_t winogradTileArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (info.Length() <= index || info[index].IsUndefined()) return 2;
  Fields options(info, index, op, "options");
  return winogradTileOf(options, info[index].As<Napi::Object>(), op);
}

namespace {
// 5x5 convs take tile 2 only: there is no F(4x4, 5x5) (8x8 tiles).
void refuseTile(const ConvGeometry& g, int64_t tile) {
  if (g.KH == 5 && tile != 2)
    throw std::invalid_argument("convkit has no own4 implementation for this convolution (5x5: F(2x2, 5x5) only)");
}
}  // namespace

OwnPostOps ownPostOpsOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (info.Length() <= index || info[index].IsUndefined()) return {};
  Fields options(info, index, op, "options");
  OwnPostOps post;
  post.bias = options.flag("bias"), post.relu = options.flag("relu"), post.sum = options.flag("sum");
  post.transformed = info[index].As<Napi::Object>().Has("transformed") && options.flag("transformed");
  post.tile = winogradTileOf(options, info[index].As<Napi::Object>(), op);
  return post;
}

OwnConvDescs ownWinogradDescs(const ConvGeometry& g) {
  return ownConvDescsOf(g, ownWinogradRuns(g), 8);
}

// ownWinogradPlan(geometry, { bias, relu, sum, transformed?, tile? }?) -> { plan, src, weights, (bias), dst,
// (addend), (guardWeights), impl }: buffers [src nChw8c, weights OIhw8i8o, (bias [O]), dst nChw8c, (addend nChw8c)]:
// y = conv + bias, + addend, then ReLU (as conv2dPlan's post-ops), by F(2x2, 3x3) or (tile 4) F(4x4, 3x3); or, for a
// 5x5 conv padded by 2, by F(2x2, 5x5) (tile 2 only: the error of tile 4 says "has no own4 implementation"). With
// `transformed`, `weights` are their transform (made by ownWinogradWeightsTransformPlan, kept by an inference model)
// and one more buffer, last, `guardWeights`, holds them as OIhw8i8o (for the NaN/Inf scan and the direct loop). Only a
// 3x3 conv padded by 1 or a 5x5 one padded by 2 on every side (stride 1, undilated, ungrouped), on a build with AVX2
// and FMA; for others the error conv-algorithm.ts recognises ("has no own implementation"). The AVX2 build's 'own' plan
// (own_conv.cc); exported on every build so that the tests run it on AVX-512 hosts too.
Napi::Value OwnWinogradPlan(const Napi::CallbackInfo& info) {
  const char* op = "ownWinograd";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const OwnPostOps post = ownPostOpsOf(info, 1, op);
    refuseTile(g, post.tile);
    const auto [src, dst, weights] = ownWinogradDescs(g);
    const dnnl::memory::desc transformed = transformedWeightsDesc(g, post.tile, 8);
    Plan plan;
    plan.name = op;
    plan.descs = {src, post.transformed ? transformed : weights};
    if (post.bias) plan.descs.push_back(plainDescOf({g.O}));
    plan.descs.push_back(dst);
    if (post.sum) plan.descs.push_back(dst);
    if (post.transformed) plan.descs.push_back(weights);
    for (size_t i = 0; i < plan.descs.size(); i++) {
      plan.args.push_back(static_cast<int>(i));
      plan.customReads.push_back(i != (post.bias ? 3u : 2u));
    }
    ownWinogradCustom(plan, g, post);
    std::vector<std::pair<std::string, int>> descs = {{"src", internDesc(src)}, {"weights", internDesc(plan.descs[1])}};
    if (post.bias) descs.push_back({"bias", internDesc(plan.descs[2])});
    descs.push_back({"dst", internDesc(dst)});
    if (post.sum) descs.push_back({"addend", internDesc(dst)});
    if (post.transformed) descs.push_back({"guardWeights", internDesc(weights)});
    Napi::Object result = planResult(info.Env(), registerPlan(std::move(plan)), descs);
    result.Set("impl", Napi::String::New(info.Env(), g.KH == 5        ? "convkit:avx2_wino_2x5"
                                                     : post.tile == 4 ? "convkit:avx2_wino_4x3"
                                                                      : "convkit:avx2_wino_2x3"));
    return result;
  });
}
CONVKIT_EXPORT(ownWinogradPlan, OwnWinogradPlan);

// ownWinogradWeightsTransformPlan(geometry, { tile?, lanes? }?) -> { plan, weights, transformed }: buffers [weights
// OIhw8i8o, transformed]: the weights as ownWinogradPlan's `transformed` plans of the same tile read them (plain
// [(tile + kernel side - 1)^2 positions, outputs / 16, inputs rounded up to 8, 16 outputs]). The shapes and error of
// ownWinogradPlan. With `lanes` 16 (tile 4, on AVX-512 builds where own_winograd16.cc runs the conv): from OIhw16i16o
// weights, inputs rounded up to 16, as its `transformed` plans read them.
Napi::Value OwnWinogradWeightsTransformPlan(const Napi::CallbackInfo& info) {
  const char* op = "ownWinogradWeightsTransform";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const int64_t tile = winogradTileArg(info, 1, op);
    if (lanesArg(info, 1, op) == 16) return OwnWinograd16WeightsTransformPlan(info, g, tile);
    refuseTile(g, tile);
    const dnnl::memory::desc weights = ownWinogradDescs(g).weights, transformed = transformedWeightsDesc(g, tile, 8);
    Plan plan;
    plan.name = op;
    plan.descs = {weights, transformed};
    plan.args = {0, 1};
    plan.customReads = {true, false};
    ownWinogradTransformCustom(plan, g, tile);
    return planResult(info.Env(), registerPlan(std::move(plan)),
                      {{"weights", internDesc(weights)}, {"transformed", internDesc(transformed)}});
  });
}
CONVKIT_EXPORT(ownWinogradWeightsTransformPlan, OwnWinogradWeightsTransformPlan);

}  // namespace convkit
