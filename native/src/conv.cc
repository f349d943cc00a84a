// 2-D convolution forward plans (bias, fused sum and ReLU post-ops; the backward plans are in
// conv_backward.cc). oneDNN chooses the layouts of src, weights and dst (format `any`, but see
// preferBlocked16 in conv_common.h); bias is plain [O]. Geometry comes as an object with the
// fields of Conv2dGeometry (src/backend/backend.ts), read by name and checked once
// (conv_common.h's geometryOf). Dilation is PyTorch's (1 = none); oneDNN counts from 0.
#include "conv_common.h"
#include "finite.h"
#include "plan.h"
#include "winograd_guard.h"

#include <atomic>
#include <string>

namespace convkit {

using namespace convplan;

namespace {

// The plan's attributes: an addend (a sum post-op adding what dst holds, or a binary add reading
// `addend`, a separate buffer), then ReLU.
dnnl::primitive_attr postOpsAttr(bool sum, const dnnl::memory::desc* addend, bool relu) {
  dnnl::primitive_attr attr = planAttr();
  dnnl::post_ops post;
  if (addend) {
    post.append_binary(dnnl::algorithm::binary_add, *addend);
  } else if (sum) {
    post.append_sum(1.0f);
  }
  if (relu) post.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(post);
  return attr;
}

// The guard of a space-to-depth cut's conv. The cut pads the kernel with zero taps (where
// sH * a + r >= KH), which meet inputs the original window does not hold: 0 * NaN and 0 * Inf make
// NaN at outputs whose window holds no NaN. When src, weights or bias hold a non-finite value, the
// output is recomputed here (after the primitive ran) from the same buffers, skipping those taps,
// in double (rounded once, as the reference), with the bias and a NaN-keeping ReLU. Finite data
// pays the scan alone.
NonFiniteGuard cutGuard(const ConvGeometry& g, const dnnl::convolution_forward::primitive_desc& pd, bool bias,
                        bool relu, int64_t sH, int64_t sW, int64_t KH, int64_t KW) {
  const auto src = pd.src_desc(), weights = pd.weights_desc(), dst = pd.dst_desc();
  const int64_t srcFloats = floatsOf(src), weightFloats = floatsOf(weights);
  const size_t dstAt = bias ? 3 : 2;
  NonFiniteGuard guard;
  guard.check = [=](const std::vector<void*>& buffers, FiniteMemo* memo) {
    return nonFiniteIn(memo, static_cast<const float*>(buffers[0]), srcFloats) ||
           nonFiniteIn(memo, static_cast<const float*>(buffers[1]), weightFloats) ||
           (bias && nonFiniteIn(memo, static_cast<const float*>(buffers[2]), g.O));
  };
  guard.fix = [=](const std::vector<void*>& buffers) {
    const float* x = static_cast<const float*>(buffers[0]);
    const float* w = static_cast<const float*>(buffers[1]);
    const float* b = bias ? static_cast<const float*>(buffers[2]) : nullptr;
    float* y = static_cast<float*>(buffers[dstAt]);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
      for (int64_t o = 0; o < g.O; o++) {
        for (int64_t h = 0; h < g.OH; h++) {
          for (int64_t v = 0; v < g.OW; v++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t k = 0; k < g.C; k++) {
              const int64_t r = k / sW % sH, q = k % sW;
              for (int64_t a = 0; a < g.KH && sH * a + r < KH; a++) {
                for (int64_t c = 0; c < g.KW && sW * c + q < KW; c++) {
                  const int64_t wi[4] = {o, k, a, c}, xi[4] = {n, k, h + a, v + c};
                  acc += static_cast<double>(w[physicalOffset(weights, wi)]) * x[physicalOffset(src, xi)];
                }
              }
            }
            float out = static_cast<float>(acc);
            if (relu && out < 0.f) out = 0.f;
            const int64_t yi[4] = {n, o, h, v};
            y[physicalOffset(dst, yi)] = out;
          }
        }
      }
    }
  };
  return guard;
}

