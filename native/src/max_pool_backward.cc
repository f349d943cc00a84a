// Max pooling's backward on nChw8c / nChw16c maps, from the forward's workspace (the window index
// kh * KW + kw of each output's maximum, u8 or s32, in the output's layout; blockedMaxPool in
// pool.cc writes it, as oneDNN's kernel does). oneDNN's AVX2 kernel zeroes the input gradient and
// scatters into it: 10-13 ms for ResNet's stem pool at batch 8 (8 x 64 x 112 x 112) on a Zen 3
// host. This loop gathers instead (3.3-3.7 ms alone there; 4-5 ms in a replayed ResNet-18
// training step, where oneDNN's took 10): each input pixel sums, over the few windows that hold
// it, the output gradients whose maximum it was, a channel block at a time, so every value is
// written once and threads never meet. The sums run in output order from +0, as oneDNN's and
// PyTorch's scatters add, so the results are the same bits (a NaN gradient reaches only its
// window's maximum; a lane that does not match adds +0).
#include "pool_common.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace convkit::pooling {

namespace {

// The workspace's B indices of one output pixel as int32 lanes (an out-parameter: a returned
// 64-byte vector changes the ABI without AVX-512, and GCC warns). u8 indices widen with one
// instruction where the build has it: GCC's generic conversion inserted them one by one.
template <int B, typename Index>
void indicesAt(const Index* at, typename Lanes<B>::Ints& wide) {
  if constexpr (sizeof(Index) == sizeof(int32_t)) {
    std::memcpy(&wide, at, sizeof wide);
#if defined(__AVX2__)
  } else if constexpr (B == 8) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(at)));
    std::memcpy(&wide, &v, sizeof wide);
#endif
#if defined(__AVX512F__)
  } else if constexpr (B == 16) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(at)));
    std::memcpy(&wide, &v, sizeof wide);
#endif
  } else {
    typename Lanes<B>::Bytes narrow;
    std::memcpy(&narrow, at, sizeof narrow);
    wide = __builtin_convertvector(narrow, typename Lanes<B>::Ints);
  }
}

// The first output index whose window, `kernel` wide from `out * stride - pad`, reaches `in`.
int64_t firstWindowHolding(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  const int64_t reach = in + pad - kernel + 1;  // out * stride must be at least this
  return reach <= 0 ? 0 : (reach + stride - 1) / stride;
}

// The windows that hold each input row (or column): the first and last output index along that
// axis, computed once per plan (an integer division per pixel cost more than the sums).
struct Reach {
  std::vector<int64_t> first, last;
};
Reach reachOf(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t pad) {
  Reach r;
  for (int64_t i = 0; i < in; i++) {
    r.first.push_back(firstWindowHolding(i, kernel, stride, pad));
    r.last.push_back(std::min(out - 1, (i + pad) / stride));
  }
  return r;
}

// Each input pixel's block: the sum, in registers, over the windows that hold it. The geometry is
// copied to locals: read through the reference, GCC reloaded it at every window (the stores might
// alias it), and the loop ran 3x slower.
template <int B, typename Index>
void blockedMaxPoolBackward(const PoolGeometry& g, const Reach& rows, const Reach& columns, const float* dy,
                            const Index* ws, float* dx) {
  using Floats = typename Lanes<B>::Floats;
  using Ints = typename Lanes<B>::Ints;
  const int64_t N = g.N, H = g.H, W = g.W, OW = g.OW, KW = g.KW, sH = g.sH, sW = g.sW, pT = g.pT, pL = g.pL;
  const int64_t blocks = (g.C + B - 1) / B, outPlane = g.OH * OW * B;
  const int64_t *rowFirst = rows.first.data(), *rowLast = rows.last.data();
  const int64_t *columnFirst = columns.first.data(), *columnLast = columns.last.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t nb = 0; nb < N * blocks; nb++) {
    for (int64_t h = 0; h < H; h++) {
      const float* grads = dy + nb * outPlane;
      const Index* maxima = ws + nb * outPlane;
      float* row = dx + (nb * H + h) * W * B;
      const int64_t ohFirst = rowFirst[h], ohLast = rowLast[h];
      for (int64_t w = 0; w < W; w++) {
        Floats sum = Floats{};
        for (int64_t oh = ohFirst; oh <= ohLast; oh++) {
          const int64_t tapRow = (h + pT - oh * sH) * KW + w + pL;
          for (int64_t ow = columnFirst[w]; ow <= columnLast[w]; ow++) {
            const int64_t at = (oh * OW + ow) * B;
            Floats grad;
            std::memcpy(&grad, grads + at, sizeof grad);
            Ints index;
            indicesAt<B>(maxima + at, index);
            const Ints mine = index == static_cast<int32_t>(tapRow - ow * sW);  // all ones where it was the maximum
            sum += reinterpret_cast<Floats>(reinterpret_cast<Ints>(grad) & mine);
          }
        }
        std::memcpy(row + w * B, &sum, sizeof sum);
      }
    }
  }
}

template <int B>
Loop loopFor(const PoolGeometry& g, bool wsInt) {
  const Reach rows = reachOf(g.H, g.OH, g.KH, g.sH, g.pT), columns = reachOf(g.W, g.OW, g.KW, g.sW, g.pL);
  return [g, wsInt, rows, columns](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* dy = static_cast<const float*>(buffers[0]);
    float* dx = static_cast<float*>(buffers[2]);
    if (wsInt)
      blockedMaxPoolBackward<B>(g, rows, columns, dy, static_cast<const int32_t*>(buffers[1]), dx);
    else
      blockedMaxPoolBackward<B>(g, rows, columns, dy, static_cast<const uint8_t*>(buffers[1]), dx);
  };
}

}  // namespace

Loop blockedMaxPoolBackwardLoop(const PoolGeometry& g, const dnnl::memory::desc& diffDst, const dnnl::memory::desc& ws,
                                const dnnl::memory::desc& diffSrc) {
  using tag = dnnl::memory::format_tag;
  using type = dnnl::memory::data_type;
  for (auto [format, block] : {std::pair{tag::nChw8c, 8}, std::pair{tag::nChw16c, 16}}) {
    const bool blocked = diffSrc == dnnl::memory::desc(g.src(), type::f32, format) &&
                         diffDst == dnnl::memory::desc(g.dst(), type::f32, format);
    if (!blocked) continue;
    const bool wsInt = ws == dnnl::memory::desc(g.dst(), type::s32, format);
    if (!wsInt && ws != dnnl::memory::desc(g.dst(), type::u8, format)) return nullptr;
    return block == 8 ? loopFor<8>(g, wsInt) : loopFor<16>(g, wsInt);
  }
  return nullptr;
}

}  // namespace convkit::pooling
