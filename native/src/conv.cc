// 2-D convolution forward, backward data and backward weights (+ bias) over plain NCHW/OIHW
// (goihw when grouped) memory, zero copy. Geometry comes as 18 integers in the order of
// Conv2dGeometry: N C H W O KH KW strideH strideW padTop padBottom padLeft padRight dilationH
// dilationW groups OH OW. Dilation is PyTorch's (1 = none); oneDNN counts from 0.
#include "conv.h"

#include "common.h"

namespace convkit {

using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

namespace {

struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, sH, sW, pT, pB, pL, pR, dH, dW, G, OH, OW;
  dims src() const { return {N, C, H, W}; }
  dims dst() const { return {N, O, OH, OW}; }
  dims weights() const { return G == 1 ? dims{O, C, KH, KW} : dims{G, O / G, C / G, KH, KW}; }
  tag weightsTag() const { return G == 1 ? tag::oihw : tag::goihw; }
  dims strides() const { return {sH, sW}; }
  dims dilates() const { return {dH - 1, dW - 1}; }
  dims padL() const { return {pT, pL}; }
  dims padR() const { return {pB, pR}; }
  size_t srcSize() const { return N * C * H * W; }
  size_t dstSize() const { return N * O * OH * OW; }
  size_t weightsSize() const { return O * (C / G) * KH * KW; }
};

ConvGeometry geometryOf(const Napi::CallbackInfo& info, size_t index, const char* op, std::vector<int64_t>& raw) {
  raw = ints(info, index, 18, op, "geometry");
  ConvGeometry g{raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15], raw[16], raw[17]};
  bool positive = g.N > 0 && g.C > 0 && g.H > 0 && g.W > 0 && g.O > 0 && g.KH > 0 && g.KW > 0 && g.sH > 0 && g.sW > 0 &&
                  g.dH > 0 && g.dW > 0 && g.G > 0 && g.OH > 0 && g.OW > 0;
  if (!positive || g.C % g.G != 0 || g.O % g.G != 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": inconsistent geometry (sizes must be positive, channels divisible by groups)");
  }
  int64_t outH = (g.H + g.pT + g.pB - ((g.KH - 1) * g.dH + 1)) / g.sH + 1;
  int64_t outW = (g.W + g.pL + g.pR - ((g.KW - 1) * g.dW + 1)) / g.sW + 1;
  if (outH != g.OH || outW != g.OW) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": output size " + std::to_string(g.OH) + "x" + std::to_string(g.OW) +
                                                " does not match the geometry (" + std::to_string(outH) + "x" + std::to_string(outW) + ")");
  }
  return g;
}

dnnl::convolution_forward::primitive_desc forwardPd(const ConvGeometry& g, bool withBias) {
  auto biasMd = withBias ? plainDesc({g.O}, tag::a) : dnnl::memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, plainDesc(g.src(), tag::nchw),
                                    plainDesc(g.weights(), g.weightsTag()), biasMd, plainDesc(g.dst(), tag::nchw), g.strides(), g.dilates(),
                                    g.padL(), g.padR());
  return dnnl::convolution_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

}  // namespace

// conv2dForward(x, weight, bias | null, y, geometry)
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  const char* op = "conv2d";
  return guarded(info, op, [&] {
    std::vector<int64_t> raw;
    ConvGeometry g = geometryOf(info, 4, op, raw);
    float* x = floats(info, 0, g.srcSize(), op, "x");
    float* w = floats(info, 1, g.weightsSize(), op, "weight");
    float* b = optionalFloats(info, 2, g.O, op, "bias");
    float* y = floats(info, 3, g.dstSize(), op, "y");
    raw.push_back(b != nullptr);
    const auto& p = cached(keyOf("conv_fwd", raw), [&] {
      auto pd = forwardPd(g, b != nullptr);
      return CachedPrimitive{dnnl::convolution_forward(pd), pd.scratchpad_desc(), {}};
    });
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plain(g.src(), tag::nchw, x)},
                                                {DNNL_ARG_WEIGHTS, plain(g.weights(), g.weightsTag(), w)},
                                                {DNNL_ARG_DST, plain(g.dst(), tag::nchw, y)}};
    if (b) args.insert({DNNL_ARG_BIAS, plain({g.O}, tag::a, b)});
    execute(p, args);
  });
}

// conv2dBackwardData(gy, weight, gx, geometry)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardData";
  return guarded(info, op, [&] {
    std::vector<int64_t> raw;
    ConvGeometry g = geometryOf(info, 3, op, raw);
    float* gy = floats(info, 0, g.dstSize(), op, "gy");
    float* w = floats(info, 1, g.weightsSize(), op, "weight");
    float* gx = floats(info, 2, g.srcSize(), op, "gx");
    const auto& p = cached(keyOf("conv_bwd_data", raw), [&] {
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, plainDesc(g.src(), tag::nchw),
                                              plainDesc(g.weights(), g.weightsTag()), plainDesc(g.dst(), tag::nchw), g.strides(),
                                              g.dilates(), g.padL(), g.padR());
      dnnl::convolution_backward_data::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(g, false));
      return CachedPrimitive{dnnl::convolution_backward_data(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_DIFF_DST, plain(g.dst(), tag::nchw, gy)},
                {DNNL_ARG_WEIGHTS, plain(g.weights(), g.weightsTag(), w)},
                {DNNL_ARG_DIFF_SRC, plain(g.src(), tag::nchw, gx)}});
  });
}

// conv2dBackwardWeights(gy, x, gw, gb | null, geometry)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  const char* op = "conv2dBackwardWeight";
  return guarded(info, op, [&] {
    std::vector<int64_t> raw;
    ConvGeometry g = geometryOf(info, 4, op, raw);
    float* gy = floats(info, 0, g.dstSize(), op, "gy");
    float* x = floats(info, 1, g.srcSize(), op, "x");
    float* gw = floats(info, 2, g.weightsSize(), op, "gw");
    float* gb = optionalFloats(info, 3, g.O, op, "gb");
    raw.push_back(gb != nullptr);
    const auto& p = cached(keyOf("conv_bwd_weights", raw), [&] {
      auto biasMd = gb ? plainDesc({g.O}, tag::a) : dnnl::memory::desc();
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, plainDesc(g.src(), tag::nchw),
                                                 plainDesc(g.weights(), g.weightsTag()), biasMd, plainDesc(g.dst(), tag::nchw),
                                                 g.strides(), g.dilates(), g.padL(), g.padR());
      dnnl::convolution_backward_weights::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(g, gb != nullptr));
      return CachedPrimitive{dnnl::convolution_backward_weights(pd), pd.scratchpad_desc(), {}};
    });
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, plain(g.dst(), tag::nchw, gy)},
                                                {DNNL_ARG_SRC, plain(g.src(), tag::nchw, x)},
                                                {DNNL_ARG_DIFF_WEIGHTS, plain(g.weights(), g.weightsTag(), gw)}};
    if (gb) args.insert({DNNL_ARG_DIFF_BIAS, plain({g.O}, tag::a, gb)});
    execute(p, args);
  });
}

}  // namespace convkit