// The guard of a Winograd plan. Its transforms mix a whole tile of input, so a NaN or an infinity
// would reach outputs whose window does not hold it (and Inf - Inf makes NaN), unlike the direct
// sum and PyTorch. The plan takes one more buffer, `guardWeights`: the weights in the layout of
// the direct kernel (JavaScript converts them once per weight version). When src, those weights,
// bias or the addend hold a non-finite value, the direct kernel runs instead (without the ReLU,
// then reluKeepingNaN, as the ReLU guard does); finite data pays the scan alone.
NonFiniteGuard winogradGuard(PlanBuilder& plan, const ConvGeometry& g,
                             const dnnl::convolution_forward::primitive_desc& pd, bool bias, bool relu, bool sum,
                             bool separateAddend, bool training, dnnl::memory::desc& scratchpad) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  auto dst = pd.dst_desc();
  dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, pd.src_desc(), any(g.weights()),
                                    biasDesc(g, bias), dst, g.strides(), g.dilates(), g.padL(), g.padR());
  dnnl::convolution_forward::primitive_desc direct(d, postOpsAttr(sum, separateAddend ? &dst : nullptr, false),
                                                   cpuEngine());
  if (direct.scratchpad_desc().get_size() > scratchpad.get_size()) scratchpad = direct.scratchpad_desc();
  // Buffers: src, weights, (bias), dst, (addend), guardWeights. The Winograd primitive leaves the
  // last one alone (an argument it does not use); the direct one reads it as its weights.
  const size_t dstAt = bias ? 3 : 2, guardAt = dstAt + (separateAddend ? 2 : 1);
  plan.arg(DNNL_ARG_WEIGHTS_1, direct.weights_desc(), "guardWeights");
  std::vector<int> args = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS_1};
  if (bias) args.push_back(DNNL_ARG_BIAS);
  args.push_back(DNNL_ARG_DST);
  if (separateAddend) args.push_back(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1);
  args.push_back(DNNL_ARG_WEIGHTS);
  std::vector<std::pair<size_t, int64_t>> inputs = {{0, floatsOf(pd.src_desc())},
                                                    {guardAt, floatsOf(direct.weights_desc())}};
  if (bias) inputs.push_back({2, g.O});
  if (sum) inputs.push_back({separateAddend ? dstAt + 1 : dstAt, floatsOf(dst)});
  NonFiniteGuard guard;
  guard.check = winogradCheck(std::move(inputs), guardAt);
  guard.alternate = LazyPrimitive([direct] { return dnnl::convolution_forward(direct); });
  guard.alternateArgs = args;
  const int64_t dstFloats = floatsOf(dst);
  if (relu) {
    guard.fix = [dstAt, dstFloats](const std::vector<void*>& buffers) {
      reluKeepingNaN(static_cast<float*>(buffers[dstAt]), dstFloats);
    };
  }
  return guard;
}

}  // namespace

