// foldBatchNorm as one queued C++ loop: an eval-mode batch norm folded into the weight and bias of
// the layer before it. Inference used to fold with six elementwise ops per norm, each a oneDNN
// plan, a buffer and a queued command: about a quarter of a DenseNet's first pass.
//
// The arithmetic is the reference kernel's (src/backend/ref/norm.ts), rounded to float after each
// step. A sum, product or quotient of two floats, or the square root of one, computed in double and
// rounded once to float equals the correctly rounded float result, so the two agree bit for bit.
#pragma GCC optimize("fp-contract=off")  // no fused multiply-add: every step rounds

#include <cmath>

#include "plan.h"

namespace convkit {

namespace {

constexpr int64_t kParallelFrom = 1 << 16;  // weights below this fold faster on one thread

inline float r(double x) {
  return static_cast<float>(x);
}

struct FoldShape {
  int64_t channels;
  int64_t inner;  // weight elements per output channel
  bool hasBias, hasGamma, hasBeta;
  bool scaleOnly;  // write each channel's scale where the folded weights go, and no weights
  double eps;
};

// buffers: weight, bias, gamma, beta, mean, variance, foldedWeight, foldedBias (absent ones null)
void fold(const FoldShape& f, const std::vector<void*>& b) {
  auto in = [&](size_t i) { return static_cast<const float*>(b[i]); };
  const float *W = in(0), *B = in(1), *G = in(2), *Be = in(3), *M = in(4), *V = in(5);
  float* FW = static_cast<float*>(b[6]);
  float* FB = static_cast<float*>(b[7]);
  const int64_t C = f.channels, inner = f.inner;
#pragma omp parallel for if (!f.scaleOnly && C * inner >= kParallelFrom) schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double sd = r(std::sqrt(static_cast<double>(r(static_cast<double>(V[c]) + f.eps))));
    double scale = r((f.hasGamma ? static_cast<double>(G[c]) : 1.0) / sd);
    if (f.scaleOnly)
      FW[c] = static_cast<float>(scale);
    else
      for (int64_t i = c * inner; i < (c + 1) * inner; i++) FW[i] = r(W[i] * scale);
    double shifted = r(r((f.hasBias ? static_cast<double>(B[c]) : 0.0) - M[c]) * scale);
    FB[c] = f.hasBeta ? r(shifted + Be[c]) : r(shifted);
  }
}

}  // namespace

// foldBatchNormPlan({ channels, inner, hasBias, hasGamma, hasBeta, eps, scaleOnly }) -> { plan, weight, channel }:
// buffers [weight, bias, gamma, beta, mean, variance, foldedWeight, foldedBias], plain float32;
// weight and foldedWeight are [channels * inner], the rest [channels]; absent ones are null.
// scaleOnly: no weight (null) and foldedWeight [channels], each channel's scale (gamma / sqrt(var +
// eps), rounded as the folded weights use it): the weights are scaled where they are converted.
Napi::Value FoldBatchNormPlan(const Napi::CallbackInfo& info) {
  const char* op = "foldBatchNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields options(info, 0, op, "options");
    FoldShape f;
    f.channels = options.integer("channels", 1);
    f.inner = options.integer("inner", 1);
    f.hasBias = options.flag("hasBias");
    f.hasGamma = options.flag("hasGamma");
    f.hasBeta = options.flag("hasBeta");
    f.scaleOnly = options.flag("scaleOnly");
    f.eps = options.number("eps");
    if (f.eps < 0) throw std::invalid_argument("option 'eps' must be non-negative, got " + std::to_string(f.eps));
    auto weight = plainDescOf({f.channels * f.inner});
    auto channel = plainDescOf({f.channels});
    auto optional = [&](bool present) { return present ? channel : dnnl::memory::desc(); };
    Plan plan;
    plan.name = op;
    plan.args = {0, 1, 2, 3, 4, 5, 6, 7};
    plan.descs = {f.scaleOnly ? dnnl::memory::desc() : weight,
                  optional(f.hasBias),
                  optional(f.hasGamma),
                  optional(f.hasBeta),
                  channel,
                  channel,
                  f.scaleOnly ? channel : weight,
                  channel};
    plan.custom = [f](const std::vector<void*>& buffers, const std::vector<double>&) { fold(f, buffers); };
    return planResult(info.Env(), registerPlan(std::move(plan)),
                      {{"weight", internDesc(weight)}, {"channel", internDesc(channel)}});
  });
}
CONVKIT_EXPORT(foldBatchNormPlan, FoldBatchNormPlan);

}  // namespace convkit
