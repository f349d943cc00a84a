// A 3x3, stride-1, padding-1 convolution of our own on oneDNN's nChw16c maps and OIhw16i16o
// weights, for AVX-512 builds (conv.ts's 'own' algorithm; conv-algorithm.ts measures it against
// oneDNN's), with a bias and a ReLU for inference. oneDNN 2.6's JIT kernel ran CIFAR ResNet's
// 16-channel convs at 250-300 GFLOP/s on Zen 5 (60-70 % of the FMA peak); this loop runs them at
// 360-370, and GoogLeNet's and ResNet-50's 14x14 and 7x7 ones at batch 1 15-25 % faster than
// oneDNN's direct kernel (3-13 % faster than the best of its kernels). Each task is one output row of one 16-channel
// output block (two on maps up to 8 wide): up to 16 pixels at a time in up to 16 zmm accumulators, each tap's weights
// (16 output channels) times a broadcast input value. Taps in the padding are skipped, not multiplied by zero, as
// oneDNN's kernels do: an infinite weight there gives no NaN. The backward data of such a conv is the same conv with
// the weights turned (transposed_conv.cc). Builds without AVX-512 run convkit's Winograd kernel for AVX2 instead
// (own_winograd.cc).
#include "conv_common.h"
#include "own_winograd.h"
#include "own_winograd16.h"
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
  int64_t N, CB, OB, H, W, O, OH, OW;  // input rows and columns, output rows and columns
};

// What a row block reads and writes: `x` the image's first input block, `w` the first output block's weights
// [CB][3][3][16 in][16 out] (the next block's follow), `bias` that block's 16 values (the next block's follow) or
// null, `y` its output row (the next block's row one map further).
struct Row {
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  bool relu;
};

// J output pixels of K output blocks from column ow0 of output row oh, stride S. LEFT / RIGHT: the pixels touch the
// left / right padding column (the first / last pixel skips the tap there). Two blocks at a time on narrow maps (7x7:
// 14 accumulators, each broadcast input used twice), one on wider ones (up to 16 pixels).
template <int J, int K, int S, bool LEFT, bool RIGHT>
void rowBlock(const Row& r, const Sizes& s, int64_t oh, int64_t ow0, const __mmask16* lanes) {
  const int64_t nextWeights = s.CB * 9 * 256, nextMap = s.OH * s.OW * 16;
  __m512 acc[K][J];
  for (int k = 0; k < K; k++) {
    const __m512 bias = r.bias ? _mm512_maskz_loadu_ps(lanes[k], r.bias + k * 16) : _mm512_setzero_ps();
    for (int j = 0; j < J; j++) acc[k][j] = bias;
  }
  for (int64_t cb = 0; cb < s.CB; cb++) {
    for (int kh = 0; kh < 3; kh++) {
      const int64_t ih = oh * S + kh - 1;
      if (ih < 0 || ih >= s.H) continue;
      const float* row = r.x + (cb * s.H + ih) * s.W * 16;
      const float* taps = r.w + (cb * 9 + kh * 3) * 256;
#pragma GCC unroll 1
      for (int ic = 0; ic < 16; ic++) {
#pragma GCC unroll 3
        for (int kw = 0; kw < 3; kw++) {
          __m512 weights[K];
          for (int k = 0; k < K; k++) weights[k] = _mm512_loadu_ps(taps + k * nextWeights + kw * 256 + ic * 16);
#pragma GCC unroll 16
          for (int j = 0; j < J; j++) {
            if ((LEFT && kw == 0 && j == 0) || (RIGHT && kw == 2 && j == J - 1)) continue;
            const __m512 input = _mm512_set1_ps(row[((ow0 + j) * S + kw - 1) * 16 + ic]);
            for (int k = 0; k < K; k++) acc[k][j] = _mm512_fmadd_ps(weights[k], input, acc[k][j]);
          }
        }
      }
    }
  }
  // The bias came first, the ReLU last (zero where below zero: a NaN stays, as PyTorch's). Lanes past the output
  // channels stay zero, as oneDNN's layouts want their padding.
  const __m512 zero = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    for (int j = 0; j < J; j++) {
      __m512 v = acc[k][j];
      if (r.relu) v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), v, zero);
      _mm512_storeu_ps(r.y + k * nextMap + (ow0 + j) * 16, _mm512_maskz_mov_ps(lanes[k], v));
    }
  }
}

