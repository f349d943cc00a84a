// Softmax and log-softmax (softmax_v2) plans over the middle axis of a plain outer x dim x inner view.
// A guard (plan.h) recomputes exactly, in double, the rows oneDNN gets wrong: rows holding a NaN
// or an infinity (oneDNN's row maximum drops NaN, so [1, NaN, 3] came out partly finite, and
// [inf, 0, 0] gave -inf where PyTorch gives NaN) and rows of one class (oneDNN's log(1) is about
// -1.4e-6, which made a one-class cross-entropy negative). Finite rows of 2+ classes pay one scan.
// The backward recomputes the rows whose output or gradient is not finite.
#include <cmath>
#include <limits>

#include "finite.h"
#include "plan.h"

namespace convkit {

namespace {

// The plain outer x dim x inner view of the `layout` argument { outer, dim, inner }.
dnnl::memory::desc viewDesc(const Napi::CallbackInfo& info, size_t index, const char* op) {
  Fields layout(info, index, op, "layout");
  const int64_t big = int64_t{1} << 40;
  return plainDescOf({layout.integer("outer", 1, big), layout.integer("dim", 1, big), layout.integer("inner", 1, big)});
}

dnnl::softmax_v2_forward::primitive_desc forwardPd(dnnl::algorithm alg, const dnnl::memory::desc& md) {
  dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_training, alg, md, md, 1);
  return dnnl::softmax_v2_forward::primitive_desc(d, planAttr(), cpuEngine());
}

// PyTorch's (log-)softmax of one row of `dim` values `stride` apart, in double: the maximum
// propagates NaN, so a NaN anywhere, an infinite maximum (inf - inf) or a row of -inf gives NaN.
void exactRow(const float* x, float* y, int64_t dim, int64_t stride, bool log) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t d = 0; d < dim; d++) {
    double v = x[d * stride];
    if (std::isnan(v) || v > max) max = v;
    if (std::isnan(v)) break;
  }
  double sum = 0;
  for (int64_t d = 0; d < dim; d++) sum += std::exp(x[d * stride] - max);
  const double logSum = std::log(sum);
  for (int64_t d = 0; d < dim; d++) {
    double shifted = x[d * stride] - max;
    y[d * stride] = static_cast<float>(log ? shifted - logSum : std::exp(shifted) / sum);
  }
}

NonFiniteGuard softmaxGuard(int64_t outer, int64_t dim, int64_t inner, bool log) {
  NonFiniteGuard g;
  g.check = [outer, dim, inner](const std::vector<void*>& buffers, FiniteMemo* memo) {
    return dim == 1 || nonFiniteIn(memo, static_cast<const float*>(buffers[0]), outer * dim * inner);
  };
  g.fix = [outer, dim, inner, log](const std::vector<void*>& buffers) {
    const float* x = static_cast<const float*>(buffers[0]);
    float* y = static_cast<float*>(buffers[1]);
#pragma omp parallel for if (outer * inner > 64) schedule(static)
    for (int64_t r = 0; r < outer * inner; r++) {
      const int64_t base = (r / inner) * dim * inner + r % inner;
      if (dim == 1 || anyNonFiniteStrided(x + base, dim, inner)) exactRow(x + base, y + base, dim, inner, log);
    }
  };
  return g;
}

}  // namespace

// softmaxPlan({ outer, dim, inner }, { log }): buffers [src, dst]
Napi::Value SoftmaxPlan(const Napi::CallbackInfo& info) {
  const char* op = "softmax";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto md = viewDesc(info, 0, op);
    bool log = Fields(info, 1, op, "options").flag("log");
    auto alg = log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    auto pd = forwardPd(alg, md);
    auto dims = md.dims();
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, md, "src")
        .arg(DNNL_ARG_DST, md, "dst")
        .guard(softmaxGuard(dims[0], dims[1], dims[2], log))
        .finish(info.Env(), dnnl::softmax_v2_forward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(softmaxPlan, SoftmaxPlan);

// The backward of a row whose output or gradient holds a NaN or an infinity, in double (oneDNN's
// exp clamps its input, so exp(NaN) came out finite and the gradient infinite, not NaN).
NonFiniteGuard softmaxBackwardGuard(int64_t outer, int64_t dim, int64_t inner, bool log) {
  NonFiniteGuard g;
  const int64_t n = outer * dim * inner;
  g.check = [n](const std::vector<void*>& buffers, FiniteMemo* memo) {
    return nonFiniteIn(memo, static_cast<const float*>(buffers[0]), n) ||
           nonFiniteIn(memo, static_cast<const float*>(buffers[1]), n);
  };
  g.fix = [outer, dim, inner, log](const std::vector<void*>& buffers) {
    const float* y = static_cast<const float*>(buffers[0]);
    const float* gy = static_cast<const float*>(buffers[1]);
    float* gx = static_cast<float*>(buffers[2]);
#pragma omp parallel for if (outer * inner > 64) schedule(static)
    for (int64_t r = 0; r < outer * inner; r++) {
      const int64_t base = (r / inner) * dim * inner + r % inner;
      if (!anyNonFiniteStrided(y + base, dim, inner) && !anyNonFiniteStrided(gy + base, dim, inner)) continue;
      // softmax: gx = y * (g - sum(g * y)); log-softmax: gx = g - exp(y) * sum(g)
      double dot = 0;
      for (int64_t d = 0; d < dim; d++) {
        const int64_t k = base + d * inner;
        dot += log ? static_cast<double>(gy[k]) : static_cast<double>(gy[k]) * y[k];
      }
      for (int64_t d = 0; d < dim; d++) {
        const int64_t k = base + d * inner;
        gx[k] = static_cast<float>(log ? gy[k] - std::exp(static_cast<double>(y[k])) * dot : y[k] * (gy[k] - dot));
      }
    }
  };
  return g;
}

// softmaxBackwardPlan({ outer, dim, inner }, { log }): buffers [dst, diffDst, diffSrc]
Napi::Value SoftmaxBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "softmaxBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto md = viewDesc(info, 0, op);
    bool log = Fields(info, 1, op, "options").flag("log");
    auto alg = log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
    auto dims = md.dims();
    dnnl::softmax_v2_backward::desc d(alg, md, md, md, 1);
    dnnl::softmax_v2_backward::primitive_desc pd(d, planAttr(), cpuEngine(), forwardPd(alg, md));
    return PlanBuilder(op)
        .arg(DNNL_ARG_DST, md, "dst")
        .arg(DNNL_ARG_DIFF_DST, md, "diffDst")
        .arg(DNNL_ARG_DIFF_SRC, md, "diffSrc")
        .guard(softmaxBackwardGuard(dims[0], dims[1], dims[2], log))
        .finish(info.Env(), dnnl::softmax_v2_backward(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(softmaxBackwardPlan, SoftmaxBackwardPlan);

}  // namespace convkit
