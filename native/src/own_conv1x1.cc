// A 1x1, unpadded convolution of stride 1 or 2 (ResNet's projections) of our own on oneDNN's nChw16c maps and
// OIhw16i16o weights (AVX2 builds: nChw8c, OIhw8i8o; conv.ts's 'own' algorithm in inference, conv-algorithm.ts's cold
// kernel). Its loop is compiled with the addon, where oneDNN JIT-compiles a kernel per shape: a model's first pass made
// 61 of them for DenseNet-121's distinct 1x1 convs, 24 ms of creation on a Zen 5 host, and their code pages fault in
// fresh. The tuner measures it against oneDNN's from a weight's second use. Each task is up to 14 pixels (AVX2: 6) of
// two channel blocks, one accumulator each: every input channel's weights (a block of outputs) times a broadcast input
// value, then the bias, an addend and a ReLU, as conv2dPlan's post-ops. An unpadded 1x1 conv multiplies every input it
// reads, so NaN and infinities spread as in the reference sum.
#include "conv_common.h"
#include "own_winograd.h"
#include "plan.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

namespace convkit {

using namespace convplan;

bool ownConv1x1Shape(const ConvGeometry& g) {
  return g.KH == 1 && g.KW == 1 && g.sH == g.sW && (g.sH == 1 || g.sH == 2) && g.dH == 1 && g.dW == 1 && g.G == 1 &&
         g.pT == 0 && g.pB == 0 && g.pL == 0 && g.pR == 0;
}

namespace {

// The vector registers of the build: 16 lanes on AVX-512 (nChw16c, OIhw16i16o), 8 on AVX2 with FMA
// (nChw8c, OIhw8i8o). Each names what the loop needs; kMaxPixels x 2 accumulators, 2 weight rows
// and a broadcast fill the register file (31 of 32 zmm, 15 of 16 ymm).
#if defined(__AVX512F__)
struct Lanes {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16, kMaxPixels = 14;
  static constexpr const char* kImpl = "convkit:avx512_1x1";
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec broadcast(float v) { return _mm512_set1_ps(v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Mask first(int64_t n) { return n >= 16 ? 0xffff : static_cast<Mask>((1u << n) - 1); }
  static Vec loadFirst(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  // Zero where v < 0, an ordered compare: a NaN stays.
  static Vec relu(Vec v) { return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero(), _CMP_LT_OQ), v, zero()); }
  static void storeFirst(float* p, Mask m, Vec v) { _mm512_storeu_ps(p, _mm512_maskz_mov_ps(m, v)); }
};
#define CONVKIT_OWN_1X1 1
#elif defined(__AVX2__) && defined(__FMA__)
struct Lanes {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8, kMaxPixels = 6;
  static constexpr const char* kImpl = "convkit:avx2_1x1";
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec broadcast(float v) { return _mm256_set1_ps(v); }
  static Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Mask first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(n, 8))),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec loadFirst(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
  static Vec relu(Vec v) { return _mm256_blendv_ps(v, zero(), _mm256_cmp_ps(v, zero(), _CMP_LT_OQ)); }
  static void storeFirst(float* p, Mask m, Vec v) { _mm256_storeu_ps(p, _mm256_and_ps(_mm256_castsi256_ps(m), v)); }
};
#define CONVKIT_OWN_1X1 1
#endif

#ifdef CONVKIT_OWN_1X1
constexpr int L = Lanes::kLanes, kMaxPixels = Lanes::kMaxPixels;
using Vec = Lanes::Vec;

struct Sizes {
  int64_t N, CB, OB, P, O;  // CB, OB: input and output blocks of L channels; P: output pixels per map
  int64_t S, inP, OW, inW;  // the stride (1 or 2), input pixels per map, output and input row widths
};

struct Buffers {
  const float *x, *w, *bias, *addend;
  float* y;
  bool relu;
};

// J output pixels from pixel p0 of image n's output blocks ob to ob + K - 1, reading input pixels
// from `in0` every S pixels (S 2: a strided conv's row): each broadcast input value feeds K blocks'
// weights (two blocks halve the broadcasts per multiply-add).
template <int J, int K, int S>
void pixels(const Buffers& b, const Sizes& s, int64_t n, int64_t ob, int64_t p0, int64_t in0) {
  Lanes::Mask lanes[K];
  Vec acc[K][J];
  for (int k = 0; k < K; k++) {
    lanes[k] = Lanes::first(s.O - (ob + k) * L);  // lanes past the output channels stay zero
    const Vec bias = b.bias ? Lanes::loadFirst(lanes[k], b.bias + (ob + k) * L) : Lanes::zero();
    for (int j = 0; j < J; j++) acc[k][j] = bias;
  }
  const float* image = b.x + (n * s.CB * s.inP + in0) * L;
  const float* weights = b.w + ob * s.CB * L * L;
  const int64_t nextBlock = s.CB * L * L;
  for (int64_t cb = 0; cb < s.CB; cb++) {
    const float* in = image + cb * s.inP * L;
    const float* w = weights + cb * L * L;
#pragma GCC unroll 2
    for (int ic = 0; ic < L; ic++) {
      Vec wv[K];
      for (int k = 0; k < K; k++) wv[k] = Lanes::load(w + k * nextBlock + ic * L);
#pragma GCC unroll 14
      for (int j = 0; j < J; j++) {
        const Vec xv = Lanes::broadcast(in[j * S * L + ic]);
        for (int k = 0; k < K; k++) acc[k][j] = Lanes::fma(wv[k], xv, acc[k][j]);
      }
    }
  }
  for (int k = 0; k < K; k++) {
    const int64_t at = ((n * s.OB + ob + k) * s.P + p0) * L;
    for (int j = 0; j < J; j++) {
      Vec v = acc[k][j];
      if (b.addend) v = Lanes::add(v, Lanes::load(b.addend + at + j * L));
      if (b.relu) v = Lanes::relu(v);
      Lanes::storeFirst(b.y + at + j * L, lanes[k], v);  // padding lanes zero, as oneDNN's layouts want
    }
  }
}

using Pixels = void (*)(const Buffers&, const Sizes&, int64_t, int64_t, int64_t, int64_t);
using PixelKernels = std::array<std::array<Pixels, kMaxPixels>, 2>;

template <int K, int S, size_t... J>
constexpr std::array<Pixels, sizeof...(J)> pixelKernels(std::index_sequence<J...>) {
  return {pixels<static_cast<int>(J) + 1, K, S>...};
}
// By the stride (1 or 2), the number of output blocks (1 or 2), then of pixels (1 to kMaxPixels).
template <int S>
constexpr PixelKernels kernelsOfStride() {
  return {pixelKernels<1, S>(std::make_index_sequence<kMaxPixels>()),
          pixelKernels<2, S>(std::make_index_sequence<kMaxPixels>())};
}
constexpr std::array<PixelKernels, 2> kPixels = {kernelsOfStride<1>(), kernelsOfStride<2>()};

// The pixels of a map in chunks of at most kMaxPixels, as even as can be: 49 pixels as 13, 12, 12,
// 12, not 14, 14, 14, 7 (a chunk reads all the weights, however few pixels it has).
struct Chunks {
  int64_t count, size;
  int64_t begin(int64_t c) const { return c * size; }
  int64_t length(int64_t c, int64_t P) const { return std::min(size, P - c * size); }
};
Chunks chunksOf(int64_t P) {
  const int64_t count = (P + kMaxPixels - 1) / kMaxPixels;
  return {count, (P + count - 1) / count};
}

// Which loop runs inside the other. Output blocks innermost: a thread's next task reads the same
// pixels of every input block (from L1) and the next block's weights, which stay in L2 when they
// fit; pixel chunks innermost instead re-read the whole input map for each output block (2.3x
// oneDNN's time at 28x28, 480 -> 128 channels). Where the weights do not fit half of L2 and an
// image's input does (GoogLeNet's 7x7 maps: 832 -> 384 channels, 1.3 MiB of weights), chunks
// innermost read the weights once (1.66x oneDNN's time the other way round).
bool blocksInnermost(const Sizes& s) {
#ifdef _SC_LEVEL2_CACHE_SIZE  // glibc's
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#else
  const long l2 = 0;
#endif
  const int64_t half = (l2 > 0 ? l2 : 512 * 1024) / 2;  // 512 KiB where it is not known
  const int64_t weights = s.OB * s.CB * L * L * 4, image = s.CB * s.P * L * 4;
  return weights <= half || image > half;
}

// Tasks: a chunk of pixels of a pair of output blocks (the last one alone where their number is
// odd). Stride 1: chunks of the whole map, whose pixels are consecutive in the input too; stride 2:
// chunks of each output row, whose input pixels are every other one of a row.
void run(const Buffers& b, const Sizes& s, bool blocksInner) {
  const bool strided = s.S == 2;
  const Chunks chunks = chunksOf(strided ? s.OW : s.P);
  const int64_t count = strided ? chunks.count * (s.P / s.OW) : chunks.count;
  const int64_t pairs = (s.OB + 1) / 2;
  const PixelKernels& kernels = kPixels[strided ? 1 : 0];
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < s.N; n++) {
    for (int64_t outer = 0; outer < (blocksInner ? count : pairs); outer++) {
      for (int64_t inner = 0; inner < (blocksInner ? pairs : count); inner++) {
        const int64_t c = blocksInner ? outer : inner, ob = 2 * (blocksInner ? inner : outer);
        const Pixels* byLength = kernels[std::min<int64_t>(2, s.OB - ob) - 1].data();
        if (!strided) {
          byLength[chunks.length(c, s.P) - 1](b, s, n, ob, chunks.begin(c), chunks.begin(c));
          continue;
        }
        const int64_t oh = c / chunks.count, k = c % chunks.count, ow0 = chunks.begin(k);
        byLength[chunks.length(k, s.OW) - 1](b, s, n, ob, oh * s.OW + ow0, 2 * (oh * s.inW + ow0));
      }
    }
  }
}
#endif

}  // namespace

