// Batch normalisation plans on the input's layout; mean, variance, scale, shift and their
// gradients are plain [C]. Training computes the batch mean and biased variance; inference
// (use_global_stats) reads them. Either may fuse a ReLU (fuse_norm_relu); in training the
// forward then writes a workspace (where the output is positive) that the backward reads. With
// global statistics the backward treats them as constants, as in eval mode.
#include "finite.h"
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

// The layout a training batch norm (forward and backward) runs in: its source's, except a plain
// 4-D map of several channels and positions, which runs blocked by channels (nChw16c on AVX-512,
// else nChw8c; the last block padded). oneDNN 2.6 has only slow kernels for plain data
// (ncsp_bnorm, one pass per channel) and for nhwc when the channels are no multiple of the vector
// (nspc_bnorm): 20-100 ms per call on DenseNet-BC's joins (64 x 36-204 channels x 32 x 32), where
// its JIT kernel takes 1-3 ms on blocked data. The copy into blocks (JavaScript reorders the input
// to the plan's `src`) costs one pass over the map.
dnnl::memory::desc trainingLayout(const dnnl::memory::desc& src) {
  const auto dims = src.dims();
  if (dims.size() != 4 || src != plainDescOf(dims) || dims[1] < 2 || dims[2] * dims[3] < 2) return src;
  static const bool avx512 = [] {
    auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa()),
         core = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & core) == core;
  }();
  using tag = dnnl::memory::format_tag;
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, avx512 ? tag::nChw16c : tag::nChw8c);
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

// The fused ReLU is max(y, 0), which maps NaN to 0; and oneDNN computes (x - mean) * 1/sqrt(var +
// eps), where PyTorch's inference folds x * alpha + (b - mean * alpha): with a zero variance and
// eps 0 (alpha infinite) the two give Inf and NaN. When the ReLU's input holds a NaN or an
// infinity, or a channel's statistics or affine parameters are not finite, or (in inference) its
// variance plus eps is 0, the fix rewrites those outputs: where x is NaN, NaN; in such a channel,
// PyTorch's formula (in training, the exact one) and a ReLU that keeps NaN. (The training
// workspace keeps oneDNN's mask: no gradient flows through those NaN outputs, which leave the
// loss NaN anyway.) Buffers: src, (scale), (shift), mean, variance, dst, (workspace).
NonFiniteGuard nonFiniteGuard(const dnnl::memory::desc& src, bool training, bool affine, float eps, bool relu) {
  const auto dims = src.dims();
  const int64_t channels = dims[1], n = floatsOf(src);
  const size_t meanAt = affine ? 3 : 1;
  NonFiniteGuard g;
  g.check = [=](const std::vector<void*>& buffers, FiniteMemo* memo) {
    // The inputs: src (for the ReLU), scale and shift, and the statistics in inference (training writes them).
    if (relu && nonFiniteIn(memo, static_cast<const float*>(buffers[0]), n)) return true;
    for (size_t i = 1; i < (training ? meanAt : meanAt + 2); i++)
      if (nonFiniteIn(memo, static_cast<const float*>(buffers[i]), channels)) return true;
    // A zero variance with eps 0: an infinite 1/sqrt, where the order of operations decides.
    const float* variance = static_cast<const float*>(buffers[meanAt + 1]);
    if (!training)
      for (int64_t c = 0; c < channels; c++)
        if (variance[c] + eps == 0.f) return true;
    return false;
  };
  g.fix = [=](const std::vector<void*>& buffers) {
    const float* x = static_cast<const float*>(buffers[0]);
    const float* scale = affine ? static_cast<const float*>(buffers[1]) : nullptr;
    const float* shift = affine ? static_cast<const float*>(buffers[2]) : nullptr;
    const float* mean = static_cast<const float*>(buffers[meanAt]);
    const float* variance = static_cast<const float*>(buffers[meanAt + 1]);
    float* y = static_cast<float*>(buffers[meanAt + 2]);
    int64_t spatial = 1;
    for (size_t d = 2; d < dims.size(); d++) spatial *= dims[d];
#pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < dims[0] * channels; nc++) {
      const int64_t c = nc % channels;
      const float a = affine ? scale[c] : 1.f, b = affine ? shift[c] : 0.f;
      const bool badChannel = (mean[c] - mean[c]) != 0.f || (variance[c] - variance[c]) != 0.f || (a - a) != 0.f ||
                              (b - b) != 0.f || (!training && variance[c] + eps == 0.f);
      // Inference folds as PyTorch does (x * alpha + beta, beta = b - mean * alpha: 0 * inf is NaN there).
      const double alpha = a / std::sqrt(static_cast<double>(variance[c]) + eps), beta = b - mean[c] * alpha;
      int64_t at[DNNL_MAX_NDIMS] = {nc / channels, c};
      for (int64_t s = 0; s < spatial; s++) {
        for (int64_t d = static_cast<int64_t>(dims.size()) - 1, rest = s; d >= 2; d--) {
          at[d] = rest % dims[d];
          rest /= dims[d];
        }
        const int64_t o = physicalOffset(src, at);
        if (x[o] != x[o]) {
          y[o] = x[o];
        } else if (badChannel) {
          const float v = training ? (x[o] - mean[c]) / std::sqrt(variance[c] + eps) * a + b
                                   : static_cast<float>(x[o] * alpha + beta);
          y[o] = relu && v < 0.f ? 0.f : v;
        }
      }
    }
  };
  return g;
}

