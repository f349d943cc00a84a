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

float field(const Napi::CallbackInfo& info, const Napi::Object& o, const char* name, const char* op) {
  Napi::Value v = o.Get(name);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d))
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": option '" + name + "' must be a finite number");
  return static_cast<float>(d);
}

LrnParams paramsOf(const Napi::CallbackInfo& info, const Napi::Object& o, const char* op) {
  double size = field(info, o, "size", op);
  if (!(size >= 1 && size <= 1e6) || size != std::floor(size) || static_cast<int64_t>(size) % 2 == 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": option 'size' must be an odd positive integer");
  }
  return {static_cast<int64_t>(size), field(info, o, "alpha", op), field(info, o, "beta", op), field(info, o, "k", op)};
}

Napi::Object optionsArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsObject())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument 'options' must be an object");
  return info[index].As<Napi::Object>();
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

// lrnPlan(src, { size, alpha, beta, k, training }): buffers [src, dst, (workspace)]
Napi::Value LrnPlan(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    Napi::Object o = optionsArg(info, 1, op);
    LrnParams p = paramsOf(info, o, op);
    Napi::Value training = o.Get("training");
    if (!training.IsBoolean())
      throw Napi::TypeError::New(info.Env(), "localResponseNorm: option 'training' must be a boolean");
    auto pd = forwardPd(src, p, training.As<Napi::Boolean>().Value());
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, src, "src")
        .arg(DNNL_ARG_DST, pd.dst_desc(), "dst")
        .workspace(pd.workspace_desc())
        .finish(info.Env(), dnnl::lrn_forward(pd), pd.scratchpad_desc());
  });
}

// lrnBackwardPlan(src, { size, alpha, beta, k }): buffers [src, diffDst, (workspace), diffSrc]
Napi::Value LrnBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNormBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    LrnParams p = paramsOf(info, optionsArg(info, 1, op), op);
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

}  // namespace

void initLrn(Napi::Env env, Napi::Object exports) {
  exports.Set("lrnPlan", Napi::Function::New(env, LrnPlan));
  exports.Set("lrnBackwardPlan", Napi::Function::New(env, LrnBackwardPlan));
}

}  // namespace convkit
