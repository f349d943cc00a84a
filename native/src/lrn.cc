// Local response normalisation across channels over an N x C x S view. oneDNN's formula divides
// alpha by the window size itself (dst = src * (k + alpha / n * sum src^2)^-beta), as PyTorch
// does, so alpha passes through unchanged. Its window is c - (n-1)/2 .. c + (n+1)/2 - 1, which is
// PyTorch's (c - n/2 .. c + (n-1)/2, rounded down) only for odd n; the JS side sends only odd sizes.
#include "lrn.h"

#include "common.h"

namespace convkit {

namespace {

struct LrnParams {
  int64_t N, C, S, size;
  float alpha, beta, k;
  dnnl::memory::dims dims() const { return {N, C, S, 1}; }
  size_t elements() const { return N * C * S; }
  std::string key(const char* op) const {
    return keyOf(op, {N, C, S, size}) + "," + std::to_string(alpha) + "," + std::to_string(beta) + "," + std::to_string(k);
  }
};

float number(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  if (!info[index].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument '" + name + "' must be a number");
  return static_cast<float>(info[index].As<Napi::Number>().DoubleValue());
}

LrnParams paramsOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto layout = ints(info, index, 3, op, "layout");
  int64_t size = integer(info, index + 1, op, "size");
  if (layout[0] < 1 || layout[1] < 1 || layout[2] < 1 || size < 1 || size % 2 == 0) {
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": layout sizes must be positive and the window size odd");
  }
  return {layout[0], layout[1], layout[2], size, number(info, index + 2, op, "alpha"), number(info, index + 3, op, "beta"), number(info, index + 4, op, "k")};
}

dnnl::lrn_forward::primitive_desc forwardPd(const LrnParams& p) {
  auto md = plainDesc(p.dims(), dnnl::memory::format_tag::nchw);
  dnnl::lrn_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::lrn_across_channels, md, p.size, p.alpha, p.beta, p.k);
  return dnnl::lrn_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

}  // namespace

// lrnForward(x, y, [N, C, S], size, alpha, beta, k) -> workspace (Uint8Array, may be empty)
Napi::Value LrnForward(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    LrnParams params = paramsOf(info, 2, op);
    float* x = floats(info, 0, params.elements(), op, "x");
    float* y = floats(info, 1, params.elements(), op, "y");
    const auto& p = cached(params.key("lrn_fwd"), [&] {
      auto pd = forwardPd(params);
      return CachedPrimitive{dnnl::lrn_forward(pd), pd.scratchpad_desc(), pd.workspace_desc()};
    });
    auto dims = params.dims();
    auto workspace = Napi::Uint8Array::New(info.Env(), p.workspace.get_size());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plain(dims, dnnl::memory::format_tag::nchw, x)},
                                                {DNNL_ARG_DST, plain(dims, dnnl::memory::format_tag::nchw, y)}};
    if (workspace.ElementLength() > 0) args.insert({DNNL_ARG_WORKSPACE, dnnl::memory(p.workspace, cpuEngine(), workspace.Data())});
    execute(p, args);
    return workspace;
  });
}

// lrnBackward(gy, x, gx, workspace, [N, C, S], size, alpha, beta, k)
Napi::Value LrnBackward(const Napi::CallbackInfo& info) {
  const char* op = "localResponseNormBackward";
  return guarded(info, op, [&] {
    LrnParams params = paramsOf(info, 4, op);
    float* gy = floats(info, 0, params.elements(), op, "gy");
    float* x = floats(info, 1, params.elements(), op, "x");
    float* gx = floats(info, 2, params.elements(), op, "gx");
    const auto& p = cached(params.key("lrn_bwd"), [&] {
      auto md = plainDesc(params.dims(), dnnl::memory::format_tag::nchw);
      dnnl::lrn_backward::desc d(dnnl::algorithm::lrn_across_channels, md, md, params.size, params.alpha, params.beta, params.k);
      dnnl::lrn_backward::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(params));
      return CachedPrimitive{dnnl::lrn_backward(pd), pd.scratchpad_desc(), pd.workspace_desc()};
    });
    uint8_t* ws = bytes(info, 3, p.workspace.get_size(), op, "workspace");
    auto dims = params.dims();
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, plain(dims, dnnl::memory::format_tag::nchw, gy)},
                                                {DNNL_ARG_SRC, plain(dims, dnnl::memory::format_tag::nchw, x)},
                                                {DNNL_ARG_DIFF_SRC, plain(dims, dnnl::memory::format_tag::nchw, gx)}};
    if (p.workspace.get_size() > 0) args.insert({DNNL_ARG_WORKSPACE, dnnl::memory(p.workspace, cpuEngine(), ws)});
    execute(p, args);
  });
}

}  // namespace convkit