// Inference batch norm (+ ReLU) of our own on plain layouts (nc, ncw, nchw...), nChw8c and
// nChw16c: y = x * a[c] + b[c] with a = gamma / sqrt(var + eps), b = beta - mean * a (per channel,
// in double), PyTorch's order, then a ReLU that keeps NaN. One read of x and one write of y, as
// oneDNN's, where its fused ReLU plus a NaN scan read x twice. Null for other layouts (they run
// oneDNN with nonFiniteGuard). Buffers as oneDNN's plan: src, (scale), (shift), mean, variance, dst.
std::function<void(const std::vector<void*>&, const std::vector<double>&)> inferenceLoop(const dnnl::memory::desc& src,
                                                                                         bool affine, float eps,
                                                                                         bool relu) {
  using tag = dnnl::memory::format_tag;
  const auto dims = src.dims();
  auto is = [&](tag t) { return src == dnnl::memory::desc(dims, dnnl::memory::data_type::f32, t); };
  int block = src == plainDescOf(dims) ? 1 : 0;  // channels per block: 1 for plain (nc, ncw, nchw, ...)
  if (dims.size() == 4 && block == 0) block = is(tag::nChw8c) ? 8 : is(tag::nChw16c) ? 16 : 0;
  if (block == 0 || dims.size() < 2) return nullptr;
  int64_t spatial = 1;
  for (size_t d = 2; d < dims.size(); d++) spatial *= dims[d];
  const int64_t N = dims[0], C = dims[1];
  const size_t meanAt = affine ? 3 : 1;
  return [=](const std::vector<void*>& buffers, const std::vector<double>&) {
    const int64_t blocks = (C + block - 1) / block;
    std::vector<float> a(blocks * block, 0.f), b(blocks * block, 0.f);  // padding lanes: 0
    const float* mean = static_cast<const float*>(buffers[meanAt]);
    const float* variance = static_cast<const float*>(buffers[meanAt + 1]);
    for (int64_t c = 0; c < C; c++) {
      double gamma = affine ? static_cast<const float*>(buffers[1])[c] : 1.0;
      double beta = affine ? static_cast<const float*>(buffers[2])[c] : 0.0;
      double scale = gamma / std::sqrt(static_cast<double>(variance[c]) + eps);
      a[c] = static_cast<float>(scale);
      b[c] = static_cast<float>(beta - mean[c] * scale);
    }
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[meanAt + 2]);
    const float* pa = a.data();
    const float* pb = b.data();
#pragma omp parallel for schedule(static)
    for (int64_t nb = 0; nb < N * blocks; nb++) {
      const int64_t cb = nb % blocks;
      const float* in = x + nb * spatial * block;
      float* out = y + nb * spatial * block;
      if (block == 1) {
        const float sa = pa[cb], sb = pb[cb];
#pragma omp simd
        for (int64_t i = 0; i < spatial; i++) {
          const float v = in[i] * sa + sb;
          out[i] = relu && v < 0.f ? 0.f : v;
        }
      } else {
        const float* ca = pa + cb * block;
        const float* cbias = pb + cb * block;
        for (int64_t s = 0; s < spatial; s++) {
#pragma omp simd
          for (int c = 0; c < block; c++) {
            const float v = in[s * block + c] * ca[c] + cbias[c];
            out[s * block + c] = relu && v < 0.f ? 0.f : v;
          }
        }
      }
    }
  };
}
}  // namespace

