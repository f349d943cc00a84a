// Max and average pooling plans on the input's layout. Geometry: an object { batch, channels,
// inH, inW, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight, outH, outW }
// read by name (NativePoolGeometry in src/backend/native/pool.ts). Ceil mode arrives as a larger
// bottom/right padding (the JS side computes it), as PyTorch hands it to oneDNN. Max pooling in
// training keeps a workspace (argmax positions, in dst's layout) for the backward pass.
// oneDNN's max pooling drops a NaN in its window ([1, NaN, 3, 4] gave 4); PyTorch's picks it.
// nChw8c / nChw16c inputs (the usual case), and nhwc ones in inference, run NaN-aware loops of our
// own (blockedMaxPool, nhwcMaxPool); other layouts run oneDNN with a guard (plan.h) that scans the
// input for NaN and, only then, rewrites
// the windows that hold one: the output NaN, the workspace pointing at the window's last NaN
// (PyTorch's `val > max || isnan(val)`). The guard also rewrites windows of -inf only: oneDNN
// starts from -FLT_MAX and gave -3.4e38 there (PyTorch: -inf, index of the first pixel). The
// backward of max pooling on nChw8c / nChw16c is ours too (max_pool_backward.cc).
#include <algorithm>
#include <cstring>
#include <limits>

#include "finite.h"
#include "plan.h"
#include "pool_common.h"

namespace convkit {

namespace {

using pooling::Lanes;
using pooling::Loop;
using pooling::PoolGeometry;

PoolGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Fields f(info, index, op, "geometry");
  const int64_t big = 1 << 30;
  PoolGeometry g{};
  g.N = f.integer("batch", 1, big);
  g.C = f.integer("channels", 1, big);
  g.H = f.integer("inH", 1, big);
  g.W = f.integer("inW", 1, big);
  g.KH = f.integer("kernelH", 1, big);
  g.KW = f.integer("kernelW", 1, big);
  g.sH = f.integer("strideH", 1, big);
  g.sW = f.integer("strideW", 1, big);
  g.pT = f.integer("padTop", 0, big);
  g.pL = f.integer("padLeft", 0, big);
  g.pB = f.integer("padBottom", 0, big);
  g.pR = f.integer("padRight", 0, big);
  g.OH = f.integer("outH", 1, big);
  g.OW = f.integer("outW", 1, big);
  int64_t outH = (g.H + g.pT + g.pB - g.KH) / g.sH + 1, outW = (g.W + g.pL + g.pR - g.KW) / g.sW + 1;
  checkOutputSize(info.Env(), op, g.OH, g.OW, outH, outW);
  return g;
}

dnnl::algorithm algorithmOf(const Napi::CallbackInfo& info, const std::string& kind, const char* op) {
  if (kind == "max") return dnnl::algorithm::pooling_max;
  if (kind == "avg_include_padding") return dnnl::algorithm::pooling_avg_include_padding;
  if (kind == "avg_exclude_padding") return dnnl::algorithm::pooling_avg_exclude_padding;
  throw Napi::TypeError::New(info.Env(), std::string(op) + ": unknown pooling '" + kind + "'");
}

// The src desc argument: any layout, but the geometry's dims.
dnnl::memory::desc srcArg(const Napi::CallbackInfo& info, size_t index, const PoolGeometry& g, const char* op) {
  dnnl::memory::desc src = descArg(info, index, op, "src");
  if (src.dims() != g.src())
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": src desc dims do not match the geometry");
  // oneDNN pools plain NCHW with a slow generic kernel (15 ms where nChw8c takes 1 ms for AlexNet's
  // first pool): plan on the blocked layout instead; the caller reorders its input to it.
  if (src == dnnl::memory::desc(g.src(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nchw)) {
    return dnnl::memory::desc(g.src(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw8c);
  }
  return src;
}

dnnl::pooling_forward::primitive_desc forwardPd(const PoolGeometry& g, dnnl::algorithm alg,
                                                const dnnl::memory::desc& src, bool training) {
  dnnl::memory::desc dst(g.dst(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::pooling_forward::desc d(prop, alg, src, dst, {g.sH, g.sW}, {g.KH, g.KW}, {g.pT, g.pL}, {g.pB, g.pR});
  return dnnl::pooling_forward::primitive_desc(d, planAttr(), cpuEngine());
}

NonFiniteGuard maxPoolGuard(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                            const dnnl::memory::desc& ws) {
  NonFiniteGuard guard;
  const int64_t n = floatsOf(src);
  guard.check = [n](const std::vector<void*>& buffers, FiniteMemo* memo) {
    const auto* src = static_cast<const float*>(buffers[0]);
    return !knownFiniteIn(memo, src, n) && anyNaNOrNegativeInfinity(src, n);
  };
  const bool hasWs = ws.get_size() > 0;
  const bool wsInt = hasWs && ws.data_type() == dnnl::memory::data_type::s32;
  guard.fix = [g, src, dst, ws, hasWs, wsInt](const std::vector<void*>& buffers) {
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[1]);
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < g.N * g.C; nc++) {
      const int64_t b = nc / g.C, c = nc % g.C;
      for (int64_t oh = 0; oh < g.OH; oh++) {
        for (int64_t ow = 0; ow < g.OW; ow++) {
          // nanAt: the window's last NaN; firstAt: its first pixel, the answer when all are -inf.
          int64_t nanAt = -1, firstAt = -1;
          bool allNegInf = true;
          for (int64_t kh = 0; kh < g.KH; kh++) {
            const int64_t ih = oh * g.sH - g.pT + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.KW; kw++) {
              const int64_t iw = ow * g.sW - g.pL + kw;
              if (iw < 0 || iw >= g.W) continue;
              const int64_t at[4] = {b, c, ih, iw};
              const float v = x[physicalOffset(src, at)];
              if (v != v) nanAt = kh * g.KW + kw;
              if (firstAt < 0) firstAt = kh * g.KW + kw;
              allNegInf = allNegInf && v == -std::numeric_limits<float>::infinity();
            }
          }
          // oneDNN starts its maximum from -FLT_MAX, so a window of -inf gave -3.4e38.
          const bool negInf = nanAt < 0 && firstAt >= 0 && allNegInf;
          if (nanAt < 0 && !negInf) continue;
          const int64_t out[4] = {b, c, oh, ow};
          y[physicalOffset(dst, out)] =
              negInf ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
          if (negInf) nanAt = firstAt;  // PyTorch's index: the window's first pixel
          if (!hasWs) continue;
          const int64_t w = physicalOffset(ws, out);
          if (wsInt)
            static_cast<int32_t*>(buffers[2])[w] = static_cast<int32_t>(nanAt);
          else
            static_cast<uint8_t*>(buffers[2])[w] = static_cast<uint8_t>(nanAt);
        }
      }
    }
  };
  return guard;
}

// Whether every window holds a pixel: its first row and column inside the input (the loops below
// start from that pixel; oneDNN handles the other case its own way).
bool everyWindowHoldsPixel(const PoolGeometry& g) {
  return g.pT < g.KH && g.pL < g.KW && (g.OH - 1) * g.sH - g.pT < g.H && (g.OW - 1) * g.sW - g.pL < g.W;
}

// Max pooling of our own on nChw8c / nChw16c (what the JS side hands it for plain inputs, and what
// convolutions write), vectorised over the channel block as oneDNN's jit kernel is, and NaN-aware:
// a value replaces the maximum when it is larger or NaN, so a window keeps its last NaN (PyTorch's
// `val > max || isnan(val)`) and otherwise its first maximum. The workspace, when training, is
// oneDNN's (the index kh * KW + kw, u8 or s32, in dst's layout), so either backward reads it
// (max_pool_backward.cc on blocked maps, oneDNN's on others).

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
        if (K > 0 && khLo == 0 && khHi == K && kwLo == 0 && kwHi == K) {
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
              if (kIndex) index = take ? Ints{} + (kh * K + kw) : index;
            }
          }
          std::memcpy(out + ow * B, &best, sizeof best);
          if (kIndex) {
            for (int c = 0; c < B; c++) at[ow * B + c] = static_cast<Index>(index[c]);
          }
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

