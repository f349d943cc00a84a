// The backward weights of a 3x3, stride-1, padding-1 convolution, convkit's own, on oneDNN's
// nChw16c maps and OIhw16i16o weights, for AVX-512 builds (conv.ts's 'own' algorithm, measured
// against oneDNN's like every candidate). oneDNN 2.6's JIT kernel ran CIFAR ResNet's 16-channel
// case at 330-365 GFLOP/s on Zen 5; this loop at 430-440, about the FMA peak.
//
// dW[o][i][kh][kw] = sum over images and pixels (h, w) of dy[o][h][w] * x[i][h+kh-1][w+kw-1].
// Each input value x[i][h+kh-1][q] meets dy at three pixels of row h, w = q+1, q, q-1 (kw = 0, 1,
// 2): so one task keeps the three taps of a kernel row for 8 input channels in 24 zmm registers
// (16 output-channel lanes each), and every broadcast input value feeds three FMAs. Taps in the
// padding are skipped, not multiplied by zero, as oneDNN's kernels do.
#include "conv_common.h"
#include "own_winograd.h"
#include "own_winograd16.h"
#include "plan.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <omp.h>
#endif

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace convkit {

using namespace convplan;

namespace {

#ifdef __AVX512F__
struct Sizes {
  int64_t N, CB, OB, H, W, C, O;
};

constexpr int kChannels = 8;  // input channels per task: 3 x 8 accumulators + 3 dy vectors fit 32 registers

// One input pixel q of a row: dq is dy at pixel q of the output row. FIRST: q = 0 (no w = q-1, the
// kw = 2 tap), LAST: q = W-1 (no w = q+1, the kw = 0 tap).
template <bool FIRST, bool LAST>
inline void inputPixel(const float* xq, const float* dq, __m512 (&acc)[3][kChannels]) {
  const __m512 d0 = LAST ? _mm512_setzero_ps() : _mm512_loadu_ps(dq + 16);
  const __m512 d1 = _mm512_loadu_ps(dq);
  const __m512 d2 = FIRST ? _mm512_setzero_ps() : _mm512_loadu_ps(dq - 16);
#pragma GCC unroll 8
  for (int i = 0; i < kChannels; i++) {
    const __m512 b = _mm512_set1_ps(xq[i]);
    if (!LAST) acc[0][i] = _mm512_fmadd_ps(b, d0, acc[0][i]);
    acc[1][i] = _mm512_fmadd_ps(b, d1, acc[1][i]);
    if (!FIRST) acc[2][i] = _mm512_fmadd_ps(b, d2, acc[2][i]);
  }
}

// Adds one image's sums for kernel row kh and input channels i0..i0+7 of one block pair: `x` the
// image's input block, `dy` its output block, `taps` the block pair's weights [3][3][16 i][16 o].
void kernelRow(const float* x, const float* dy, float* taps, const Sizes& s, int kh, int i0) {
  __m512 acc[3][kChannels];
  float* out = taps + kh * 3 * 256 + i0 * 16;
  for (int kw = 0; kw < 3; kw++)
    for (int i = 0; i < kChannels; i++) acc[kw][i] = _mm512_loadu_ps(out + (kw * 16 + i) * 16);
  const int64_t W = s.W;
  for (int64_t h = std::max<int64_t>(0, 1 - kh); h < std::min<int64_t>(s.H, s.H + 1 - kh); h++) {
    const float* xr = x + (h + kh - 1) * W * 16 + i0;
    const float* dr = dy + h * W * 16;
    if (W == 1) {
      inputPixel<true, true>(xr, dr, acc);
      continue;
    }
    inputPixel<true, false>(xr, dr, acc);
#pragma GCC unroll 1
    for (int64_t q = 1; q < W - 1; q++) inputPixel<false, false>(xr + q * 16, dr + q * 16, acc);
    inputPixel<false, true>(xr + (W - 1) * 16, dr + (W - 1) * 16, acc);
  }
  for (int kw = 0; kw < 3; kw++)
    for (int i = 0; i < kChannels; i++) _mm512_storeu_ps(out + (kw * 16 + i) * 16, acc[kw][i]);
}

// Each thread sums its share of the tasks (image, block pair, kernel row, channel half) into its
// own copy of the weights (thread 0 into dw), then the copies are added. The padding of the last
// blocks (input rows, output lanes past the channels) is written as zeros, as oneDNN's layout wants.
void run(const float* x, const float* dy, float* dw, const Sizes& s) {
  const int64_t per = s.OB * s.CB * 9 * 256;
  const int threads = omp_get_max_threads();
  // Left uninitialised: each thread zeroes its own copy below.
  std::unique_ptr<float[]> copies(new float[static_cast<size_t>(per) * (threads - 1)]);
  const int64_t tasks = s.N * s.OB * s.CB * 3 * 2;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* mine = t == 0 ? dw : copies.get() + per * (t - 1);
    std::memset(mine, 0, per * sizeof(float));
    const int64_t first = tasks * t / nt, last = tasks * (t + 1) / nt;
    for (int64_t k = first; k < last; k++) {
      const int64_t half = k % 2, kh = k / 2 % 3, ib = k / 6 % s.CB, ob = k / 6 / s.CB % s.OB, n = k / 6 / s.CB / s.OB;
      kernelRow(x + (n * s.CB + ib) * s.H * s.W * 16, dy + (n * s.OB + ob) * s.H * s.W * 16,
                mine + (ob * s.CB + ib) * 9 * 256, s, static_cast<int>(kh), static_cast<int>(half) * kChannels);
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t block = 0; block < s.OB * s.CB * 9; block++) {
      const int64_t ob = block / (s.CB * 9), ib = block / 9 % s.CB;
      const __mmask16 lanes = static_cast<__mmask16>((1u << std::min<int64_t>(16, s.O - ob * 16)) - 1);
      const int64_t inputs = std::min<int64_t>(16, s.C - ib * 16);
      for (int64_t i = 0; i < 16; i++) {
        const int64_t at = block * 256 + i * 16;
        __m512 sum = _mm512_loadu_ps(dw + at);
        for (int u = 1; u < nt; u++) sum = _mm512_add_ps(sum, _mm512_loadu_ps(copies.get() + per * (u - 1) + at));
        _mm512_storeu_ps(dw + at, i < inputs ? _mm512_maskz_mov_ps(lanes, sum) : _mm512_setzero_ps());
      }
    }
  }
}
#endif

}  // namespace

