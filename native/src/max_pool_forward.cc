// Max pooling of our own, forward, on nChw8c / nChw16c maps (what the JS side hands it for plain
// inputs, and what convolutions write) and, in inference, on nhwc ones (brgemm convs write them),
// vectorised over channels as oneDNN's jit kernel is, and NaN-aware: a value replaces the maximum
// when it is larger or NaN, so a window keeps its last NaN (PyTorch's `val > max || isnan(val)`)
// and otherwise its first maximum. The workspace, when training, is oneDNN's (the index
// kh * KW + kw, u8 or s32, in dst's layout), so either backward reads it (max_pool_backward.cc on
// blocked maps, oneDNN's on others).
//
// That rule as a select (compare, NaN test, or, blend) chains a window's taps through its maximum,
// 5 cycles a tap: GoogLeNet's 3x3 stride-1 pools ran at a tenth of the loads' rate (35 us for a
// 480-channel 14x14 map, batch 1, on a Zen 5 host). Without a workspace a window's maximum is a
// tree of `later > earlier ? later : earlier` (one vmaxps each, the earliest of equal values kept,
// as the rule does: +0 before -0) beside a sum of the taps, NaN where one is (one vaddps a tap: an
// or of NaN tests took three, and the pools twice as long); the rare window whose sum is NaN is
// redone by the rule.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "pool_common.h"

namespace convkit::pooling {

namespace {

// Whether a lane of `v` is nonzero (taken by reference: a 64-byte vector passed by value changes
// the ABI without AVX-512, and GCC warns).
template <typename Ints>
__attribute__((always_inline)) inline bool anyLane(const Ints& v) {
#if defined(__AVX512F__)
  if constexpr (sizeof(Ints) == 64) {
    __m512i w;
    std::memcpy(&w, &v, sizeof w);
    return _mm512_test_epi32_mask(w, w) != 0;
  }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(Ints) == 32) {
    __m256i w;
    std::memcpy(&w, &v, sizeof w);
    return !_mm256_testz_si256(w, w);
  }
#endif
  uint64_t words[sizeof(Ints) / 8];
  std::memcpy(words, &v, sizeof words);
  uint64_t any = 0;
  for (uint64_t w : words) any |= w;
  return any != 0;
}

// The earlier of equal values: one vmaxps (x86's max returns its first operand where it is larger).
template <typename Floats>
inline Floats laterIfLarger(const Floats& earlier, const Floats& later) {
  return later > earlier ? later : earlier;
}

// Whether every window holds a pixel: its first row and column inside the input (the loops below
// start from that pixel; oneDNN handles the other case its own way).
bool everyWindowHoldsPixel(const PoolGeometry& g) {
  return g.pT < g.KH && g.pL < g.KW && (g.OH - 1) * g.sH - g.pT < g.H && (g.OW - 1) * g.sW - g.pL < g.W;
}

// A K x K window wholly inside the input, without a workspace: its taps as a tree of maxima (earlier
// taps on the left) and a tree of sums, NaN where a tap is (or where +inf meets -inf: then the rule
// decides too). False (nothing written) where the sum is NaN.
template <int B, int K>
__attribute__((always_inline)) inline bool treeWindow(const float* corner, int64_t rowStride, int64_t pixelStride,
                                                      float* out) {
  using Floats = typename Lanes<B>::Floats;
  using Ints = typename Lanes<B>::Ints;
  Floats v[K * K], sum[K * K];
  for (int kh = 0; kh < K; kh++) {
    for (int kw = 0; kw < K; kw++) {
      std::memcpy(&v[kh * K + kw], corner + kh * rowStride + kw * pixelStride, sizeof(Floats));
      sum[kh * K + kw] = v[kh * K + kw];
    }
  }
#pragma GCC unroll 4
  for (int step = 1; step < K * K; step *= 2) {
#pragma GCC unroll 8
    for (int i = 0; i + step < K * K; i += 2 * step) {
      v[i] = laterIfLarger(v[i], v[i + step]);
      sum[i] += sum[i + step];
    }
  }
  if (anyLane(Ints(sum[0] != sum[0]))) return false;
  std::memcpy(out, &v[0], sizeof(Floats));
  return true;
}

// Any window without a workspace, from its first pixel `first`: rows x cols taps, a chain of maxima
// beside a sum. False (nothing written) where the sum is NaN.
template <int B>
__attribute__((always_inline)) inline bool chainWindow(const float* first, int64_t rows, int64_t cols,
                                                       int64_t rowStride, int64_t pixelStride, float* out) {
  using Floats = typename Lanes<B>::Floats;
  using Ints = typename Lanes<B>::Ints;
  Floats best, sum = Floats{};
  std::memcpy(&best, first, sizeof best);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) {
      Floats v;
      std::memcpy(&v, first + r * rowStride + c * pixelStride, sizeof v);
      best = laterIfLarger(best, v);
      sum += v;
    }
  }
  if (anyLane(Ints(sum != sum))) return false;
  std::memcpy(out, &best, sizeof best);
  return true;
}

