// 2-D convolution plans: forward (bias, fused sum and ReLU post-ops), backward data, backward
// weights (+ bias). oneDNN chooses the layouts of src, weights and dst (format `any`, but see
// preferBlocked16); bias and its gradient are plain [O]. Geometry comes as an object with the
// fields of Conv2dGeometry (src/backend/backend.ts), read by name and checked once here.
// Dilation is PyTorch's (1 = none); oneDNN counts from 0.
#include "finite.h"
#include "plan.h"
#include "winograd_guard.h"

#include <atomic>
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
// AVX-512 a conv asks for nChw16c where the channels fill whole blocks. setConvLayout('any')
// (CONVKIT_CONV_LAYOUT=any, read by src/core/config.ts) leaves the choice to oneDNN (to compare);
// AVX2 builds choose nChw8c by themselves.
std::atomic<bool> letOneDnnChoose{false};
bool preferBlocked16() {
  static const bool avx512 = [] {
    auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
         core = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & core) == core;
  }();
  return avx512 && !letOneDnnChoose.load();
}
// More than 16 channels that do not fill whole blocks are blocked too, the last block padded: such
// maps come from a batch norm in blocks (batch_norm.cc, DenseNet-BC's joins of 24 + 12k channels),
// and oneDNN's JIT kernels take them; fewer (an RGB stem) stay with oneDNN's choice.
dnnl::memory::desc mapDesc(const dims& d, bool blocked) {
  if (blocked && (d[1] % 16 == 0 || d[1] > 16))
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
  Fields f(info, index, op, "geometry");
  const int64_t big = 1 << 30;  // any one size (oneDNN's dims are int64, products are checked by it)
  ConvGeometry g{};
  g.N = f.integer("batch", 1, big);
  g.C = f.integer("inChannels", 1, big);
  g.H = f.integer("inH", 1, big);
  g.W = f.integer("inW", 1, big);
  g.O = f.integer("outChannels", 1, big);
  g.KH = f.integer("kernelH", 1, big);
  g.KW = f.integer("kernelW", 1, big);
  g.sH = f.integer("strideH", 1, big);
  g.sW = f.integer("strideW", 1, big);
  g.pT = f.integer("padTop", 0, big);
  g.pB = f.integer("padBottom", 0, big);
  g.pL = f.integer("padLeft", 0, big);
  g.pR = f.integer("padRight", 0, big);
  g.dH = f.integer("dilationH", 1, big);
  g.dW = f.integer("dilationW", 1, big);
  g.G = f.integer("groups", 1, big);
  g.OH = f.integer("outH", 1, big);
  g.OW = f.integer("outW", 1, big);
  if (g.C % g.G != 0 || g.O % g.G != 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": argument 'geometry': inChannels (" +
                                                std::to_string(g.C) + ") and outChannels (" + std::to_string(g.O) +
                                                ") must be divisible by groups (" + std::to_string(g.G) + ")");
  }
  int64_t outH = (g.H + g.pT + g.pB - ((g.KH - 1) * g.dH + 1)) / g.sH + 1;
  int64_t outW = (g.W + g.pL + g.pR - ((g.KW - 1) * g.dW + 1)) / g.sW + 1;
  checkOutputSize(info.Env(), op, g.OH, g.OW, outH, outW);
  return g;
}

// The forward algorithm a plan asks oneDNN for: 'direct' (every plan before tuning), 'winograd'
// (fewer multiplies on 3x3 stride-1 convs, other rounding) or 'auto' (oneDNN picks). conv-tuning.ts
// times the candidates and keeps the fastest.
dnnl::algorithm algorithmOf(const Napi::Env& env, const std::string& name) {
  if (name == "direct") return dnnl::algorithm::convolution_direct;
  if (name == "winograd") return dnnl::algorithm::convolution_winograd;
  if (name == "auto") return dnnl::algorithm::convolution_auto;
  throw Napi::RangeError::New(
      env, "conv2d: argument 'options' field 'algorithm' must be 'direct', 'winograd' or 'auto', got '" + name + "'");
}

// The algorithm an optional options object at `index` names ('direct' when it or its field is absent).
std::string algorithmNameOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (info.Length() <= index || !info[index].IsObject() || !info[index].As<Napi::Object>().Has("algorithm"))
    return "direct";
  return Fields(info, index, op, "options").text("algorithm");
}

