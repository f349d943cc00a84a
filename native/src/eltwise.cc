// ReLU, sigmoid and tanh forward and backward plans on any layout (the input's own: blocked data
// stays blocked). As in the ops layer, the ReLU gradient reads the forward input; sigmoid and
// tanh read the forward output (the *_use_dst_for_bwd algorithms). ReLU is a loop of our own over
// the physical buffer (elementwise, so any layout; padding lanes stay 0): oneDNN's is max(x, 0),
// which maps NaN to 0, where PyTorch keeps NaN (docs/numerics.md). It runs at memory speed, as
// oneDNN's does.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

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

// ReLU backward of a gradient in `parts` (1 to kMaxParts) buffers, [g0, ..., saved, diffSrc]: the
// parts summed in order, each sum rounded to float (as adding them one by one), then 0 where the
// saved forward input or output is <= 0 (so it passes a NaN, as PyTorch's threshold_backward).
constexpr int kMaxParts = 4;

Napi::Value reluBackwardPlan(Napi::Env env, const dnnl::memory::desc& md, int parts) {
  Plan plan;
  plan.name = "activationBackward";
  for (int i = 0; i < parts + 2; i++) {
    plan.args.push_back(i);
    plan.descs.push_back(md);
  }
  const int64_t n = floatsOf(md);
  plan.custom = [n, parts](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* g[kMaxParts] = {};
    for (int p = 0; p < parts; p++) g[p] = static_cast<const float*>(buffers[p]);
    const float* x = static_cast<const float*>(buffers[parts]);
    float* gx = static_cast<float*>(buffers[parts + 1]);
#pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t begin = 0; begin < n; begin += 4096) {
      const int64_t end = std::min(n, begin + 4096);
      // the parts' sum first (a loop per part vectorizes), then the mask, in one cache-sized chunk;
      // a gradient in one part is masked as it is
      const float* sum = g[0];
      if (parts > 1) {
        std::copy(g[0] + begin, g[0] + end, gx + begin);
        for (int p = 1; p < parts; p++) {
          const float* gp = g[p];
#pragma omp simd
          for (int64_t i = begin; i < end; i++) gx[i] += gp[i];
        }
        sum = gx;
      }
#pragma omp simd
      for (int64_t i = begin; i < end; i++) gx[i] = x[i] <= 0.f ? 0.f : sum[i];
    }
  };
  int id = internDesc(md);
  std::vector<std::pair<std::string, int>> named;
  for (int p = 0; p < parts; p++) named.push_back({p == 0 ? "diffDst" : "part" + std::to_string(p), id});
  named.push_back({"saved", id});
  named.push_back({"diffSrc", id});
  return planResult(env, registerPlan(std::move(plan)), named);
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
    if (alg == dnnl::algorithm::eltwise_relu) return reluBackwardPlan(info.Env(), md, 1);
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

// reluBackwardOfSumPlan(parts, desc): buffers [g0, ..., g(parts-1), saved, diffSrc], all in the
// layout of desc: relu's gradient of the parts' sum (reluBackwardPlan above).
Napi::Value ReluBackwardOfSumPlan(const Napi::CallbackInfo& info) {
  const char* op = "reluBackwardOfSum";
  return guardedValue(info, op, [&]() -> Napi::Value {
    const int64_t parts = integer(info, 0, op, "parts");
    if (parts < 1 || parts > kMaxParts) {
      throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument 'parts' must be from 1 to " +
                                                  std::to_string(kMaxParts) + ", got " + std::to_string(parts));
    }
    return reluBackwardPlan(info.Env(), descArg(info, 1, op, "desc"), static_cast<int>(parts));
  });
}
CONVKIT_EXPORT(reluBackwardOfSumPlan, ReluBackwardOfSumPlan);

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