// batchNormPlan(src, { training, affine, relu, eps }): buffers [src, (scale), (shift), mean, variance, dst,
// (workspace)]
Napi::Value BatchNormPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Options o = optionsArg(info, 1, op);
    bool training = o.boolean("training"), affine = o.boolean("affine"), relu = o.boolean("relu");
    auto src = training ? trainingLayout(srcArg(info, 0, op)) : srcArg(info, 0, op);
    auto pd = forwardPd(src, training, o.eps(), flagsOf(affine, !training, relu));
    auto channel = plainDescOf({src.dims()[1]});
    if (!training && pd.dst_desc() == src) {
      if (auto loop = inferenceLoop(src, affine, o.eps(), relu)) {
        Plan plan;
        plan.name = op;
        plan.args = {0};
        plan.descs = {src};
        if (affine) {
          plan.args.insert(plan.args.end(), {1, 2});
          plan.descs.insert(plan.descs.end(), {channel, channel});
        }
        for (int i = 0; i < 3; i++) plan.args.push_back(static_cast<int>(plan.args.size()));
        plan.descs.insert(plan.descs.end(), {channel, channel, src});
        plan.custom = std::move(loop);
        int srcId = internDesc(src), channelId = internDesc(channel);
        return planResult(info.Env(), registerPlan(std::move(plan)),
                          {{"src", srcId}, {"mean", channelId}, {"variance", channelId}, {"dst", srcId}});
      }
    }
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
    if ((relu || !training) && pd.dst_desc() == src) b.guard(nonFiniteGuard(src, training, affine, o.eps(), relu));
    return b.finish(info.Env(), dnnl::batch_normalization_forward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(batchNormPlan, BatchNormPlan);

// batchNormBackwardPlan(src, { affine, eps, globalStats, relu }): buffers [src, diffDst, mean,
// variance, (scale), (shift), diffSrc, (diffScale), (diffShift), (workspace: relu, from the
// training forward)]. oneDNN 2.6 refuses to run the backward with use_shift unless a shift is
// bound, although nothing reads it: any [C] buffer will do.
Napi::Value BatchNormBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNormBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = trainingLayout(srcArg(info, 0, op));  // the training forward's layout (its workspace's)
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
CONVKIT_EXPORT(batchNormBackwardPlan, BatchNormBackwardPlan);

// batchNormStatsPlan({ channels, eps, toInvStd }): buffers [in, out], plain [C]. toInvStd: out =
// 1 / sqrt(in + eps) (the kernel contract's invStd); else out = 1 / in^2 - eps, the variance
// that gives back invStd with that eps (the backward kernel receives invStd). Queued: no flush.
Napi::Value BatchNormStatsPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNormStats";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields stats(info, 0, op, "stats");
    int64_t channels = stats.integer("channels", 1);
    double eps = stats.number("eps");
    bool toInvStd = stats.flag("toInvStd");
    Plan plan = customPlan(op, channels, 2);
    plan.custom = [channels, eps, toInvStd](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* in = static_cast<const float*>(buffers[0]);
      float* out = static_cast<float*>(buffers[1]);
      for (int64_t c = 0; c < channels; c++) {
        double v = in[c];
        out[c] = static_cast<float>(toInvStd ? 1 / std::sqrt(v + eps) : 1 / (v * v) - eps);
      }
    };
    int id = internDesc(plainDescOf({channels}));
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"in", id}, {"out", id}});
  });
}
CONVKIT_EXPORT(batchNormStatsPlan, BatchNormStatsPlan);

// batchNormRunningPlan({ channels, eps, count, countBatches }): buffers [mean, variance,
// runningMean, runningVar, invStd, (batches)], plain [C] ([1] for batches); scalars [momentum].
// What a training forward computes after oneDNN's pass, in one queued loop: invStd = 1 / sqrt(variance
// + eps), and the running statistics moved towards the batch's in place, in double as PyTorch (the
// variance unbiased: times count / (count - 1)); with countBatches, batches[0] + 1
// (num_batches_tracked). In place, so a recorded training step carries them from run to run.
Napi::Value BatchNormRunningPlan(const Napi::CallbackInfo& info) {
  const char* op = "batchNormRunning";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields stats(info, 0, op, "stats");
    int64_t channels = stats.integer("channels", 1);
    double eps = stats.number("eps");
    double count = static_cast<double>(stats.integer("count", 2));
    bool countBatches = stats.flag("countBatches");
    Plan plan = customPlan(op, channels, countBatches ? 6 : 5, {{"momentum"}});
    if (countBatches) plan.descs[5] = plainDescOf({1});
    double unbias = count / (count - 1);
    plan.custom = [channels, eps, unbias, countBatches](const std::vector<void*>& buffers,
                                                        const std::vector<double>& scalars) {
      const float* mean = static_cast<const float*>(buffers[0]);
      const float* variance = static_cast<const float*>(buffers[1]);
      float* runningMean = static_cast<float*>(buffers[2]);
      float* runningVar = static_cast<float*>(buffers[3]);
      float* invStd = static_cast<float*>(buffers[4]);
      double momentum = scalars[0];
      for (int64_t c = 0; c < channels; c++) {
        double v = variance[c];
        invStd[c] = static_cast<float>(1 / std::sqrt(v + eps));
        runningMean[c] = static_cast<float>((1 - momentum) * runningMean[c] + momentum * mean[c]);
        runningVar[c] = static_cast<float>((1 - momentum) * runningVar[c] + momentum * v * unbias);
      }
      if (countBatches) static_cast<float*>(buffers[5])[0] += 1;
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"stats", internDesc(plainDescOf({channels}))}});
  });
}
CONVKIT_EXPORT(batchNormRunningPlan, BatchNormRunningPlan);

}  // namespace convkit