// K > 0: the kernel is K x K, and windows wholly inside the input take K * K taps known at compile
// time (unrolled, one address per row); edge windows and other kernels take the general loop, whose
// bounds and address arithmetic per tap cost as much as the taps (AlexNet's first pool at batch 8:
// 0.29 ms, ONNX Runtime's 0.14).
template <int B, typename Index, bool kIndex, int K>
void blockedMaxPool(const PoolGeometry& g, const float* x, float* y, Index* ws) {
  // One window's maximum and index in vector registers (GCC vector types: a zmm on AVX-512, two
  // ymm on AVX2); as arrays they went through the stack at every tap, and pooling took 1.5 ms of
  // GoogLeNet's 12 ms batch-1 pass. The index is only tracked when a workspace is written.
  using Floats = typename Lanes<B>::Floats;
  using Ints = typename Lanes<B>::Ints;
  const int64_t blocks = (g.C + B - 1) / B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t nb = 0; nb < g.N * blocks; nb++) {
    for (int64_t oh = 0; oh < g.OH; oh++) {
      const float* plane = x + nb * g.H * g.W * B;
      float* out = y + (nb * g.OH + oh) * g.OW * B;
      Index* at = kIndex ? ws + (nb * g.OH + oh) * g.OW * B : nullptr;
      const int64_t h0 = oh * g.sH - g.pT;
      const int64_t khLo = h0 < 0 ? -h0 : 0, khHi = std::min(g.KH, g.H - h0);
      for (int64_t ow = 0; ow < g.OW; ow++) {
        const int64_t w0 = ow * g.sW - g.pL;
        const int64_t kwLo = w0 < 0 ? -w0 : 0, kwHi = std::min(g.KW, g.W - w0);
        const bool whole = K > 0 && khLo == 0 && khHi == K && kwLo == 0 && kwHi == K;
        if constexpr (!kIndex) {
          if constexpr (K > 0) {
            if (whole && treeWindow<B, K>(plane + (h0 * g.W + w0) * B, g.W * B, B, out + ow * B)) continue;
          }
          const float* first = plane + ((h0 + khLo) * g.W + (w0 + kwLo)) * B;
          if (!whole && chainWindow<B>(first, khHi - khLo, kwHi - kwLo, g.W * B, B, out + ow * B)) continue;
        }
        if (kIndex && whole) {
          const float* corner = plane + (h0 * g.W + w0) * B;
          Floats best;
          std::memcpy(&best, corner, sizeof best);
          Ints index = Ints{};
          for (int kh = 0; kh < K; kh++) {
            const float* row = corner + kh * g.W * B;
            for (int kw = kh == 0 ? 1 : 0; kw < K; kw++) {
              Floats v;
              std::memcpy(&v, row + kw * B, sizeof v);
              const Ints take = (v > best) | (v != v);
              best = take ? v : best;
              index = take ? Ints{} + (kh * K + kw) : index;
            }
          }
          std::memcpy(out + ow * B, &best, sizeof best);
          for (int c = 0; c < B; c++) at[ow * B + c] = static_cast<Index>(index[c]);
          continue;
        }
        Floats best;
        std::memcpy(&best, plane + ((h0 + khLo) * g.W + (w0 + kwLo)) * B, sizeof best);
        Ints index = Ints{} + static_cast<int32_t>(khLo * g.KW + kwLo);
        for (int64_t kh = khLo; kh < khHi; kh++) {
          for (int64_t kw = kwLo; kw < kwHi; kw++) {
            Floats v;
            std::memcpy(&v, plane + ((h0 + kh) * g.W + (w0 + kw)) * B, sizeof v);
            const Ints take = (v > best) | (v != v);
            best = take ? v : best;
            if (kIndex) index = take ? Ints{} + static_cast<int32_t>(kh * g.KW + kw) : index;
          }
        }
        std::memcpy(out + ow * B, &best, sizeof best);
        if (kIndex) {
          for (int c = 0; c < B; c++) at[ow * B + c] = static_cast<Index>(index[c]);
        }
      }
    }
  }
}

