// 2-D convolution plans: forward (bias, fused sum and ReLU post-ops), backward data, backward
// weights (+ bias). oneDNN chooses the layouts of src, weights and dst (format `any`, but see
// preferBlocked16); bias and its gradient are plain [O]. Geometry comes as 18 integers in the order of Conv2dGeometry:
// N C H W O KH KW strideH strideW padTop padBottom padLeft padRight dilationH dilationW groups
// OH OW. Dilation is PyTorch's (1 = none); oneDNN counts from 0.
#include "finite.h"
#include "plan.h"

#include <cstdlib>
#include <string>

namespace convkit {

using dims = dnnl::memory::dims;

namespace {

struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, sH, sW, pT, pB, pL, pR, dH, dW, G, OH, OW;
  bool blocked = false;  // ask for nChw16c activations (see preferBlocked16)
  dims weights() const { return G == 1 ? dims{O, C, KH, KW} : dims{G, O / G, C / G, KH, KW}; }
  dims strides() const { return {sH, sW}; }
  dims dilates() const { return {dH - 1, dW - 1}; }
  dims padL() const { return {pT, pL}; }
  dims padR() const { return {pB, pR}; }
};

dnnl::memory::desc any(const dims& d) {
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}
// oneDNN 2.6 answers `any` on AVX-512 with nhwc for its brgemm convolutions. Its direct JIT
// kernels on nChw16c were as fast or faster here (1x1 convs that widen the channels by up to 30%,
// and without brgemm's occasional 5x slow runs), and are what it picks for training anyway, so on
// AVX-512 a conv asks for nChw16c where the channels fill whole blocks. CONVKIT_CONV_LAYOUT=any
// leaves the choice to oneDNN (to compare); AVX2 builds choose nChw8c by themselves.
bool preferBlocked16() {
  static const bool prefer = [] {
    const char* env = std::getenv("CONVKIT_CONV_LAYOUT");
    if (env != nullptr && std::string(env) == "any") return false;
    auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
         avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & avx512) == avx512;
  }();
  return prefer;
}
dnnl::memory::desc mapDesc(const dims& d, bool blocked) {
  if (blocked && d[1] % 16 == 0)
    return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
  return any(d);
}
dnnl::memory::desc srcAny(const ConvGeometry& g) {
  return mapDesc({g.N, g.C, g.H, g.W}, g.blocked);
}
dnnl::memory::desc dstAny(const ConvGeometry& g) {
  return mapDesc({g.N, g.O, g.OH, g.OW}, g.blocked);
}

// make(g) with nChw16c asked for where preferBlocked16 says so; again with `any` when that lands
// on oneDNN's reference kernel (groups of channels that do not fill whole blocks: 2 groups of 24,
// depthwise with a channel multiplier). g.blocked tells which one was kept.
template <typename Make>
auto preferredLayoutPd(ConvGeometry& g, Make make) {
  g.blocked = preferBlocked16();
  auto pd = make(g);
  if (g.blocked && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
    g.blocked = false;
    pd = make(g);
  }
  return pd;
}
dnnl::memory::desc biasDesc(const ConvGeometry& g, bool bias) {
  return bias ? plainDescOf({g.O}) : dnnl::memory::desc();
}

ConvGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto r = ints(info, index, 18, op, "geometry");
  ConvGeometry g{r[0], r[1],  r[2],  r[3],  r[4],  r[5],  r[6],  r[7],  r[8],
                 r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16], r[17]};
  bool positive = g.N > 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.O > 0 && g.KH > 0 && g.KW > 0 && g.sH > 0 && g.sW > 0 &&
                  g.dH > 0 && g.dW > 0 && g.G > 0 && g.OH > 0 && g.OW > 0;
  if (!positive || g.C % g.G != 0 || g.O % g.G != 0) {
    throw Napi::RangeError::New(
        info.Env(), std::string(op) +
                        ": argument 'geometry' is inconsistent (sizes must be positive, channels divisible by groups)");
  }
  int64_t outH = (g.H + g.pT + g.pB - ((g.KH - 1) * g.dH + 1)) / g.sH + 1;
  int64_t outW = (g.W + g.pL + g.pR - ((g.KW - 1) * g.dW + 1)) / g.sW + 1;
  if (outH != g.OH || outW != g.OW) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument 'geometry': output size " +
                                                std::to_string(g.OH) + "x" + std::to_string(g.OW) +
                                                " does not match the geometry (" + std::to_string(outH) + "x" +
                                                std::to_string(outW) + ")");
  }
  return g;
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeometry& g, bool bias, bool training,
                                                    const dnnl::primitive_attr& attr) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, srcAny(g), any(g.weights()),
                                    biasDesc(g, bias), dstAny(g), g.strides(), g.dilates(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
}

