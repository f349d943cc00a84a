// Max and average pooling forward and backward over plain NCHW memory. Geometry: 14 integers,
// N C H W KH KW strideH strideW padTop padLeft padBottom padRight OH OW. Ceil mode arrives as a
// larger bottom/right padding (the JS side computes it), as PyTorch hands it to oneDNN. Max
// pooling returns its workspace (argmax positions in oneDNN's own format) as a Uint8Array that
// the backward pass takes back.
#include "pool.h"

#include "common.h"

namespace convkit {

using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

namespace {

struct PoolGeometry {
  int64_t N, C, H, W, KH, KW, sH, sW, pT, pL, pB, pR, OH, OW;
  dims src() const { return {N, C, H, W}; }
  dims dst() const { return {N, C, OH, OW}; }
  size_t srcSize() const { return N * C * H * W; }
  size_t dstSize() const { return N * C * OH * OW; }
};

PoolGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op, std::vector<int64_t>& raw) {
  raw = ints(info, index, 14, op, "geometry");
  PoolGeometry g{raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13]};
  bool positive = g.N > 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.KH > 0 && g.KW > 0 && g.sH > 0 && g.sW > 0 && g.OH > 0 && g.OW > 0;
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

dnnl::pooling_forward::primitive_desc forwardPd(const PoolGeometry& g, dnnl::algorithm alg) {
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, alg, plainDesc(g.src(), tag::nchw), plainDesc(g.dst(), tag::nchw),
                                {g.sH, g.sW}, {g.KH, g.KW}, {g.pT, g.pL}, {g.pB, g.pR});
  return dnnl::pooling_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

}  // namespace

// poolForward(kind, x, y, geometry) -> workspace (Uint8Array) for max, undefined for average
Napi::Value PoolForward(const Napi::CallbackInfo& info) {
  const char* op = "pool2d";
  return guardedValue(info, op, [&]() -> Napi::Value {
    std::string kind = text(info, 0, op, "kind");
    auto alg = algorithmOf(info, kind, op);
    std::vector<int64_t> raw;
    PoolGeometry g = geometryOf(info, 3, op, raw);
    float* x = floats(info, 1, g.srcSize(), op, "x");
    float* y = floats(info, 2, g.dstSize(), op, "y");
    const auto& p = cached(keyOf(("pool_fwd_" + kind).c_str(), raw), [&] {
      auto pd = forwardPd(g, alg);
      return CachedPrimitive{dnnl::pooling_forward(pd), pd.scratchpad_desc(), pd.workspace_desc()};
    });
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plain(g.src(), tag::nchw, x)}, {DNNL_ARG_DST, plain(g.dst(), tag::nchw, y)}};
    size_t wsSize = p.workspace.get_size();
    if (wsSize == 0) {
      execute(p, args);
      return info.Env().Undefined();
    }
    auto workspace = Napi::Uint8Array::New(info.Env(), wsSize);
    args.insert({DNNL_ARG_WORKSPACE, dnnl::memory(p.workspace, cpuEngine(), workspace.Data())});
    execute(p, args);
    return workspace;
  });
}

// poolBackward(kind, gy, gx, workspace | null, geometry)
Napi::Value PoolBackward(const Napi::CallbackInfo& info) {
  const char* op = "pool2dBackward";
  return guarded(info, op, [&] {
    std::string kind = text(info, 0, op, "kind");
    auto alg = algorithmOf(info, kind, op);
    std::vector<int64_t> raw;
    PoolGeometry g = geometryOf(info, 4, op, raw);
    float* gy = floats(info, 1, g.dstSize(), op, "gy");
    float* gx = floats(info, 2, g.srcSize(), op, "gx");
    const auto& p = cached(keyOf(("pool_bwd_" + kind).c_str(), raw), [&] {
      auto hint = forwardPd(g, alg);
      dnnl::pooling_backward::desc d(alg, plainDesc(g.src(), tag::nchw), plainDesc(g.dst(), tag::nchw), {g.sH, g.sW}, {g.KH, g.KW},
                                     {g.pT, g.pL}, {g.pB, g.pR});
      dnnl::pooling_backward::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), hint);
      return CachedPrimitive{dnnl::pooling_backward(pd), pd.scratchpad_desc(), pd.workspace_desc()};
    });
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, plain(g.dst(), tag::nchw, gy)},
                                                {DNNL_ARG_DIFF_SRC, plain(g.src(), tag::nchw, gx)}};
    size_t wsSize = p.workspace.get_size();
    if (wsSize > 0) {
      uint8_t* ws = bytes(info, 3, wsSize, op, "workspace");
      args.insert({DNNL_ARG_WORKSPACE, dnnl::memory(p.workspace, cpuEngine(), ws)});
    }
    execute(p, args);
  });
}

}  // namespace convkit
