// ReLU, sigmoid and tanh forward and backward over flat float arrays. As in the ops layer, the
// ReLU gradient reads the input; sigmoid and tanh read their output (the *_use_dst_for_bwd forms).
#include "eltwise.h"

#include "common.h"

namespace convkit {

namespace {

dnnl::algorithm algorithmOf(const Napi::CallbackInfo& info, const std::string& kind, const char* op) {
  if (kind == "relu") return dnnl::algorithm::eltwise_relu;
  if (kind == "sigmoid") return dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
  if (kind == "tanh") return dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
  throw Napi::TypeError::New(info.Env(), std::string(op) + ": unknown activation '" + kind + "' (expected relu, sigmoid or tanh)");
}

dnnl::eltwise_forward::primitive_desc forwardPd(dnnl::algorithm alg, const dnnl::memory::desc& md) {
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f);
  return dnnl::eltwise_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

}  // namespace

// eltwiseForward(kind, x, y, size)
Napi::Value EltwiseForward(const Napi::CallbackInfo& info) {
  const char* op = "activation";
  return guarded(info, op, [&] {
    std::string kind = text(info, 0, op, "kind");
    auto alg = algorithmOf(info, kind, op);
    int64_t size = integer(info, 3, op, "size");
    float* x = floats(info, 1, size, op, "x");
    float* y = floats(info, 2, size, op, "y");
    auto md = plainDesc({size}, dnnl::memory::format_tag::a);
    const auto& p = cached(keyOf(("eltwise_fwd_" + kind).c_str(), {size}), [&] {
      auto pd = forwardPd(alg, md);
      return CachedPrimitive{dnnl::eltwise_forward(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_SRC, dnnl::memory(md, cpuEngine(), x)}, {DNNL_ARG_DST, dnnl::memory(md, cpuEngine(), y)}});
  });
}

// eltwiseBackward(kind, gy, saved, gx, size): saved is the input for relu, the output otherwise.
Napi::Value EltwiseBackward(const Napi::CallbackInfo& info) {
  const char* op = "activationBackward";
  return guarded(info, op, [&] {
    std::string kind = text(info, 0, op, "kind");
    auto alg = algorithmOf(info, kind, op);
    int64_t size = integer(info, 4, op, "size");
    float* gy = floats(info, 1, size, op, "gy");
    float* saved = floats(info, 2, size, op, "saved");
    float* gx = floats(info, 3, size, op, "gx");
    auto md = plainDesc({size}, dnnl::memory::format_tag::a);
    const auto& p = cached(keyOf(("eltwise_bwd_" + kind).c_str(), {size}), [&] {
      dnnl::eltwise_backward::desc d(alg, md, md, 0.f, 0.f);
      dnnl::eltwise_backward::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(alg, md));
      return CachedPrimitive{dnnl::eltwise_backward(pd), pd.scratchpad_desc(), {}};
    });
    int savedArg = alg == dnnl::algorithm::eltwise_relu ? DNNL_ARG_SRC : DNNL_ARG_DST;
    execute(p, {{DNNL_ARG_DIFF_DST, dnnl::memory(md, cpuEngine(), gy)},
                {savedArg, dnnl::memory(md, cpuEngine(), saved)},
                {DNNL_ARG_DIFF_SRC, dnnl::memory(md, cpuEngine(), gx)}});
  });
}

}  // namespace convkit