bool option(const Napi::CallbackInfo& info, const Napi::Object& options, const char* op, const char* name) {
  Napi::Value v = options.Get(name);
  if (!v.IsBoolean())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": option '" + name + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

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

// conv2dPlan(geometry, { bias, relu, sum, training }) -> { plan, src, weights, (bias), dst, (addend), gemm, impl }
// With sum, the addend is read from its own buffer (reported as `addend`) when oneDNN runs that
// with the same kernel as the sum post-op; else dst must hold the addend (no `addend` reported).
Napi::Value Conv2dPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2d";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    if (info.Length() < 2 || !info[1].IsObject())
      throw Napi::TypeError::New(info.Env(), "conv2d: argument 'options' must be an object");
    auto options = info[1].As<Napi::Object>();
    bool bias = option(info, options, op, "bias"), relu = option(info, options, op, "relu");
    bool sum = option(info, options, op, "sum"), training = option(info, options, op, "training");
    auto pd = preferredLayoutPd(
        g, [&](const ConvGeometry& h) { return forwardPd(h, bias, training, postOpsAttr(sum, nullptr, relu)); });
    bool separateAddend = false;
    if (sum) {
      // A binary add saves copying the addend into dst first, if it gets the same (jit) kernel.
      auto dst = pd.dst_desc();
      try {
        auto withBinary = forwardPd(g, bias, training, postOpsAttr(true, &dst, relu));
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
    if (relu) {
      // oneDNN's ReLU post-op is max(y, 0), which maps NaN to 0. Where an input holds a NaN or an
      // infinity (src, weights, bias, addend), the conv runs without it and reluKeepingNaN follows
      // (same layouts, so the same buffers serve both). Finite data pays the cheaper of two: the
      // scan of those inputs, or (when it reads fewer bytes: layers whose weights outweigh their
      // activations) always running unfused with the ReLU as a pass over dst.
      auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
      auto dst = pd.dst_desc();
      dnnl::convolution_forward::desc d(prop, dnnl::algorithm::convolution_direct, pd.src_desc(), pd.weights_desc(),
                                        biasDesc(g, bias), dst, g.strides(), g.dilates(), g.padL(), g.padR());
      dnnl::convolution_forward::primitive_desc exact(d, postOpsAttr(sum, separateAddend ? &dst : nullptr, false),
                                                      cpuEngine());
      if (exact.scratchpad_desc().get_size() > scratchpad.get_size()) scratchpad = exact.scratchpad_desc();
      // Buffers: src, weights, (bias), dst, (addend); with sum and no addend buffer, dst holds it.
      std::vector<std::pair<size_t, int64_t>> inputs = {{0, floatsOf(pd.src_desc())}, {1, floatsOf(pd.weights_desc())}};
      size_t dstAt = bias ? 3 : 2;
      if (bias) inputs.push_back({2, g.O});
      if (sum) inputs.push_back({separateAddend ? dstAt + 1 : dstAt, floatsOf(dst)});
      int64_t dstFloats = floatsOf(dst), scanned = 0;
      for (auto [i, n] : inputs) scanned += n;
      const bool alwaysUnfused = 2 * dstFloats < scanned;  // the ReLU pass reads and writes dst
      NonFiniteGuard guard;
      guard.check = [inputs, alwaysUnfused](const std::vector<void*>& buffers) {
        if (alwaysUnfused) return true;
        for (auto [i, n] : inputs)
          if (anyNonFinite(static_cast<const float*>(buffers[i]), n)) return true;
        return false;
      };
      guard.alternate = dnnl::convolution_forward(exact);
      guard.fix = [dstAt, dstFloats](const std::vector<void*>& buffers) {
        reluKeepingNaN(static_cast<float*>(buffers[dstAt]), dstFloats);
      };
      plan.guard(std::move(guard));
    }
    Napi::Object result = plan.finish(info.Env(), dnnl::convolution_forward(pd), scratchpad);
    result.Set("gemm", Napi::Boolean::New(info.Env(), gemm));
    result.Set("impl", Napi::String::New(info.Env(), pd.impl_info_str()));
    return result;
  });
}

// conv2dBackwardDataPlan(geometry) -> { plan, diffDst, weights, diffSrc }
Napi::Value Conv2dBackwardDataPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardData";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    auto pd = preferredLayoutPd(g, [](const ConvGeometry& h) {
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, srcAny(h), any(h.weights()),
                                              dstAny(h), h.strides(), h.dilates(), h.padL(), h.padR());
      return dnnl::convolution_backward_data::primitive_desc(d, planAttr(), cpuEngine(),
                                                             forwardPd(h, false, true, planAttr()));
    });
    return PlanBuilder(op)
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .arg(DNNL_ARG_WEIGHTS, pd.weights_desc(), "weights")
        .arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc")
        .finish(info.Env(), dnnl::convolution_backward_data(pd), pd.scratchpad_desc());
  });
}

// conv2dBackwardWeightsPlan(geometry, bias) -> { plan, src, diffDst, diffWeights, (diffBias) }
Napi::Value Conv2dBackwardWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardWeight";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ConvGeometry g = geometryOf(info, 0, op);
    bool bias = flag(info, 1, op, "bias");
    auto pd = preferredLayoutPd(g, [bias](const ConvGeometry& h) {
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, srcAny(h), any(h.weights()),
                                                 biasDesc(h, bias), dstAny(h), h.strides(), h.dilates(), h.padL(),
                                                 h.padR());
      return dnnl::convolution_backward_weights::primitive_desc(d, planAttr(), cpuEngine(),
                                                                forwardPd(h, bias, true, planAttr()));
    });
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, pd.src_desc(), "src")
        .arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst")
        .arg(DNNL_ARG_DIFF_WEIGHTS, pd.diff_weights_desc(), "diffWeights");
    if (bias) plan.arg(DNNL_ARG_DIFF_BIAS, pd.diff_bias_desc(), "diffBias");
    return plan.finish(info.Env(), dnnl::convolution_backward_weights(pd), pd.scratchpad_desc());
  });
}

}  // namespace

void initConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2dPlan", Napi::Function::New(env, Conv2dPlan));
  exports.Set("conv2dBackwardDataPlan", Napi::Function::New(env, Conv2dBackwardDataPlan));
  exports.Set("conv2dBackwardWeightsPlan", Napi::Function::New(env, Conv2dBackwardWeightsPlan));
}

}  // namespace convkit