using RowBlock = void (*)(const Row&, const Sizes&, int64_t, int64_t, const __mmask16*);

template <int J, int K, int S>
RowBlock pick(bool left, bool right) {
  if (left && right) return rowBlock<J, K, S, true, true>;
  if (left) return rowBlock<J, K, S, true, false>;
  if (right) return rowBlock<J, K, S, false, true>;
  return rowBlock<J, K, S, false, false>;
}

template <int J>
RowBlock pickBlocks(int k, int stride, bool left, bool right) {
  if constexpr (J <= 8) {
    if (k == 2) return stride == 2 ? pick<J, 2, 2>(left, right) : pick<J, 2, 1>(left, right);
  }
  return stride == 2 ? pick<J, 1, 2>(left, right) : pick<J, 1, 1>(left, right);
}

// The kernel for a block of `j` pixels (1 to 16) of `k` output blocks (2 only up to 8 pixels), stride 1 or 2.
RowBlock blockOf(int j, int k, int stride, bool left, bool right) {
  switch (j) {
    case 1:
      return pickBlocks<1>(k, stride, left, right);
    case 2:
      return pickBlocks<2>(k, stride, left, right);
    case 3:
      return pickBlocks<3>(k, stride, left, right);
    case 4:
      return pickBlocks<4>(k, stride, left, right);
    case 5:
      return pickBlocks<5>(k, stride, left, right);
    case 6:
      return pickBlocks<6>(k, stride, left, right);
    case 7:
      return pickBlocks<7>(k, stride, left, right);
    case 8:
      return pickBlocks<8>(k, stride, left, right);
    case 9:
      return pickBlocks<9>(k, stride, left, right);
    case 10:
      return pickBlocks<10>(k, stride, left, right);
    case 11:
      return pickBlocks<11>(k, stride, left, right);
    case 12:
      return pickBlocks<12>(k, stride, left, right);
    case 13:
      return pickBlocks<13>(k, stride, left, right);
    case 14:
      return pickBlocks<14>(k, stride, left, right);
    case 15:
      return pickBlocks<15>(k, stride, left, right);
    default:
      return pickBlocks<16>(k, stride, left, right);
  }
}

void run(const float* x, const float* w, const float* bias, bool relu, float* y, const Sizes& s, int stride) {
  // Blocks of 16 pixels, the last one shorter where the width is no multiple of 16; maps up to 8 wide take two
  // output blocks per task (the last one alone where their count is odd). The last pixel's right tap is in the
  // padding where it lies past the input (always at stride 1; at stride 2 where the input's width is odd).
  const int K = s.OW <= 8 ? 2 : 1;
  struct Block {
    int64_t ow0;
    RowBlock f[2];  // for K and for one block
  };
  std::vector<Block> blocks;
  for (int64_t ow0 = 0; ow0 < s.OW; ow0 += 16) {
    const int j = static_cast<int>(std::min<int64_t>(16, s.OW - ow0));
    const bool left = ow0 == 0, right = ow0 + j == s.OW && (s.OW - 1) * stride + 1 >= s.W;
    blocks.push_back({ow0, {blockOf(j, K, stride, left, right), blockOf(j, 1, stride, left, right)}});
  }
  const int64_t tail = s.O - (s.OB - 1) * 16, tasks = (s.OB + K - 1) / K;
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < s.N; n++) {
    for (int64_t t = 0; t < tasks; t++) {
      for (int64_t oh = 0; oh < s.OH; oh++) {
        const int64_t ob = t * K;
        const bool whole = ob + K <= s.OB;
        __mmask16 lanes[2];
        for (int k = 0; k < 2; k++)
          lanes[k] = ob + k == s.OB - 1 ? static_cast<__mmask16>((1u << tail) - 1) : static_cast<__mmask16>(0xffff);
        const Row r{x + n * s.CB * s.H * s.W * 16, w + ob * s.CB * 9 * 256, bias ? bias + ob * 16 : nullptr,
                    y + ((n * s.OB + ob) * s.OH + oh) * s.OW * 16, relu};
        for (const Block& b : blocks) b.f[whole ? 0 : 1](r, s, oh, b.ow0, lanes);
      }
    }
  }
}
#endif

}  // namespace

