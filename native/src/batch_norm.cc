// Batch normalisation over an N x C x S view (S = product of the spatial sizes), with scale and
// shift always given (the JS side passes ones and zeros when the layer has no affine map).
// Training forward computes the batch mean and biased variance; inference forward uses the given
// statistics (use_global_stats). Backward computes dx, dscale and dshift; with global statistics
// the mean and variance count as constants, as in eval mode.
#include "batch_norm.h"

#include "common.h"

namespace convkit {

using flags = dnnl::normalization_flags;

namespace {

struct BnLayout {
  int64_t N, C, S;
  dnnl::memory::dims dims() const { return {N, C, S, 1}; }
  size_t size() const { return N * C * S; }
};

BnLayout layoutOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto raw = ints(info, index, 3, op, "layout");
  if (raw[0] < 1 || raw[1] < 1 || raw[2] < 1) throw Napi::RangeError::New(info.Env(), std::string(op) + ": layout sizes must be positive");
  return {raw[0], raw[1], raw[2]};
}

float epsilonOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  double eps = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1;
  if (!(eps >= 0)) throw Napi::TypeError::New(info.Env(), std::string(op) + ": eps must be a number >= 0");
  return static_cast<float>(eps);
}

flags flagsOf(bool globalStats) {
  flags f = flags::use_scale | flags::use_shift;
  return globalStats ? f | flags::use_global_stats : f;
}

dnnl::batch_normalization_forward::primitive_desc forwardPd(const BnLayout& l, float eps, bool globalStats) {
  auto md = plainDesc(l.dims(), dnnl::memory::format_tag::nchw);
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_training, md, eps, flagsOf(globalStats));
  return dnnl::batch_normalization_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

std::string keyFor(const char* op, const BnLayout& l, float eps, bool globalStats) {
  return keyOf(op, {l.N, l.C, l.S, globalStats}) + "," + std::to_string(eps);
}

}  // namespace

// batchNormForward(x, scale, shift, mean, variance, y, [N, C, S], eps, training): training
// writes mean and variance, inference reads them.
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  const char* op = "batchNorm";
  return guarded(info, op, [&] {
    auto l = layoutOf(info, 6, op);
    float eps = epsilonOf(info, 7, op);
    bool training = flag(info, 8, op, "training");
    float* x = floats(info, 0, l.size(), op, "x");
    float* scale = floats(info, 1, l.C, op, "scale");
    float* shift = floats(info, 2, l.C, op, "shift");
    float* mean = floats(info, 3, l.C, op, "mean");
    float* variance = floats(info, 4, l.C, op, "variance");
    float* y = floats(info, 5, l.size(), op, "y");
    const auto& p = cached(keyFor("bnorm_fwd", l, eps, !training), [&] {
      auto pd = forwardPd(l, eps, !training);
      return CachedPrimitive{dnnl::batch_normalization_forward(pd), pd.scratchpad_desc(), {}};
    });
    dnnl::memory::dims dims = l.dims();
    execute(p, {{DNNL_ARG_SRC, plain(dims, dnnl::memory::format_tag::nchw, x)},
                {DNNL_ARG_DST, plain(dims, dnnl::memory::format_tag::nchw, y)},
                {DNNL_ARG_SCALE, plain({l.C}, dnnl::memory::format_tag::a, scale)},
                {DNNL_ARG_SHIFT, plain({l.C}, dnnl::memory::format_tag::a, shift)},
                {DNNL_ARG_MEAN, plain({l.C}, dnnl::memory::format_tag::a, mean)},
                {DNNL_ARG_VARIANCE, plain({l.C}, dnnl::memory::format_tag::a, variance)}});
  });
}

// batchNormBackward(gy, x, scale, mean, variance, gx, gscale, gshift, [N, C, S], eps, globalStats)
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  const char* op = "batchNormBackward";
  return guarded(info, op, [&] {
    auto l = layoutOf(info, 8, op);
    float eps = epsilonOf(info, 9, op);
    bool globalStats = flag(info, 10, op, "globalStats");
    float* gy = floats(info, 0, l.size(), op, "gy");
    float* x = floats(info, 1, l.size(), op, "x");
    float* scale = floats(info, 2, l.C, op, "scale");
    float* mean = floats(info, 3, l.C, op, "mean");
    float* variance = floats(info, 4, l.C, op, "variance");
    float* gx = floats(info, 5, l.size(), op, "gx");
    float* gscale = floats(info, 6, l.C, op, "gscale");
    float* gshift = floats(info, 7, l.C, op, "gshift");
    const auto& p = cached(keyFor("bnorm_bwd", l, eps, globalStats), [&] {
      auto md = plainDesc(l.dims(), dnnl::memory::format_tag::nchw);
      dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, md, md, eps, flagsOf(globalStats));
      dnnl::batch_normalization_backward::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(l, eps, globalStats));
      return CachedPrimitive{dnnl::batch_normalization_backward(pd), pd.scratchpad_desc(), {}};
    });
    dnnl::memory::dims dims = l.dims();
    // oneDNN 2.6 wants the shift as an input of the backward pass too (it does not change dx).
    std::vector<float> shift(l.C, 0.f);
    execute(p, {{DNNL_ARG_SHIFT, plain({l.C}, dnnl::memory::format_tag::a, shift.data())},
                {DNNL_ARG_DIFF_DST, plain(dims, dnnl::memory::format_tag::nchw, gy)},
                {DNNL_ARG_SRC, plain(dims, dnnl::memory::format_tag::nchw, x)},
                {DNNL_ARG_DIFF_SRC, plain(dims, dnnl::memory::format_tag::nchw, gx)},
                {DNNL_ARG_SCALE, plain({l.C}, dnnl::memory::format_tag::a, scale)},
                {DNNL_ARG_MEAN, plain({l.C}, dnnl::memory::format_tag::a, mean)},
                {DNNL_ARG_VARIANCE, plain({l.C}, dnnl::memory::format_tag::a, variance)},
                {DNNL_ARG_DIFF_SCALE, plain({l.C}, dnnl::memory::format_tag::a, gscale)},
                {DNNL_ARG_DIFF_SHIFT, plain({l.C}, dnnl::memory::format_tag::a, gshift)}});
  });
}

}  // namespace convkit