#ifdef __AVX512F__
void ownConv3x3DirectWeights(const float* x, const float* dy, float* dw, const ConvGeometry& g) {
  run(x, dy, dw, Sizes{g.N, (g.C + 15) / 16, (g.O + 15) / 16, g.H, g.W, g.C, g.O});
}
#endif

// ownConv3x3BackwardWeightsPlan(geometry, { tile? }?) -> { plan, src, diffDst, diffWeights, impl }: buffers
// [src nChw16c, diffDst nChw16c, diffWeights OIhw16i16o], no bias; tile 4: own_winograd16_weights.cc's where it runs.
// The shapes and builds of ownConvPlan (own_conv.cc); for others its error ("has no own implementation"). Builds
// without AVX-512: ownWinograd3x3BackwardWeightsPlan's plan (nChw8c, OIhw8i8o; tile 4 too).
Napi::Value OwnConv3x3BackwardWeightsPlan(const Napi::CallbackInfo& info) {
#ifndef __AVX512F__
  return OwnWinograd3x3BackwardWeightsPlan(info);
#endif
  const char* op = "ownConv3x3BackwardWeights";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    // F(4x4, 3x3) on 16-channel blocks where it runs (the AVX2 kernel's OIhw8i8o gradients would be converted at
    // each SGD step, a cost the tuner does not see).
    if (winogradTileArg(info, 1, op) != 2) {
      if (ownWinograd16Runs(g)) return OwnWinograd16WeightsPlan(info, g);
      throw std::invalid_argument(
          "convkit has no own4 implementation for this convolution's backward weights on an AVX-512 build");
    }
    const auto [src, diffDst, diffWeights] = ownConvDescs(g);
    Plan plan = readTwoWriteOnePlan(op, {src, diffDst, diffWeights});
#ifdef __AVX512F__
    const Sizes s{g.N, (g.C + 15) / 16, (g.O + 15) / 16, g.H, g.W, g.C, g.O};
    plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
      run(static_cast<const float*>(buffers[0]), static_cast<const float*>(buffers[1]), static_cast<float*>(buffers[2]),
          s);
    };
#endif
    Napi::Object result = planResult(
        info.Env(), registerPlan(std::move(plan)),
        {{"src", internDesc(src)}, {"diffDst", internDesc(diffDst)}, {"diffWeights", internDesc(diffWeights)}});
    result.Set("impl", Napi::String::New(info.Env(), "convkit:avx512_3x3"));
    return result;
  });
}
CONVKIT_EXPORT(ownConv3x3BackwardWeightsPlan, OwnConv3x3BackwardWeightsPlan);

}  // namespace convkit