// blockedMaxPool for one block size, kernel case (K: 2, 3 or 0 for any) and workspace type.
template <int B, int K>
Loop maxPoolRunK(const PoolGeometry& g, bool hasWs, bool wsInt) {
  return [g, hasWs, wsInt](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[1]);
    if (!hasWs)
      blockedMaxPool<B, uint8_t, false, K>(g, x, y, nullptr);
    else if (wsInt)
      blockedMaxPool<B, int32_t, true, K>(g, x, y, static_cast<int32_t*>(buffers[2]));
    else
      blockedMaxPool<B, uint8_t, true, K>(g, x, y, static_cast<uint8_t*>(buffers[2]));
  };
}
template <int B>
Loop maxPoolRun(const PoolGeometry& g, int K, bool hasWs, bool wsInt) {
  if (K == 3) return maxPoolRunK<B, 3>(g, hasWs, wsInt);
  if (K == 2) return maxPoolRunK<B, 2>(g, hasWs, wsInt);
  return maxPoolRunK<B, 0>(g, hasWs, wsInt);
}

// Max pooling on nhwc maps, in inference: a pixel's channels are contiguous, so each tap is a run
// of whole 16-lane vectors. oneDNN's nhwc kernel took 3x as long on GoogLeNet's 7x7 maps at batch 1.
// Work is split by rows and by chunks of 64 channels, so small maps with many channels use both
// cores. Each 16 channels of a window take the blocked loop's tree (whole K x K windows) or chain;
// a vector with a NaN takes the rule, as do the channels past the last whole vector, one by one.
template <int K>
void nhwcMaxPool(const PoolGeometry& g, const float* x, float* y) {
  using Floats = Lanes<16>::Floats;
  using Ints = Lanes<16>::Ints;
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (g.C + kChunk - 1) / kChunk, rowStride = g.W * g.C;
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < g.N; n++) {
    for (int64_t oh = 0; oh < g.OH; oh++) {
      for (int64_t chunk = 0; chunk < chunks; chunk++) {
        const int64_t c0 = chunk * kChunk, c1 = std::min(g.C, c0 + kChunk);
        const int64_t h0 = oh * g.sH - g.pT;
        const int64_t khLo = h0 < 0 ? -h0 : 0, rows = std::min(g.KH, g.H - h0) - khLo;
        for (int64_t ow = 0; ow < g.OW; ow++) {
          const int64_t w0 = ow * g.sW - g.pL;
          const int64_t kwLo = w0 < 0 ? -w0 : 0, cols = std::min(g.KW, g.W - w0) - kwLo;
          const bool whole = K > 0 && rows == K && cols == K;
          // The window's first pixel (inside the input), then rows of W * C floats and pixels of C.
          const float* corner = x + ((n * g.H + h0 + khLo) * g.W + w0 + kwLo) * g.C;
          float* out = y + ((n * g.OH + oh) * g.OW + ow) * g.C;
          int64_t c = c0;
          for (; c + 16 <= c1; c += 16) {
            if constexpr (K > 0) {
              if (whole && treeWindow<16, K>(corner + c, rowStride, g.C, out + c)) continue;
            }
            if (!whole && chainWindow<16>(corner + c, rows, cols, rowStride, g.C, out + c)) continue;
            Floats best;
            std::memcpy(&best, corner + c, sizeof best);
            for (int64_t r = 0; r < rows; r++) {
              const float* p = corner + r * rowStride + c;
              for (int64_t k = 0; k < cols; k++, p += g.C) {
                Floats v;
                std::memcpy(&v, p, sizeof v);
                const Ints take = (v > best) | (v != v);
                best = take ? v : best;
              }
            }
            std::memcpy(out + c, &best, sizeof best);
          }
          for (; c < c1; c++) {
            float best = corner[c];
            for (int64_t r = 0; r < rows; r++) {
              for (int64_t k = 0; k < cols; k++) {
                const float v = corner[r * rowStride + k * g.C + c];
                if (v > best || v != v) best = v;
              }
            }
            out[c] = best;
          }
        }
      }
    }
  }
}

}  // namespace