// make(g) in the preferred layouts (preferredLayoutPd); for an algorithm other than direct, oneDNN's
// "unimplemented" becomes the error conv-algorithm.ts recognises ("has no ... implementation").
template <typename Make>
auto pdFor(ConvGeometry& g, const std::string& algorithmName, Make make) {
  try {
    return preferredLayoutPd(g, make);
  } catch (const dnnl::error& e) {
    if (e.status != dnnl_unimplemented || algorithmName == "direct") throw;
    throw std::invalid_argument("oneDNN has no " + algorithmName + " implementation for this convolution on this CPU");
  }
}

// The direct training forward over exactly these descs: the hint of a direct backward alternate.
dnnl::convolution_forward::primitive_desc directForwardOn(const ConvGeometry& g, const dnnl::memory::desc& src,
                                                          const dnnl::memory::desc& weights,
                                                          const dnnl::memory::desc& bias,
                                                          const dnnl::memory::desc& dst) {
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                                    weights, bias, dst, g.strides(), g.dilates(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, planAttr(), cpuEngine());
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeometry& g, bool bias, bool training,
                                                    const dnnl::primitive_attr& attr,
                                                    dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::convolution_forward::desc d(prop, algorithm, srcAny(g), any(g.weights()), biasDesc(g, bias), dstAny(g),
                                    g.strides(), g.dilates(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
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
  guard.check = [=](const std::vector<void*>& buffers) {
    return anyNonFinite(static_cast<const float*>(buffers[0]), srcFloats) ||
           anyNonFinite(static_cast<const float*>(buffers[1]), weightFloats) ||
           (bias && anyNonFinite(static_cast<const float*>(buffers[2]), g.O));
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
  guard.check = winogradCheck(std::move(inputs));
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
// and CPU, the error says "has no <algorithm> implementation" (conv-tuning.ts then drops that candidate).
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
    const dnnl::algorithm algorithm = algorithmOf(info.Env(), algorithmName);
    auto make = [&](const ConvGeometry& h) {
      return forwardPd(h, bias, training, postOpsAttr(sum, nullptr, relu), algorithm);
    };
    dnnl::convolution_forward::primitive_desc pd;
    try {
      // Training convs keep their neighbours' nChw16c whichever the algorithm; inference Winograd
      // takes the layouts it picks (measured that way, docs/native-backend.md#algorithm-choice).
      pd = algorithm == dnnl::algorithm::convolution_direct || training ? preferredLayoutPd(g, make) : make(g);
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
    dnnl::primitive unfused;  // set when the plan runs the conv without its ReLU post-op on every call
    if (std::string(pd.impl_info_str()).find("wino") != std::string::npos) {
      plan.guard(winogradGuard(plan, g, pd, bias, relu, sum, separateAddend, training, scratchpad));
    } else if (relu) {
      // oneDNN's ReLU post-op is max(y, 0), which maps NaN to 0. Where an input holds a NaN or an
      // infinity (src, weights, bias, addend), the conv runs without it and reluKeepingNaN follows
      // (same layouts, so the same buffers serve both). Finite data pays the cheaper of two: the
      // scan of those inputs, or (when it reads fewer bytes: layers whose weights outweigh their
      // activations) always running unfused with the ReLU as a pass over dst.
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
      guard.fix = [dstAt, dstFloats](const std::vector<void*>& buffers) {
        reluKeepingNaN(static_cast<float*>(buffers[dstAt]), dstFloats);
      };
      if (alwaysUnfused && !cutGuarded) {
        // The fused primitive would never run: make only the unfused one (one JIT compile, not two).
        unfused = dnnl::convolution_forward(exact);
      } else {
        guard.alternate = LazyPrimitive([exact] { return dnnl::convolution_forward(exact); });
      }
      plan.guard(std::move(guard));
    }
    if (cutGuarded) plan.guard(cutGuard(g, pd, bias, relu, cutSH, cutSW, cutKH, cutKW));
    Napi::Object result =
        plan.finish(info.Env(), unfused ? unfused : dnnl::primitive(dnnl::convolution_forward(pd)), scratchpad);
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
