// Max and average pooling plans on the input's layout. Geometry: an object { batch, channels,
// inH, inW, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight, outH, outW }
// read by name (NativePoolGeometry in src/backend/native/pool.ts). Ceil mode arrives as a larger
// bottom/right padding (the JS side computes it), as PyTorch hands it to oneDNN. Max pooling in
// training keeps a workspace (argmax positions, in dst's layout) for the backward pass.
// oneDNN's max pooling drops a NaN in its window ([1, NaN, 3, 4] gave 4); PyTorch's picks it.
// nChw8c / nChw16c inputs (the usual case), and nhwc ones in inference, run NaN-aware loops of our
// own (max_pool_forward.cc); other layouts run oneDNN with a guard (plan.h) that scans the
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
      auto loop = pooling::blockedMaxPoolLoop(g, src, pd.dst_desc(), pd.workspace_desc());
      if (!loop) loop = pooling::nhwcMaxPoolLoop(g, src, pd.dst_desc(), pd.workspace_desc());
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
