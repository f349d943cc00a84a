// Batch normalisation plans on the input's layout; mean, variance, scale, shift and their
// gradients are plain [C]. Training computes the batch mean and biased variance; inference
// (use_global_stats) reads them. Either may fuse a ReLU (fuse_norm_relu); in training the
// forward then writes a workspace (where the output is positive) that the backward reads. With
// global statistics the backward treats them as constants, as in eval mode.
#include "plan.h"

#include <cmath>

namespace convkit {

using flags = dnnl::normalization_flags;

namespace {

// Fields of the options object argument, checked.
struct Options {
  const Napi::CallbackInfo& info;
  Napi::Object object;
  const char* op;
  bool boolean(const char* name) const {
    Napi::Value v = object.Get(name);
    if (!v.IsBoolean())
      throw Napi::TypeError::New(info.Env(), std::string(op) + ": option '" + name + "' must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  float eps() const {
    Napi::Value v = object.Get("eps");
    double eps = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(eps >= 0 && std::isfinite(eps)))
      throw Napi::TypeError::New(info.Env(), std::string(op) + ": option 'eps' must be a finite number >= 0");
    return static_cast<float>(eps);
  }
};

Options optionsArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsObject())
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument 'options' must be an object");
  return Options{info, info[index].As<Napi::Object>(), op};
}

dnnl::memory::desc srcArg(const Napi::CallbackInfo& info, size_t index, const char* op) {
  dnnl::memory::desc src = descArg(info, index, op, "src");
  if (src.dims().size() < 2 || src.dims().size() > 5)
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": src must have 2 to 5 dims");
  return src;
}

flags flagsOf(bool affine, bool globalStats, bool relu) {
  flags f = affine ? flags::use_scale | flags::use_shift : flags::none;
  if (globalStats) f = f | flags::use_global_stats;
  return relu ? f | flags::fuse_norm_relu : f;
}

dnnl::batch_normalization_forward::primitive_desc forwardPd(const dnnl::memory::desc& src, bool training, float eps,
                                                            flags f) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  dnnl::batch_normalization_forward::desc d(prop, src, eps, f);
  return dnnl::batch_normalization_forward::primitive_desc(d, planAttr(), cpuEngine());
}

}  // namespace

// batchNormPlan(src, { training, affine, relu, eps }): buffers [src, (scale), (shift), mean, variance, dst,
// (workspace)]
Napi::Value BatchNormPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    Options o = optionsArg(info, 1, op);
    bool training = o.boolean("training"), affine = o.boolean("affine"), relu = o.boolean("relu");
    auto pd = forwardPd(src, training, o.eps(), flagsOf(affine, !training, relu));
    auto channel = plainDescOf({src.dims()[1]});
    PlanBuilder b(op);
    b.arg(DNNL_ARG_SRC, src, "src");
    if (affine) {
      b.arg(DNNL_ARG_SCALE, channel, nullptr);
      b.arg(DNNL_ARG_SHIFT, channel, nullptr);
    }
    b.arg(DNNL_ARG_MEAN, channel, "mean");
    b.arg(DNNL_ARG_VARIANCE, channel, "variance");
    b.arg(DNNL_ARG_DST, pd.dst_desc(), "dst");
    b.workspace(pd.workspace_desc());
    return b.finish(info.Env(), dnnl::batch_normalization_forward(pd), pd.scratchpad_desc());
  });
}

// batchNormBackwardPlan(src, { affine, eps, globalStats, relu }): buffers [src, diffDst, mean,
// variance, (scale), (shift), diffSrc, (diffScale), (diffShift), (workspace: relu, from the
// training forward)]. oneDNN 2.6 refuses to run the backward with use_shift unless a shift is
// bound, although nothing reads it: any [C] buffer will do.
Napi::Value BatchNormBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNormBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = srcArg(info, 0, op);
    Options o = optionsArg(info, 1, op);
    bool affine = o.boolean("affine"), globalStats = o.boolean("globalStats"), relu = o.boolean("relu");
    if (globalStats && relu)
      throw Napi::RangeError::New(
          info.Env(), "batchNormBackward: a fused relu needs the training forward's workspace (not globalStats)");
    float eps = o.eps();
    flags f = flagsOf(affine, globalStats, relu);
    auto hint = forwardPd(src, true, eps, f);
    dnnl::batch_normalization_backward::desc d(affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data, src,
                                               src, eps, f);
    dnnl::batch_normalization_backward::primitive_desc pd(d, planAttr(), cpuEngine(), hint);
    auto channel = plainDescOf({src.dims()[1]});
    PlanBuilder b(op);
    b.arg(DNNL_ARG_SRC, src, "src");
    b.arg(DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), "diffDst");
    b.arg(DNNL_ARG_MEAN, channel, "mean");
    b.arg(DNNL_ARG_VARIANCE, channel, "variance");
    if (affine) {
      b.arg(DNNL_ARG_SCALE, channel, nullptr);
      b.arg(DNNL_ARG_SHIFT, channel, nullptr);
    }
    b.arg(DNNL_ARG_DIFF_SRC, pd.diff_src_desc(), "diffSrc");
    if (affine) {
      b.arg(DNNL_ARG_DIFF_SCALE, channel, nullptr);
      b.arg(DNNL_ARG_DIFF_SHIFT, channel, nullptr);
    }
    b.workspace(pd.workspace_desc());
    return b.finish(info.Env(), dnnl::batch_normalization_backward(pd), pd.scratchpad_desc());
  });
}

// batchNormStatsPlan(channels, eps, toInvStd): buffers [in, out], plain [C]. toInvStd: out =
// 1 / sqrt(in + eps) (the kernel contract's invStd); else out = 1 / in^2 - eps, the variance
// that gives back invStd with that eps (the backward kernel receives invStd). Queued: no flush.
Napi::Value BatchNormStatsPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNormStats";
  return guardedValue(info, op, [&]() -> Napi::Value {
    int64_t channels = integer(info, 0, op, "channels");
    double eps = number(info, 1, op, "eps");
    bool toInvStd = flag(info, 2, op, "toInvStd");
    if (channels < 1) throw Napi::RangeError::New(info.Env(), "batchNormStats: channels must be positive");
    auto md = plainDescOf({channels});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {md, md};
    plan.custom = [channels, eps, toInvStd](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* in = static_cast<const float*>(buffers[0]);
      float* out = static_cast<float*>(buffers[1]);
      for (int64_t c = 0; c < channels; c++) {
        double v = in[c];
        out[c] = static_cast<float>(toInvStd ? 1 / std::sqrt(v + eps) : 1 / (v * v) - eps);
      }
    };
    int id = internDesc(md);
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"in", id}, {"out", id}});
  });
}

}  // namespace convkit
