// Local response normalisation across channels on the input's layout. oneDNN's formula divides
// alpha by the window size itself (dst = src * (k + alpha / n * sum src^2)^-beta), as PyTorch
// does, so alpha passes through unchanged. Its window is c - (n-1)/2 .. c + (n+1)/2 - 1, which is
// PyTorch's (c - n/2 .. c + (n-1)/2, rounded down) only for odd n: even sizes are refused here.
#include "plan.h"

#include <cmath>

namespace convkit {

namespace {

struct LrnParams {
  int64_t size;
  float alpha, beta, k;
};

LrnParams paramsOf(Fields& f) {
  int64_t size = f.integer("size", 1, 1000001);
  if (size % 2 == 0)
    throw std::invalid_argument("argument 'options' field 'size' must be odd, got " + std::to_string(size));
  return {size, static_cast<float>(f.number("alpha")), static_cast<float>(f.number("beta")),
          static_cast<float>(f.number("k"))};
}

dnnl::memory::desc srcArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  dnnl::memory::desc src = descArg(info, index, op, "src");
  if (src.dims().size() < 3 || src.dims().size() > 5)
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": src must have 3 to 5 dims");
  return src;
}

dnnl::lrn_forward::primitive_desc forwardPd(const dnnl::memory::desc& src, const LrnParams& p, bool training) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::lrn_forward::desc d(prop, dnnl::algorithm::lrn_across_channels, src, p.size, p.alpha, p.beta, p.k);
  return dnnl::lrn_forward::primitive_desc(d, planAttr(), cpuEngine());
}

}  // namespace

// lrnPlan(src, { size, alpha, beta, k, training }): buffers [src, dst, (workspace)]
Napi::Value LrnPlan(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    Fields options(info, 1, op, "options");
    LrnParams p = paramsOf(options);
    auto pd = forwardPd(src, p, options.flag("training"));
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, src, "src")
        .arg(DNNL_ARG_DST, pd.dst_desc(), "dst")
        .workspace(pd.workspace_desc())
        .finish(info.Env(), dnnl::lrn_forward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(lrnPlan, LrnPlan);

// lrnBackwardPlan(src, { size, alpha, beta, k }): buffers [src, diffDst, (workspace), diffSrc]
Napi::Value LrnBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNormBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    Fields options(info, 1, op, "options");
    LrnParams p = paramsOf(options);
    auto hint = forwardPd(src, p, true);
    dnnl::lrn_backward::desc d(dnnl::algorithm::lrn_across_channels, src, hint.dst_desc(), p.size, p.alpha, p.beta,
                               p.k);
    dnnl::lrn_backward::primitive_desc pd(d, planAttr(), cpuEngine(), hint);
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, src, "src")
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .workspace(pd.workspace_desc())
        .arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc")
        .finish(info.Env(), dnnl::lrn_backward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(lrnBackwardPlan, LrnBackwardPlan);

}  // namespace convkit