Loop blockedMaxPoolLoop(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                        const dnnl::memory::desc& ws) {
  using tag = dnnl::memory::format_tag;
  auto blocked = [&](const dnnl::memory::desc& md, tag t) {
    return md == dnnl::memory::desc(md.dims(), dnnl::memory::data_type::f32, t);
  };
  const int B = blocked(src, tag::nChw8c) ? 8 : blocked(src, tag::nChw16c) ? 16 : 0;
  if (B == 0 || !blocked(dst, B == 8 ? tag::nChw8c : tag::nChw16c)) return nullptr;
  if (!everyWindowHoldsPixel(g)) return nullptr;
  const bool hasWs = ws.get_size() > 0;
  if (hasWs) {
    // oneDNN's workspace: dst's dims and blocking, one u8 or s32 index per element.
    auto wsTag = B == 8 ? tag::nChw8c : tag::nChw16c;
    auto type = ws.data_type();
    if ((type != dnnl::memory::data_type::u8 && type != dnnl::memory::data_type::s32) ||
        ws != dnnl::memory::desc(dst.dims(), type, wsTag))
      return nullptr;
  }
  const bool wsInt = hasWs && ws.data_type() == dnnl::memory::data_type::s32;
  const int K = g.KH == g.KW && (g.KH == 2 || g.KH == 3) ? static_cast<int>(g.KH) : 0;
  if (B == 8) return maxPoolRun<8>(g, K, hasWs, wsInt);
  return maxPoolRun<16>(g, K, hasWs, wsInt);
}

Loop nhwcMaxPoolLoop(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                     const dnnl::memory::desc& ws) {
  auto nhwc = [](const dnnl::memory::desc& md) {
    return md == dnnl::memory::desc(md.dims(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
  };
  if (!nhwc(src) || !nhwc(dst) || ws.get_size() > 0) return nullptr;
  if (!everyWindowHoldsPixel(g)) return nullptr;
  const int K = g.KH == g.KW && (g.KH == 2 || g.KH == 3) ? static_cast<int>(g.KH) : 0;
  return [g, K](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[1]);
    if (K == 3)
      nhwcMaxPool<3>(g, x, y);
    else if (K == 2)
      nhwcMaxPool<2>(g, x, y);
    else
      nhwcMaxPool<0>(g, x, y);
  };
}

}  // namespace convkit::pooling