// conv2dPlan(geometry, { bias, relu, sum, training, algorithm, cutStrideH, cutStrideW, cutKernelH, cutKernelW }) ->
// { plan, src, weights, (bias), dst, (addend), gemm, impl } With sum, the addend is read from its own buffer (reported
// as `addend`) when oneDNN runs that with the same kernel as the sum post-op; else dst must hold the addend (no
// `addend` reported). `algorithm` is optional ('direct' when absent); where oneDNN has no kernel for it on this shape
// and CPU, the error says "has no <algorithm> implementation" (conv-tuning.ts then drops that candidate). 'brgemm'
// is the direct algorithm on nhwc activations where oneDNN runs it with its brgemm kernels (AVX-512): faster than
// its JIT kernels on nChw16c for many inference shapes (AlexNet's, strided 3x3s), so a candidate.
Napi::Value Conv2dPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2d";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    Fields options(info, 1, op, "options");
    bool bias = options.flag("bias"), relu = options.flag("relu");
    bool sum = options.flag("sum"), training = options.flag("training");
    // A stride-1 conv of a space-to-depth cut (space_to_depth.cc) names the original stride and
    // kernel (else 0): cutSH x cutSW, cutKH x cutKW.
    const bool named = info[1].As<Napi::Object>().Has("cutStrideH");  // optional fields, all four or none
    auto cutField = [&](const char* key) { return named ? options.integer(key, 0, 1 << 30) : int64_t{0}; };
    const int64_t cutSH = cutField("cutStrideH"), cutSW = cutField("cutStrideW");
    const int64_t cutKH = cutField("cutKernelH"), cutKW = cutField("cutKernelW");
    const bool cut = cutSH > 0 && cutSW > 0 && cutKH > 0 && cutKW > 0;
    const bool chosen = info[1].As<Napi::Object>().Has("algorithm");
    const std::string algorithmName = chosen ? options.text("algorithm") : "direct";
    const bool brgemm = algorithmName == "brgemm";
    const dnnl::algorithm algorithm =
        brgemm ? dnnl::algorithm::convolution_direct : algorithmOf(info.Env(), algorithmName);
    auto make = [&](const ConvGeometry& h) {
      return forwardPd(h, bias, training, postOpsAttr(sum, nullptr, relu), algorithm);
    };
    dnnl::convolution_forward::primitive_desc pd;
    try {
      // Training convs keep their neighbours' nChw16c whichever the algorithm; inference Winograd
      // takes the layouts it picks (measured that way, docs/native-backend.md#algorithm-choice).
      if (brgemm) {
        g.channelsLast = true;
        pd = make(g);
        if (std::string(pd.impl_info_str()).rfind("brg", 0) != 0) throw dnnl::error(dnnl_unimplemented, "not brgemm");
      } else {
        pd = algorithm == dnnl::algorithm::convolution_direct || training ? preferredLayoutPd(g, make) : make(g);
      }
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
      throw std::invalid_argument("oneDNN has no " + algorithmName +
                                  " implementation for this convolution on this CPU");
    }
    bool separateAddend = false;
    if (sum) {
      // A binary add saves copying the addend into dst first, if it gets the same (jit) kernel.
      auto dst = pd.dst_desc();
      try {
        auto withBinary = forwardPd(g, bias, training, postOpsAttr(true, &dst, relu), algorithm);
        if (withBinary.impl_info_str() == pd.impl_info_str() && withBinary.dst_desc() == dst) {
          pd = withBinary;
          separateAddend = true;
        }
      } catch (const dnnl::error&) {
        // unsupported: keep the sum post-op
      }
    }
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, pd.src_desc(), "src").arg(DNNL_ARG_WEIGHTS, pd.weights_desc(), "weights");
    if (bias) plan.arg(DNNL_ARG_BIAS, pd.bias_desc(), "bias");
    plan.arg(DNNL_ARG_DST, pd.dst_desc(), "dst");
    if (separateAddend) plan.arg(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, pd.dst_desc(), "addend");
    // Whether oneDNN fell back to im2col + gemm (JavaScript may then cut a strided conv, space_to_depth.cc).
    bool gemm = std::string(pd.impl_info_str()).find("gemm") != std::string::npos;
    dnnl::memory::desc scratchpad = pd.scratchpad_desc();
    // The cut's guard replaces the ReLU guard below (it applies the ReLU itself).
    const bool cutGuarded = cut && !sum && g.G == 1;
    LazyPrimitive unfused;  // set when the plan's primitive is the conv without its ReLU post-op
    if (std::string(pd.impl_info_str()).find("wino") != std::string::npos) {
      plan.guard(winogradGuard(plan, g, pd, bias, relu, sum, separateAddend, training, scratchpad));
    } else if (relu && !cutGuarded) {
      // oneDNN's ReLU post-op is max(y, 0), which maps NaN to 0. Where an input holds a NaN or an
      // infinity (src, weights, bias, addend), the conv runs without it and reluKeepingNaN follows
      // (same layouts, so the same buffers serve both). Finite data pays the cheaper of two on each
      // run: the scan of the inputs (those a program's memo does not know: finite_memo.h), or the
      // unfused conv with the ReLU as a pass over dst (it reads and writes dst: cheaper for layers
      // whose weights outweigh their activations, unless the memo knows the weights).
      auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
      auto dst = pd.dst_desc();
      dnnl::convolution_forward::desc d(prop, algorithm, pd.src_desc(), pd.weights_desc(), biasDesc(g, bias), dst,
                                        g.strides(), g.dilates(), g.padL(), g.padR());
      dnnl::convolution_forward::primitive_desc exact(d, postOpsAttr(sum, separateAddend ? &dst : nullptr, false),
                                                      cpuEngine());
      if (exact.scratchpad_desc().get_size() > scratchpad.get_size()) scratchpad = exact.scratchpad_desc();
      // Buffers: src, weights, (bias), dst, (addend); with sum and no addend buffer, dst holds it.
      std::vector<std::pair<size_t, int64_t>> inputs = {{0, floatsOf(pd.src_desc())}, {1, floatsOf(pd.weights_desc())}};
      size_t dstAt = bias ? 3 : 2;
      if (bias) inputs.push_back({2, g.O});
      if (sum) inputs.push_back({separateAddend ? dstAt + 1 : dstAt, floatsOf(dst)});
      const int64_t dstFloats = floatsOf(dst);
      NonFiniteGuard guard;
      guard.check = [inputs, dstFloats](const std::vector<void*>& buffers, FiniteMemo* memo) {
        int64_t cost = 0;
        for (auto [i, n] : inputs) cost += scanCostIn(memo, static_cast<const float*>(buffers[i]), n);
        if (2 * dstFloats < cost) return true;
        for (auto [i, n] : inputs)
          if (nonFiniteIn(memo, static_cast<const float*>(buffers[i]), n)) return true;
        return false;
      };
      guard.fix = [dstAt, dstFloats](const std::vector<void*>& buffers) {
        reluKeepingNaN(static_cast<float*>(buffers[dstAt]), dstFloats);
      };
      int64_t scanned = 0;
      for (auto [i, n] : inputs) scanned += n;
      if (2 * dstFloats < scanned) {
        // Unfused unless a program's memo knows the weights: the fused primitive is compiled on
        // the first run that can use it (a plan used op by op compiles one, not two).
        unfused = LazyPrimitive([exact] { return dnnl::convolution_forward(exact); });
        guard.whenFinite = LazyPrimitive([pd] { return dnnl::convolution_forward(pd); });
      } else {
        guard.alternate = LazyPrimitive([exact] { return dnnl::convolution_forward(exact); });
      }
      plan.guard(std::move(guard));
    }
    if (cutGuarded) plan.guard(cutGuard(g, pd, bias, relu, cutSH, cutSW, cutKH, cutKW));
    Napi::Object result = plan.finish(
        info.Env(), unfused ? unfused : LazyPrimitive([pd] { return dnnl::convolution_forward(pd); }), scratchpad);
    result.Set("gemm", Napi::Boolean::New(info.Env(), gemm));
    result.Set("impl", Napi::String::New(info.Env(), pd.impl_info_str()));
    return result;
  });
}
CONVKIT_EXPORT(conv2dPlan, Conv2dPlan);

// setConvLayout(layout): 'auto' (nChw16c on AVX-512 where the channels fill blocks) or 'any'
// (oneDNN chooses). For plans made afterwards; the runtime calls it once, when it starts.
Napi::Value SetConvLayout(const Napi::CallbackInfo& info) {
  const char* op = "setConvLayout";
  return guardedValue(info, op, [&]() -> Napi::Value {
    std::string layout = text(info, 0, op, "layout");
    if (layout != "auto" && layout != "any") {
      throw Napi::RangeError::New(info.Env(),
                                  "setConvLayout: argument 'layout' must be 'auto' or 'any', got '" + layout + "'");
    }
    letOneDnnChoose = layout == "any";
    return info.Env().Undefined();
  });
}
CONVKIT_EXPORT(setConvLayout, SetConvLayout);

}  // namespace convkit