// ownConvPlan's plan for a 1x1 conv (ownConv1x1Shape) on AVX-512 and AVX2 builds: buffers [src nChw16c,
// weights OIhw16i16o, (bias [O]), dst nChw16c, (addend nChw16c)] (AVX2: nChw8c, OIhw8i8o), y = conv + bias,
// + addend, then ReLU.
Napi::Value OwnConv1x1Plan(const Napi::CallbackInfo& info, const ConvGeometry& g, const OwnPostOps& post) {
#ifndef CONVKIT_OWN_1X1
  (void)g;
  (void)post;
  throw std::invalid_argument("convkit has no own implementation for this convolution on this CPU");
#else
  const auto [src, dst, weights] = ownConvDescsOf(g, true, L);
  Plan plan;
  plan.name = "ownConv";
  plan.descs = {src, weights};
  if (post.bias) plan.descs.push_back(plainDescOf({g.O}));
  const size_t dstAt = plan.descs.size();
  plan.descs.push_back(dst);
  if (post.sum) plan.descs.push_back(dst);
  for (size_t i = 0; i < plan.descs.size(); i++) {
    plan.args.push_back(static_cast<int>(i));
    plan.customReads.push_back(i != dstAt);
  }
  const Sizes s{g.N, (g.C + L - 1) / L, (g.O + L - 1) / L, g.OH * g.OW, g.O, g.sH, g.H * g.W, g.OW, g.W};
  const bool blocksInner = blocksInnermost(s);
  plan.custom = [s, post, dstAt, blocksInner](const std::vector<void*>& buffers, const std::vector<double>&) {
    Buffers b{static_cast<const float*>(buffers[0]),
              static_cast<const float*>(buffers[1]),
              post.bias ? static_cast<const float*>(buffers[2]) : nullptr,
              post.sum ? static_cast<const float*>(buffers[dstAt + 1]) : nullptr,
              static_cast<float*>(buffers[dstAt]),
              post.relu};
    run(b, s, blocksInner);
  };
  std::vector<std::pair<std::string, int> > descs = {{"src", internDesc(src)}, {"weights", internDesc(weights)}};
  if (post.bias) descs.push_back({"bias", internDesc(plan.descs[2])});
  descs.push_back({"dst", internDesc(dst)});
  if (post.sum) descs.push_back({"addend", internDesc(dst)});
  Napi::Object result = planResult(info.Env(), registerPlan(std::move(plan)), descs);
  result.Set("impl", Napi::String::New(info.Env(), Lanes::kImpl));
  return result;
#endif
}

}  // namespace convkit
