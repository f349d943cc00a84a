// Max and average pooling plans on the input's layout. Geometry: an object { batch, channels,
// inH, inW, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight, outH, outW }
// read by name (NativePoolGeometry in src/backend/native/pool.ts). Ceil mode arrives as a larger
// bottom/right padding (the JS side computes it), as PyTorch hands it to oneDNN. Max pooling in
// training keeps a workspace (argmax positions, in dst's layout) for the backward pass.
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
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, src, "src")
        .arg(DNNL_ARG_DST, pd.dst_desc(), "dst")
        .workspace(pd.workspace_desc())
        .finish(info.Env(), dnnl::pooling_forward(pd), pd.scratchpad_desc());
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

}  // namespace convkit
