// 2-D convolution backward plans: backward data and backward weights (+ bias), each on oneDNN's
// direct or Winograd algorithm (conv-algorithm.ts chooses), with the forward's layouts as hints
// (conv_common.h). A Winograd plan runs its direct alternate on non-finite or misaligned inputs
// (winograd_guard.h).
#include "conv_common.h"
#include "finite.h"
#include "plan.h"
#include "winograd_guard.h"

#include <string>

namespace convkit {

using namespace convplan;

// conv2dBackwardDataPlan(geometry, { algorithm }?) -> { plan, diffDst, weights, diffSrc, impl }
// `algorithm` as conv2dPlan's ('direct' when absent).
Napi::Value Conv2dBackwardDataPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardData";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    const std::string algorithmName = algorithmNameOf(info, 1, op);
    const dnnl::algorithm algorithm = algorithmOf(info.Env(), algorithmName);
    auto make = [](dnnl::algorithm a) {
      return [a](const ConvGeometry& h) {
        dnnl::convolution_backward_data::desc d(a, srcAny(h), any(h.weights()), dstAny(h), h.strides(), h.dilates(),
                                                h.padL(), h.padR());
        return dnnl::convolution_backward_data::primitive_desc(d, planAttr(), cpuEngine(),
                                                               forwardPd(h, false, true, planAttr(), a));
      };
    };
    auto pd = pdFor(g, algorithmName, make(algorithm));
    dnnl::memory::desc scratchpad = pd.scratchpad_desc();
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .arg(DNNL_ARG_WEIGHTS, pd.weights_desc(), "weights")
        .arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc");
    if (isWinograd(pd.impl_info_str())) {
      // The alternate reads the Winograd plan's own layouts (oneDNN's direct JIT kernel wants other
      // weights blocking, so this may be its reference kernel: it runs only on non-finite data).
      const auto direct = dnnl::convolution_backward_data::primitive_desc(
          dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, pd.diff_src_desc(),
                                                pd.weights_desc(), pd.diff_dst_desc(), g.strides(), g.dilates(),
                                                g.padL(), g.padR()),
          planAttr(), cpuEngine(),
          directForwardOn(g, pd.diff_src_desc(), pd.weights_desc(), dnnl::memory::desc(), pd.diff_dst_desc()));
      plan.guard(directIfNonFinite<dnnl::convolution_backward_data>(
          {{0, floatsOf(pd.diff_dst_desc())}, {1, floatsOf(pd.weights_desc())}}, direct, scratchpad));
    }
    Napi::Object result = plan.finish(info.Env(), dnnl::convolution_backward_data(pd), scratchpad);
    result.Set("impl", Napi::String::New(info.Env(), pd.impl_info_str()));
    return result;
  });
}
CONVKIT_EXPORT(conv2dBackwardDataPlan, Conv2dBackwardDataPlan);

// conv2dBackwardWeightsPlan(geometry, { bias, algorithm? }) -> { plan, src, diffDst, diffWeights, (diffBias), impl }
Napi::Value Conv2dBackwardWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardWeight";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    bool bias = Fields(info, 1, op, "options").flag("bias");
    const std::string algorithmName = algorithmNameOf(info, 1, op);
    const dnnl::algorithm algorithm = algorithmOf(info.Env(), algorithmName);
    auto pd = pdFor(g, algorithmName, [bias, algorithm](const ConvGeometry& h) {
      dnnl::convolution_backward_weights::desc d(algorithm, srcAny(h), any(h.weights()), biasDesc(h, bias), dstAny(h),
                                                 h.strides(), h.dilates(), h.padL(), h.padR());
      return dnnl::convolution_backward_weights::primitive_desc(d, planAttr(), cpuEngine(),
                                                                forwardPd(h, bias, true, planAttr(), algorithm));
    });
    dnnl::memory::desc scratchpad = pd.scratchpad_desc();
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, pd.src_desc(), "src")
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .arg(DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc(), "diffWeights");
    if (bias) plan.arg(DNNL_ARG_DIFF_BIAS, pd.diff_bias_desc(), "diffBias");
    if (isWinograd(pd.impl_info_str())) {
      // As the backward data's: a direct alternate on the Winograd plan's own layouts.
      const auto direct = dnnl::convolution_backward_weights::primitive_desc(
          dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, pd.src_desc(),
                                                   pd.diff_weights_desc(), biasDesc(g, bias), pd.diff_dst_desc(),
                                                   g.strides(), g.dilates(), g.padL(), g.padR()),
          planAttr(), cpuEngine(),
          directForwardOn(g, pd.src_desc(), pd.diff_weights_desc(), biasDesc(g, bias), pd.diff_dst_desc()));
      plan.guard(directIfNonFinite<dnnl::convolution_backward_weights>(
          {{0, floatsOf(pd.src_desc())}, {1, floatsOf(pd.diff_dst_desc())}}, direct, scratchpad));
    }
    Napi::Object result = plan.finish(info.Env(), dnnl::convolution_backward_weights(pd), scratchpad);
    result.Set("impl", Napi::String::New(info.Env(), pd.impl_info_str()));
    return result;
  });
}
CONVKIT_EXPORT(conv2dBackwardWeightsPlan, Conv2dBackwardWeightsPlan);

}  // namespace convkit