#ifdef __AVX512F__
void ownConv3x3Direct(const float* x, const float* w, const float* bias, bool relu, float* y, const ConvGeometry& g) {
  run(x, w, bias, relu, y, Sizes{g.N, (g.C + 15) / 16, (g.O + 15) / 16, g.H, g.W, g.O, g.OH, g.OW}, 1);
}
#endif

// ownConvPlan(geometry, { bias, relu, sum, tile? }?) -> { plan, src, weights, (bias), dst, impl }: buffers [src
// nChw16c, weights OIhw16i16o, (bias [O]), dst nChw16c], y = relu?(conv + bias). Only a 3x3, stride-1 (a forward: or
// 2), undilated, ungrouped conv padded by 1 on every side, without an addend, tile 2 (the default), on an AVX-512
// build, or (every build with AVX2) a 1x1 unpadded one of stride 1 or 2 with them (own_conv1x1.cc: buffers [src,
// weights, (bias), dst, (addend)]); for others the error conv-algorithm.ts recognises ("has no ... implementation").
// Tile 4 on AVX-512 builds: the F(4x4, 3x3) of own_winograd16.cc (nChw16c, OIhw16i16o, with the bias, post-ops and
// transformed weights) where it runs, else that of ownWinogradPlan (nChw8c, OIhw8i8o); every
// tile on builds without AVX-512: ownWinogradPlan's. The latter is AVX2 code, and on AVX-512 hosts whose units are 256
// bits wide (Zen 4) it beat oneDNN's AVX-512 Winograd on some shapes: the tuner measures it there too.
Napi::Value OwnConvPlan(const Napi::CallbackInfo& info) {
  const char* op = "ownConv";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const OwnPostOps post = ownPostOpsOf(info, 1, op);
    if (ownConv1x1Shape(g) && post.tile == 2) return OwnConv1x1Plan(info, g, post);
#ifndef __AVX512F__
    return OwnWinogradPlan(info);
#endif
    if (post.tile == 4) return ownWinograd16Runs(g) ? OwnWinograd16Plan(info, g, post) : OwnWinogradPlan(info);
    if (post.sum) throw std::invalid_argument("convkit has no own implementation for this convolution with an addend");
    // Stride 2 (ResNet's downsampling 3x3 convs), forward only: its backward kernels are oneDNN's.
    const bool strided = ownConv3x3Stride2Shape(g);
    const auto [src, dst, weights] = ownConvDescsOf(g, ownConv3x3Runs(g) || strided, 16);
    Plan plan = readTwoWriteOnePlan(op, {src, weights, dst});
    if (post.bias) {  // buffers [src, weights, bias, dst]
      plan.args = {0, 1, 2, 3};
      plan.descs = {src, weights, plainDescOf({g.O}), dst};
      plan.customReads = {true, true, true, false};
    }
#ifdef __AVX512F__
    const Sizes s{g.N, (g.C + 15) / 16, (g.O + 15) / 16, g.H, g.W, g.O, g.OH, g.OW};
    const bool bias = post.bias, relu = post.relu;
    const int stride = strided ? 2 : 1;
    plan.custom = [s, bias, relu, stride](const std::vector<void*>& buffers, const std::vector<double>&) {
      run(static_cast<const float*>(buffers[0]), static_cast<const float*>(buffers[1]),
          bias ? static_cast<const float*>(buffers[2]) : nullptr, relu, static_cast<float*>(buffers[bias ? 3 : 2]), s,
          stride);
    };
#endif
    std::vector<std::pair<std::string, int>> descs = {{"src", internDesc(src)}, {"weights", internDesc(weights)}};
    if (post.bias) descs.push_back({"bias", internDesc(plan.descs[2])});
    descs.push_back({"dst", internDesc(dst)});
    Napi::Object result = planResult(info.Env(), registerPlan(std::move(plan)), descs);
    result.Set("impl", Napi::String::New(info.Env(), "convkit:avx512_3x3"));
    return result;
  });
}
CONVKIT_EXPORT(ownConvPlan, OwnConvPlan);

}  // namespace convkit