// The plan for blockedMaxPool, or null when src is not nChw8c / nChw16c (or a window could see
// no pixel, which oneDNN handles its own way): buffers [src, dst, (workspace)], as oneDNN's.
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

// Max pooling of our own on nhwc maps (brgemm convs write them: conv.ts), for inference (no
// workspace), NaN-aware as blockedMaxPool: a pixel's channels are contiguous, so each tap is a run
// of whole 16-lane vectors. oneDNN's nhwc kernel took 3x as long on GoogLeNet's 7x7 maps at batch 1.
// Work is split by rows and by chunks of 64 channels, so small maps with many channels use both cores.
void nhwcMaxPool(const PoolGeometry& g, const float* x, float* y) {
  using Floats = Lanes<16>::Floats;
  using Ints = Lanes<16>::Ints;
  constexpr int64_t kChunk = 64;  // four vectors, each with its own maximum in a register
  const int64_t chunks = (g.C + kChunk - 1) / kChunk, rowStride = g.W * g.C;
  auto load = [](const float* p) {
    Floats v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  auto keep = [](Floats& best, Floats v) {
    const Ints take = (v > best) | (v != v);
    best = take ? v : best;
  };
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
          // The window's first pixel (inside the input), then rows of W * C floats and pixels of C.
          const float* corner = x + ((n * g.H + h0 + khLo) * g.W + w0 + kwLo) * g.C;
          float* out = y + ((n * g.OH + oh) * g.OW + ow) * g.C;
          int64_t c = c0;
          if (c1 - c0 == kChunk) {
            Floats b0 = load(corner + c), b1 = load(corner + c + 16), b2 = load(corner + c + 32),
                   b3 = load(corner + c + 48);
            for (int64_t r = 0; r < rows; r++) {
              const float* p = corner + r * rowStride + c;
              for (int64_t k = 0; k < cols; k++, p += g.C) {
                keep(b0, load(p));
                keep(b1, load(p + 16));
                keep(b2, load(p + 32));
                keep(b3, load(p + 48));
              }
            }
            std::memcpy(out + c, &b0, sizeof b0);
            std::memcpy(out + c + 16, &b1, sizeof b1);
            std::memcpy(out + c + 32, &b2, sizeof b2);
            std::memcpy(out + c + 48, &b3, sizeof b3);
            c = c1;
          }
          for (; c + 16 <= c1; c += 16) {
            Floats best = load(corner + c);
            for (int64_t r = 0; r < rows; r++) {
              const float* p = corner + r * rowStride + c;
              for (int64_t k = 0; k < cols; k++, p += g.C) keep(best, load(p));
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

// The plan for nhwcMaxPool, or null when src or dst is not nhwc, a workspace is wanted, or a window
// could see no pixel.
Loop nhwcMaxPoolLoop(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                     const dnnl::memory::desc& ws) {
  auto nhwc = [](const dnnl::memory::desc& md) {
    return md == dnnl::memory::desc(md.dims(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
  };
  if (!nhwc(src) || !nhwc(dst) || ws.get_size() > 0) return nullptr;
  if (!everyWindowHoldsPixel(g)) return nullptr;
  return [g](const std::vector<void*>& buffers, const std::vector<double>&) {
    nhwcMaxPool(g, static_cast<const float*>(buffers[0]), static_cast<float*>(buffers[1]));
  };
}

}  // namespace

// poolPlan(kind, geometry, src, { training }): buffers [src, dst, (workspace)]
Napi::Value PoolPlan(const Napi::CallbackInfo& info) {
  const char* op = "pool2d";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto alg = algorithmOf(info, text(info, 0, op, "kind"), op);
    PoolGeometry g = geometryOf(info, 1, op);
    auto src = srcArg(info, 2, g, op);
    bool training = Fields(info, 3, op, "options").flag("training");
    auto pd = forwardPd(g, alg, src, training);
    if (alg == dnnl::algorithm::pooling_max) {
      auto loop = blockedMaxPoolLoop(g, src, pd.dst_desc(), pd.workspace_desc());
      if (!loop) loop = nhwcMaxPoolLoop(g, src, pd.dst_desc(), pd.workspace_desc());
      if (loop) {
        Plan custom;
        custom.name = op;
        custom.args = {0, 1};
        custom.descs = {src, pd.dst_desc()};
        std::vector<std::pair<std::string, int>> names = {{"src", internDesc(src)}, {"dst", internDesc(pd.dst_desc())}};
        if (pd.workspace_desc().get_size() > 0) {
          custom.args.push_back(2);
          custom.descs.push_back(pd.workspace_desc());
          names.push_back({"workspace", internDesc(pd.workspace_desc())});
        }
        custom.custom = std::move(loop);
        custom.customReads = {true};  // src
        return planResult(info.Env(), registerPlan(std::move(custom)), names);
      }
    }
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, src, "src").arg(DNNL_ARG_DST, pd.dst_desc(), "dst").workspace(pd.workspace_desc());
    if (alg == dnnl::algorithm::pooling_max) plan.guard(maxPoolGuard(g, src, pd.dst_desc(), pd.workspace_desc()));
    return plan.finish(info.Env(), dnnl::pooling_forward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(poolPlan, PoolPlan);

// poolBackwardPlan(kind, geometry, src): src is the forward's src desc; buffers [diffDst, (workspace), diffSrc]
Napi::Value PoolBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "pool2dBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto alg = algorithmOf(info, text(info, 0, op, "kind"), op);
    PoolGeometry g = geometryOf(info, 1, op);
    auto src = srcArg(info, 2, g, op);
    auto hint = forwardPd(g, alg, src, true);
    // diff_dst in the forward dst's layout: the max workspace is laid out like it.
    dnnl::memory::desc diffDst = hint.dst_desc();
    dnnl::pooling_backward::desc d(alg, src, diffDst, {g.sH, g.sW}, {g.KH, g.KW}, {g.pT, g.pL}, {g.pB, g.pR});
    dnnl::pooling_backward::primitive_desc pd(d, planAttr(), cpuEngine(), hint);
    if (alg == dnnl::algorithm::pooling_max) {
      auto loop = pooling::blockedMaxPoolBackwardLoop(g, pd.diff_dst_desc(), pd.workspace_desc(), pd.diff_src_desc());
      if (loop) {
        Plan custom;
        custom.name = op;
        custom.args = {0, 1, 2};
        custom.descs = {pd.diff_dst_desc(), pd.workspace_desc(), pd.diff_src_desc()};
        custom.custom = std::move(loop);
        custom.customReads = {true, true};  // diffDst, workspace
        return planResult(info.Env(), registerPlan(std::move(custom)),
                          {{"diffDst", internDesc(pd.diff_dst_desc())},
                           {"workspace", internDesc(pd.workspace_desc())},
                           {"diffSrc", internDesc(pd.diff_src_desc())}});
      }
    }
    return PlanBuilder(op)
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .workspace(pd.workspace_desc())
        .arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc")
        .finish(info.Env(), dnnl::pooling_backward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(poolBackwardPlan, PoolBackwardPlan);

}  // namespace convkit
