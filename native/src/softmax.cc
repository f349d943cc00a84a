// Softmax and log-softmax (softmax_v2) plans over the middle axis of a plain outer x dim x inner view.
#include "plan.h"

namespace convkit {

namespace {

// The plain outer x dim x inner view of the `layout` argument { outer, dim, inner }.
dnnl::memory::desc viewDesc(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Fields layout(info, index, op, "layout");
  const int64_t big = int64_t{1} << 40;
  return plainDescOf({layout.integer("outer", 1, big), layout.integer("dim", 1, big), layout.integer("inner", 1, big)});
}

dnnl::softmax_v2_forward::primitive_desc forwardPd(dnnl::algorithm alg, const dnnl::memory::desc& md) {
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_training, alg, md, md, 1);
  return dnnl::softmax_v2_forward::primitive_desc(d, planAttr(), cpuEngine());
}

}  // namespace

// softmaxPlan({ outer, dim, inner }, { log }): buffers [src, dst]
Napi::Value SoftmaxPlan(const Napi::CallbackInfo& info) {
  const char* op = "softmax";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto md = viewDesc(info, 0, op);
    auto alg =
        Fields(info, 1, op, "options").flag("log") ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    auto pd = forwardPd(alg, md);
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, md, "src")
        .arg(DNNL_ARG_DST, md, "dst")
        .finish(info.Env(), dnnl::softmax_v2_forward(pd), pd.scratchpad_desc());
  });
}

// softmaxBackwardPlan({ outer, dim, inner }, { log }): buffers [dst, diffDst, diffSrc]
Napi::Value SoftmaxBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "softmaxBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto md = viewDesc(info, 0, op);
    auto alg =
        Fields(info, 1, op, "options").flag("log") ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    dnnl::softmax_v2_backward::desc d(alg, md, md, md, 1);
    dnnl::softmax_v2_backward::primitive_desc pd(d, planAttr(), cpuEngine(), forwardPd(alg, md));
    return PlanBuilder(op)
        .arg(DNNL_ARG_DST, md, "dst")
        .arg(DNNL_ARG_DIFF_DST, md, "diffDst")
        .arg(DNNL_ARG_DIFF_SRC, md, "diffSrc")
        .finish(info.Env(), dnnl::softmax_v2_backward(pd), pd.scratchpad_desc());
  });
}

}  // namespace convkit
