// Softmax and log-softmax (softmax_v2) over the middle axis of an outer x dim x inner view.
#include "softmax.h"

#include "common.h"

namespace convkit {

namespace {

dnnl::memory::desc viewDesc(const std::vector<int64_t>& layout) {
  return plainDesc({layout[0], layout[1], layout[2]}, dnnl::memory::format_tag::abc);
}

dnnl::softmax_v2_forward::primitive_desc forwardPd(dnnl::algorithm alg, const dnnl::memory::desc& md) {
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_training, alg, md, md, 1);
  return dnnl::softmax_v2_forward::primitive_desc(d, userScratchpadAttr(), cpuEngine());
}

std::vector<int64_t> layoutOf(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto layout = ints(info, index, 3, op, "layout");
  if (layout[0] < 1 || layout[1] < 1 || layout[2] < 1) throw Napi::RangeError::New(info.Env(), std::string(op) + ": layout sizes must be positive");
  return layout;
}

}  // namespace

// softmaxForward(log, x, y, [outer, dim, inner])
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info) {
  const char* op = "softmax";
  return guarded(info, op, [&] {
    bool log = flag(info, 0, op, "log");
    auto layout = layoutOf(info, 3, op);
    size_t size = layout[0] * layout[1] * layout[2];
    float* x = floats(info, 1, size, op, "x");
    float* y = floats(info, 2, size, op, "y");
    auto md = viewDesc(layout);
    auto alg = log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    const auto& p = cached(keyOf(log ? "logsoftmax_fwd" : "softmax_fwd", layout), [&] {
      auto pd = forwardPd(alg, md);
      return CachedPrimitive{dnnl::softmax_v2_forward(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_SRC, dnnl::memory(md, cpuEngine(), x)}, {DNNL_ARG_DST, dnnl::memory(md, cpuEngine(), y)}});
  });
}

// softmaxBackward(log, gy, y, gx, [outer, dim, inner])
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info) {
  const char* op = "softmaxBackward";
  return guarded(info, op, [&] {
    bool log = flag(info, 0, op, "log");
    auto layout = layoutOf(info, 4, op);
    size_t size = layout[0] * layout[1] * layout[2];
    float* gy = floats(info, 1, size, op, "gy");
    float* y = floats(info, 2, size, op, "y");
    float* gx = floats(info, 3, size, op, "gx");
    auto md = viewDesc(layout);
    auto alg = log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    const auto& p = cached(keyOf(log ? "logsoftmax_bwd" : "softmax_bwd", layout), [&] {
      dnnl::softmax_v2_backward::desc d(alg, md, md, md, 1);
      dnnl::softmax_v2_backward::primitive_desc pd(d, userScratchpadAttr(), cpuEngine(), forwardPd(alg, md));
      return CachedPrimitive{dnnl::softmax_v2_backward(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_DIFF_DST, dnnl::memory(md, cpuEngine(), gy)},
                {DNNL_ARG_DST, dnnl::memory(md, cpuEngine(), y)},
                {DNNL_ARG_DIFF_SRC, dnnl::memory(md, cpuEngine(), gx)}});
  });
}

}  // namespace convkit
