// A 3x3, stride-1, padding-1 convolution of our own on oneDNN's nChw16c maps and OIhw16i16o
// weights, for AVX-512 builds (conv.ts's 'own' algorithm; conv-algorithm.ts measures it against
// oneDNN's). oneDNN 2.6's JIT kernel ran CIFAR ResNet's 16-channel convs at 250-300 GFLOP/s on
// Zen 5 (60-70 % of the FMA peak); this loop runs them at 360-370. Each task is one output row of
// one 16-channel output block: up to 16 pixels at a time in 16 zmm accumulators, each tap's
// weights (16 output channels) times a broadcast input value. Taps in the padding are skipped,
// not multiplied by zero, as oneDNN's kernels do: an infinite weight there gives no NaN. The
// backward data of such a conv is the same conv with the weights turned (transposed_conv.cc).
// Builds without AVX-512 run convkit's Winograd kernel for AVX2 instead (own_winograd.cc).
#include "conv_common.h"
#include "own_winograd.h"
#include "plan.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include <algorithm>
#include <string>
#include <vector>

namespace convkit {

using namespace convplan;

namespace {

#ifdef __AVX512F__
struct Sizes {
  int64_t N, CB, OB, H, W, O;
};

// J output pixels from column ow0 of output row oh of one output block: `x` is the image's first
// input block, `w` the output block's weights [CB][3][3][16 in][16 out], `y` the output row.
// LEFT / RIGHT: the block touches the left / right padding column (its first / last pixel
// skips the tap there).
template <int J, bool LEFT, bool RIGHT>
void rowBlock(const float* x, const float* w, float* y, const Sizes& s, int64_t oh, int64_t ow0, __mmask16 lanes) {
  __m512 acc[J];
  for (int j = 0; j < J; j++) acc[j] = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < s.CB; cb++) {
    for (int kh = 0; kh < 3; kh++) {
      const int64_t ih = oh + kh - 1;
      if (ih < 0 || ih >= s.H) continue;
      const float* row = x + (cb * s.H + ih) * s.W * 16;
      const float* taps = w + (cb * 9 + kh * 3) * 256;
#pragma GCC unroll 1
      for (int ic = 0; ic < 16; ic++) {
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) {
          const __m512 weights = _mm512_loadu_ps(taps + kw * 256 + ic * 16);
#pragma GCC unroll 16
          for (int j = 0; j < J; j++) {
            if ((LEFT && kw == 0 && j == 0) || (RIGHT && kw == 2 && j == J - 1)) continue;
            const int64_t iw = ow0 + j + kw - 1;
            acc[j] = _mm512_fmadd_ps(weights, _mm512_set1_ps(row[iw * 16 + ic]), acc[j]);
          }
        }
      }
    }
  }
  // Lanes past the output channels stay zero, as oneDNN's layouts want their padding.
  for (int j = 0; j < J; j++) _mm512_storeu_ps(y + (ow0 + j) * 16, _mm512_maskz_mov_ps(lanes, acc[j]));
}

using RowBlock = void (*)(const float*, const float*, float*, const Sizes&, int64_t, int64_t, __mmask16);

template <int J>
RowBlock pick(bool left, bool right) {
  if (left && right) return rowBlock<J, true, true>;
  if (left) return rowBlock<J, true, false>;
  if (right) return rowBlock<J, false, true>;
  return rowBlock<J, false, false>;
}

// The kernel for a block of `j` pixels (1 to 16).
RowBlock blockOf(int j, bool left, bool right) {
  switch (j) {
    case 1:
      return pick<1>(left, right);
    case 2:
      return pick<2>(left, right);
    case 3:
      return pick<3>(left, right);
    case 4:
      return pick<4>(left, right);
    case 5:
      return pick<5>(left, right);
    case 6:
      return pick<6>(left, right);
    case 7:
      return pick<7>(left, right);
    case 8:
      return pick<8>(left, right);
    case 9:
      return pick<9>(left, right);
    case 10:
      return pick<10>(left, right);
    case 11:
      return pick<11>(left, right);
    case 12:
      return pick<12>(left, right);
    case 13:
      return pick<13>(left, right);
    case 14:
      return pick<14>(left, right);
    case 15:
      return pick<15>(left, right);
    default:
      return pick<16>(left, right);
  }
}

