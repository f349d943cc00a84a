// What conv.cc (forward plans) and conv_backward.cc (backward plans) share: the geometry read
// from JavaScript, the layouts a conv asks oneDNN for, the algorithm names and the forward
// primitive descriptor that backward plans take as their hint.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <atomic>
#include <stdexcept>
#include <string>

#include "plan.h"

namespace convkit::convplan {

using dims = dnnl::memory::dims;

struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, sH, sW, pT, pB, pL, pR, dH, dW, G, OH, OW;
  bool blocked = false;       // ask for nChw16c activations (see preferBlocked16)
  bool channelsLast = false;  // ask for nhwc activations (the 'brgemm' forward algorithm)
  dims weights() const { return G == 1 ? dims{O, C, KH, KW} : dims{G, O / G, C / G, KH, KW}; }
  dims strides() const { return {sH, sW}; }
  dims dilates() const { return {dH - 1, dW - 1}; }
  dims padL() const { return {pT, pL}; }
  dims padR() const { return {pB, pR}; }
};

inline dnnl::memory::desc any(const dims& d) {
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}
// oneDNN 2.6 answers `any` on AVX-512 with nhwc for its brgemm convolutions. Its direct JIT
// kernels on nChw16c were as fast or faster here (1x1 convs that widen the channels by up to 30%,
// and without brgemm's occasional 5x slow runs), and are what it picks for training anyway, so on
// AVX-512 a conv asks for nChw16c where the channels fill whole blocks. setConvLayout('any')
// (CONVKIT_CONV_LAYOUT=any, read by src/core/config.ts) leaves the choice to oneDNN (to compare);
// AVX2 builds choose nChw8c by themselves.
inline std::atomic<bool> letOneDnnChoose{false};
inline bool preferBlocked16() {
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
inline dnnl::memory::desc mapDesc(const dims& d, bool blocked) {
  if (blocked && (d[1] % 16 == 0 || d[1] > 16))
    return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
  return any(d);
}
inline dnnl::memory::desc activationDesc(const dims& d, const ConvGeometry& g) {
  if (g.channelsLast) return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
  return mapDesc(d, g.blocked);
}
inline dnnl::memory::desc srcAny(const ConvGeometry& g) {
  return activationDesc({g.N, g.C, g.H, g.W}, g);
}
inline dnnl::memory::desc dstAny(const ConvGeometry& g) {
  return activationDesc({g.N, g.O, g.OH, g.OW}, g);
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
// The shape convkit's own 3x3 kernels take: 3x3, stride 1, undilated, ungrouped, padded by 1 on
// every side (own_conv.cc on AVX-512 builds, own_winograd.cc on AVX2 ones).
inline bool ownConv3x3Shape(const ConvGeometry& g) {
  return g.KH == 3 && g.KW == 3 && g.sH == 1 && g.sW == 1 && g.dH == 1 && g.dW == 1 && g.G == 1 && g.pT == 1 &&
         g.pB == 1 && g.pL == 1 && g.pR == 1;
}
// The 3x3 conv padded by 1 of stride 2 (ResNet's downsampling ones) whose forward own_conv.cc runs on AVX-512 builds.
inline bool ownConv3x3Stride2Shape(const ConvGeometry& g) {
#ifdef __AVX512F__
  return g.KH == 3 && g.KW == 3 && g.sH == 2 && g.sW == 2 && g.dH == 1 && g.dW == 1 && g.G == 1 && g.pT == 1 &&
         g.pB == 1 && g.pL == 1 && g.pR == 1;
#else
  return false;
#endif
}
// Whether the AVX-512 kernels (own_conv.cc, own_conv_weights.cc) run `g`.
inline bool ownConv3x3Runs(const ConvGeometry& g) {
#ifdef __AVX512F__
  return ownConv3x3Shape(g);
#else
  return false;
#endif
}
// The maps (input, output) and weights of `g` in blocks of `lanes` channels (16: nChw16c and
// OIhw16i16o; 8: nChw8c and OIhw8i8o) for an own kernel that `runs` it; where it does not, the
// error conv-algorithm.ts recognises ("has no own ...").
struct OwnConvDescs {
  dnnl::memory::desc src, dst, weights;
};
inline OwnConvDescs ownConvDescsOf(const ConvGeometry& g, bool runs, int lanes) {
  if (!runs) throw std::invalid_argument("convkit has no own implementation for this convolution on this CPU");
  using tag = dnnl::memory::format_tag;
  const auto f32 = dnnl::memory::data_type::f32;
  const tag maps = lanes == 16 ? tag::nChw16c : tag::nChw8c, weights = lanes == 16 ? tag::OIhw16i16o : tag::OIhw8i8o;
  return {dnnl::memory::desc({g.N, g.C, g.H, g.W}, f32, maps), dnnl::memory::desc({g.N, g.O, g.OH, g.OW}, f32, maps),
          dnnl::memory::desc({g.O, g.C, g.KH, g.KW}, f32, weights)};
}
// Those of the AVX-512 kernels.
inline OwnConvDescs ownConvDescs(const ConvGeometry& g) {
  return ownConvDescsOf(g, ownConv3x3Runs(g), 16);
}
// A custom plan over two buffers it reads and a third it writes.
inline Plan readTwoWriteOnePlan(const char* name, const std::vector<dnnl::memory::desc>& descs) {
  Plan plan;
  plan.name = name;
  plan.args = {0, 1, 2};
  plan.descs = descs;
  plan.customReads = {true, true, false};
  return plan;
}
inline dnnl::memory::desc biasDesc(const ConvGeometry& g, bool bias) {
  return bias ? plainDescOf({g.O}) : dnnl::memory::desc();
}

inline ConvGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
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
inline dnnl::algorithm algorithmOf(const Napi::Env& env, const std::string& name) {
  if (name == "direct") return dnnl::algorithm::convolution_direct;
  if (name == "winograd") return dnnl::algorithm::convolution_winograd;
  if (name == "auto") return dnnl::algorithm::convolution_auto;
  throw Napi::RangeError::New(
      env, "conv2d: argument 'options' field 'algorithm' must be 'direct', 'winograd' or 'auto', got '" + name + "'");
}

// The algorithm an optional options object at `index` names ('direct' when it or its field is absent).
inline std::string algorithmNameOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
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
inline dnnl::convolution_forward::primitive_desc directForwardOn(const ConvGeometry& g, const dnnl::memory::desc& src,
                                                                 const dnnl::memory::desc& weights,
                                                                 const dnnl::memory::desc& bias,
                                                                 const dnnl::memory::desc& dst) {
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                                    weights, bias, dst, g.strides(), g.dilates(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, planAttr(), cpuEngine());
}

inline dnnl::convolution_forward::primitive_desc forwardPd(
    const ConvGeometry& g, bool bias, bool training, const dnnl::primitive_attr& attr,
    dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::convolution_forward::desc d(prop, algorithm, srcAny(g), any(g.weights()), biasDesc(g, bias), dstAny(g),
                                    g.strides(), g.dilates(), g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
}

}  // namespace convkit::convplan
