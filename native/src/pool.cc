// Max and average pooling plans on the input's layout. Geometry: 14 integers, N C H W KH KW
// strideH strideW padTop padLeft padBottom padRight OH OW. Ceil mode arrives as a larger
// bottom/right padding (the JS side computes it), as PyTorch hands it to oneDNN. Max pooling in
// training keeps a workspace (argmax positions, in dst's layout) for the backward pass.
// oneDNN's max pooling drops a NaN in its window ([1, NaN, 3, 4] gave 4); PyTorch's picks it. A
// guard (plan.h) scans the input for NaN and, only then, rewrites the windows that hold one: the
// output NaN, the workspace pointing at the window's last NaN (PyTorch's `val > max || isnan(val)`).
#include <limits>

#include "finite.h"
#include "plan.h"

namespace convkit {

namespace {

using dims = dnnl::memory::dims;

struct PoolGeometry {
  int64_t N, C, H, W, KH, KW, sH, sW, pT, pL, pB, pR, OH, OW;
  dims src() const { return {N, C, H, W}; }
  dims dst() const { return {N, C, OH, OW}; }
};

PoolGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto r = ints(info, index, 14, op, "geometry");
  PoolGeometry g{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13]};
  bool positive =
      g.N > 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.KH > 0 && g.KW > 0 && g.sH > 0 && g.sW > 0 && g.OH > 0 && g.OW > 0;
  if (!positive || (g.H + g.pT + g.pB - g.KH) / g.sH + 1 != g.OH || (g.W + g.pL + g.pR - g.KW) / g.sW + 1 != g.OW) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": inconsistent pooling geometry");
  }
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
  guard.check = [n](const std::vector<void*>& buffers) { return anyNaN(static_cast<const float*>(buffers[0]), n); };
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
          int64_t nanAt = -1;
          for (int64_t kh = 0; kh < g.KH; kh++) {
            const int64_t ih = oh * g.sH - g.pT + kh;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.KW; kw++) {
              const int64_t iw = ow * g.sW - g.pL + kw;
              if (iw < 0 || iw >= g.W) continue;
              const int64_t at[4] = {b, c, ih, iw};
              const float v = x[physicalOffset(src, at)];
              if (v != v) nanAt = kh * g.KW + kw;
            }
          }
          if (nanAt < 0) continue;
          const int64_t out[4] = {b, c, oh, ow};
          y[physicalOffset(dst, out)] = std::numeric_limits<float>::quiet_NaN();
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

// poolPlan(kind, geometry, src, training): buffers [src, dst, (workspace)]
Napi::Value PoolPlan(const Napi::CallbackInfo& info) {
  const char* op = "pool2d";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto alg = algorithmOf(info, text(info, 0, op, "kind"), op);
    PoolGeometry g = geometryOf(info, 1, op);
    auto src = srcArg(info, 2, g, op);
    bool training = flag(info, 3, op, "training");
    auto pd = forwardPd(g, alg, src, training);
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, src, "src").arg(DNNL_ARG_DST, pd.dst_desc(), "dst").workspace(pd.workspace_desc());
    if (alg == dnnl::algorithm::pooling_max) plan.guard(maxPoolGuard(g, src, pd.dst_desc(), pd.workspace_desc()));
    return plan.finish(info.Env(), dnnl::pooling_forward(pd), pd.scratchpad_desc());
  });
}

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
    return PlanBuilder(op)
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .workspace(pd.workspace_desc())
        .arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc")
        .finish(info.Env(), dnnl::pooling_backward(pd), pd.scratchpad_desc());
  });
}

}  // namespace

void initPool(Napi::Env env, Napi::Object exports) {
  exports.Set("poolPlan", Napi::Function::New(env, PoolPlan));
  exports.Set("poolBackwardPlan", Napi::Function::New(env, PoolBackwardPlan));
}

}  // namespace convkit