void run(const float* x, const float* w, float* y, const Sizes& s) {
  // Blocks of 16 pixels, the last one shorter where the width is no multiple of 16.
  struct Block {
    int64_t ow0;
    RowBlock f;
  };
  std::vector<Block> blocks;
  for (int64_t ow0 = 0; ow0 < s.W; ow0 += 16) {
    const int64_t j = std::min<int64_t>(16, s.W - ow0);
    blocks.push_back({ow0, blockOf(static_cast<int>(j), ow0 == 0, ow0 + j == s.W)});
  }
  const int64_t tail = s.O - (s.OB - 1) * 16;
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < s.N; n++) {
    for (int64_t ob = 0; ob < s.OB; ob++) {
      for (int64_t oh = 0; oh < s.H; oh++) {
        const float* image = x + n * s.CB * s.H * s.W * 16;
        const float* weights = w + ob * s.CB * 9 * 256;
        float* row = y + ((n * s.OB + ob) * s.H + oh) * s.W * 16;
        const __mmask16 lanes = ob == s.OB - 1 ? static_cast<__mmask16>((1u << tail) - 1) : 0xffff;
        for (const Block& b : blocks) b.f(image, weights, row, s, oh, b.ow0, lanes);
      }
    }
  }
}
#endif

}  // namespace

// ownConvPlan(geometry, { bias, relu, sum, tile? }?) -> { plan, src, weights, dst, impl }: buffers [src
// nChw16c, weights OIhw16i16o, dst nChw16c]. Only a 3x3, stride-1, undilated, ungrouped conv padded
// by 1 on every side, without a bias or post-ops, tile 2 (the default), on an AVX-512 build, or (every build with
// AVX2) a 1x1 unpadded one of stride 1 or 2 with them (own_conv1x1.cc: buffers [src, weights, (bias), dst, (addend)]);
// for others the error conv-algorithm.ts recognises ("has no ... implementation"). Tile 4, and every tile on builds
// without AVX-512: ownWinogradPlan's plan (nChw8c, OIhw8i8o, with the bias and post-ops). Its F(4x4, 3x3) is AVX2
// code, and on AVX-512 hosts whose units are 256 bits wide (Zen 4) it beat oneDNN's AVX-512 Winograd on some
// shapes: the tuner measures it there too.
Napi::Value OwnConvPlan(const Napi::CallbackInfo& info) {
  const char* op = "ownConv";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const OwnPostOps post = ownPostOpsOf(info, 1, op);
    if (ownConv1x1Shape(g) && post.tile == 2) return OwnConv1x1Plan(info, g, post);
#ifndef __AVX512F__
    return OwnWinogradPlan(info);
#endif
    if (post.tile == 4) return OwnWinogradPlan(info);
    if (post.bias || post.relu || post.sum)
      throw std::invalid_argument("convkit has no own implementation for this convolution with a bias or post-ops");
    const auto [src, dst, weights] = ownConvDescs(g);
    Plan plan = readTwoWriteOnePlan(op, {src, weights, dst});
#ifdef __AVX512F__
    const Sizes s{g.N, (g.C + 15) / 16, (g.O + 15) / 16, g.H, g.W, g.O};
    plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
      run(static_cast<const float*>(buffers[0]), static_cast<const float*>(buffers[1]), static_cast<float*>(buffers[2]),
          s);
    };
#endif
    Napi::Object result =
        planResult(info.Env(), registerPlan(std::move(plan)),
                   {{"src", internDesc(src)}, {"weights", internDesc(weights)}, {"dst", internDesc(dst)}});
    result.Set("impl", Napi::String::New(info.Env(), "convkit:avx512_3x3"));
    return result;
  });
}
CONVKIT_EXPORT(ownConvPlan, OwnConvPlan);

}  // namespace convkit
