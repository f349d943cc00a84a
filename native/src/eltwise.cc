// ReLU, sigmoid and tanh forward and backward plans on any layout (the input's own: blocked data
// stays blocked). As in the ops layer, the ReLU gradient reads the forward input; sigmoid and
// tanh read the forward output (the *_use_dst_for_bwd algorithms). ReLU is a loop of our own over
// the physical buffer (elementwise, so any layout; padding lanes stay 0): oneDNN's is max(x, 0),
// which maps NaN to 0, where PyTorch keeps NaN (docs/numerics.md). It runs at memory speed, as
// oneDNN's does.
#include <cmath>

#include "finite.h"
#include "plan.h"

namespace convkit {

namespace {

dnnl::algorithm algorithmOf(const Napi::CallbackInfo& info, const std::string& kind, const char* op) {
  if (kind == "relu") return dnnl::algorithm::eltwise_relu;
  if (kind == "sigmoid") return dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
  if (kind == "tanh") return dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
  throw Napi::TypeError::New(info.Env(),
                             std::string(op) + ": unknown activation '" + kind + "' (expected relu, sigmoid or tanh)");
}

dnnl::eltwise_forward::primitive_desc forwardPd(dnnl::algorithm alg, const dnnl::memory::desc& md) {
  dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f);
  return dnnl::eltwise_forward::primitive_desc(d, planAttr(), cpuEngine());
}

// A queued elementwise loop, buffers [src, dst] in the layout of md (padding lanes map 0 to 0).
template <typename F>
Napi::Value loopPlan(Napi::Env env, const char* name, const dnnl::memory::desc& md, F f) {
  Plan plan;
  plan.name = name;
  plan.args = {0, 1};
  plan.descs = {md, md};
  const int64_t n = floatsOf(md);
  plan.custom = [n, f](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[1]);
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
  };
  int id = internDesc(md);
  return planResult(env, registerPlan(std::move(plan)), {{"src", id}, {"dst", id}});
}

// ReLU forward: y = x < 0 ? 0 : x (NaN and -0 stay, as torch.relu).
Napi::Value reluPlan(Napi::Env env, const dnnl::memory::desc& md) {
  return loopPlan(env, "activation", md, [](float x) { return x < 0.f ? 0.f : x; });
}

// Square root forward: std::sqrt on float is correctly rounded, so it equals the reference
// kernel's Math.sqrt in double rounded to float32 (NaN below zero, -0 stays -0). A batch norm
// folded into a conv takes one, and a reference fallback there stopped the queue.
Napi::Value sqrtPlan(Napi::Env env, const dnnl::memory::desc& md) {
  return loopPlan(env, "sqrt", md, [](float x) { return std::sqrt(x); });
}

// ReLU backward, buffers [diffDst, src, diffSrc]: 0 where x <= 0, else the gradient (so it passes
// a NaN input, as PyTorch's threshold_backward).
Napi::Value reluBackwardPlan(Napi::Env env, const dnnl::memory::desc& md) {
  Plan plan;
  plan.name = "activationBackward";
  plan.args = {0, 1, 2};
  plan.descs = {md, md, md};
  const int64_t n = floatsOf(md);
  plan.custom = [n](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* g = static_cast<const float*>(buffers[0]);
    const float* x = static_cast<const float*>(buffers[1]);
    float* gx = static_cast<float*>(buffers[2]);
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) gx[i] = x[i] <= 0.f ? 0.f : g[i];
  };
  int id = internDesc(md);
  return planResult(env, registerPlan(std::move(plan)), {{"diffDst", id}, {"saved", id}, {"diffSrc", id}});
}
}  // namespace

// eltwisePlan(kind, desc): buffers [src, dst], dst in the layout of src; kind is an activation or
// "sqrt".
Napi::Value EltwisePlan(const Napi::CallbackInfo& info) {
  const char* op = "activation";
  return guardedValue(info, op, [&]() -> Napi::Value {
    std::string kind = text(info, 0, op, "kind");
    dnnl::memory::desc md = descArg(info, 1, op, "desc");
    if (kind == "sqrt") return sqrtPlan(info.Env(), md);
    auto alg = algorithmOf(info, kind, op);
    if (alg == dnnl::algorithm::eltwise_relu) return reluPlan(info.Env(), md);
    auto pd = forwardPd(alg, md);
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, md, "src")
        .arg(DNNL_ARG_DST, md, "dst")
        .finish(info.Env(), dnnl::eltwise_forward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(eltwisePlan, EltwisePlan);

// eltwiseBackwardPlan(kind, desc): buffers [diffDst, saved, diffSrc], all in the layout of desc.
Napi::Value EltwiseBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "activationBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto alg = algorithmOf(info, text(info, 0, op, "kind"), op);
    dnnl::memory::desc md = descArg(info, 1, op, "desc");
    if (alg == dnnl::algorithm::eltwise_relu) return reluBackwardPlan(info.Env(), md);
    dnnl::eltwise_backward::desc d(alg, md, md, 0.f, 0.f);
    dnnl::eltwise_backward::primitive_desc pd(d, planAttr(), cpuEngine(), forwardPd(alg, md));
    return PlanBuilder(op)
        .arg(DNNL_ARG_DIFF_DST, md, "diffDst")
        .arg(alg == dnnl::algorithm::eltwise_relu ? DNNL_ARG_SRC : DNNL_ARG_DST, md, "saved")
        .arg(DNNL_ARG_DIFF_SRC, md, "diffSrc")
        .finish(info.Env(), dnnl::eltwise_backward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(eltwiseBackwardPlan, EltwiseBackwardPlan);

// scalarPlan(size): buffers [src, dst] plain, scalars [alpha, beta]: dst = alpha * src + beta in
// double, rounded once, as the reference kernel computes x + c, x * c and c - x. A queued loop
// (with the values as exec scalars, so one plan serves every value): a running-statistics update
// would otherwise stop the queue for a JavaScript loop.
Napi::Value ScalarPlan(const Napi::CallbackInfo& info) {
  const char* op = "scalar";
  return guardedValue(info, op, [&]() -> Napi::Value {
    int64_t size = integer(info, 0, op, "size");
    if (size < 1) throw Napi::RangeError::New(info.Env(), "scalar: argument 'size' must be positive");
    auto md = plainDescOf({size});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {md, md};
    plan.scalars = {{"alpha"}, {"beta"}};
    plan.custom = [size](const std::vector<void*>& buffers, const std::vector<double>& scalars) {
      const float* x = static_cast<const float*>(buffers[0]);
      float* y = static_cast<float*>(buffers[1]);
      const double alpha = scalars[0], beta = scalars[1];
#pragma omp parallel for if (size > 32768) schedule(static)
      for (int64_t i = 0; i < size; i++) y[i] = static_cast<float>(alpha * static_cast<double>(x[i]) + beta);
    };
    int id = internDesc(md);
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"src", id}, {"dst", id}});
  });
}
CONVKIT_EXPORT(scalarPlan, ScalarPlan);

}  // namespace convkit
