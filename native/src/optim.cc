// Optimiser steps as custom plans: C++ loops over plain float32 buffers, updated in place with
// exactly the arithmetic of the reference kernels (src/backend/ref/optim.ts, PyTorch 1.13's
// single-tensor rules): doubles per element, rounded to float where the reference rounds.
// Products of two floats are exact in a double, so the results are bit-identical.
#pragma GCC optimize("fp-contract=off")  // no fused multiply-add: the reference rounds each step

#include <cmath>
#include <limits>

#include "plan.h"

namespace convkit {

namespace {

constexpr int64_t kParallelFrom = 1 << 15;  // below this an OpenMP team costs more than it saves

inline float r(double x) {
  return static_cast<float>(x);
}

// exec's scalars for sgd(), which reads them in this order
const std::vector<ScalarField> kSgdScalars = {
    {"lr"}, {"momentum"}, {"dampening"}, {"nesterov", true}, {"weightDecay"}, {"maximize", true}, {"firstStep", true}};

void sgd(int64_t n, float* P, const float* G, float* B, const std::vector<double>& s) {
  double lr = s[0], momentum = s[1], dampening = s[2], weightDecay = s[4];
  bool nesterov = s[3] != 0, maximize = s[5] != 0, firstStep = s[6] != 0;
  const double decay = r(weightDecay), mom = r(momentum), keep = r(1 - dampening), negLr = r(-lr);
#pragma omp parallel for if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float d = maximize ? -G[i] : G[i];
    if (weightDecay != 0) d = r(d + decay * P[i]);
    if (B != nullptr) {
      B[i] = firstStep ? d : r(static_cast<double>(r(B[i] * mom)) + keep * d);
      d = nesterov ? r(d + mom * B[i]) : B[i];
    }
    P[i] = r(P[i] + negLr * d);
  }
}

// exec's scalars for adam(), which reads them in this order (the bias corrections 1 - beta^step
// come from JavaScript, so that pow rounds as in the reference kernel)
const std::vector<ScalarField> kAdamScalars = {{"biasCorrection1"}, {"biasCorrection2"}, {"lr"},
                                               {"beta1"},           {"beta2"},           {"eps"},
                                               {"weightDecay"},     {"decoupled", true}, {"maximize", true}};

void adam(int64_t n, float* P, const float* G, float* M, float* V, float* Vmax, const std::vector<double>& s) {
  double bc1 = s[0], bc2 = s[1], lr = s[2], beta1 = s[3], beta2 = s[4], eps = s[5], weightDecay = s[6];
  bool decoupled = s[7] != 0, maximize = s[8] != 0;
  const double negStepSize = r(-(lr / bc1)), bias2Sqrt = r(std::sqrt(bc2)), shrink = r(1 - lr * weightDecay);
  const double b1 = r(beta1), b2 = r(beta2), c1 = r(1 - beta1), c2 = r(1 - beta2), decay = r(weightDecay),
               epsilon = r(eps);
  const bool coupledDecay = !decoupled && weightDecay != 0;
#pragma omp parallel for if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = maximize ? -G[i] : G[i];
    if (coupledDecay) g = r(g + decay * P[i]);
    if (decoupled) P[i] = r(P[i] * shrink);
    M[i] = r(static_cast<double>(r(M[i] * b1)) + c1 * g);
    V[i] = r(static_cast<double>(r(V[i] * b2)) + static_cast<double>(r(c2 * g)) * g);
    float v = V[i];
    if (Vmax != nullptr) {
      // NaN propagates, as torch.maximum (and the reference's Math.max) does.
      Vmax[i] = std::isnan(Vmax[i]) || std::isnan(v) ? std::numeric_limits<float>::quiet_NaN() : std::max(Vmax[i], v);
      v = Vmax[i];
    }
    double denom = static_cast<double>(r(r(std::sqrt(static_cast<double>(v))) / bias2Sqrt)) + epsilon;
    P[i] = r(P[i] + static_cast<double>(r(static_cast<double>(r(negStepSize * M[i])) / static_cast<double>(r(denom)))));
  }
}

}  // namespace

// sgdPlan({ size, withMomentum }) -> { plan, param, grad }; buffers [param, grad, (momentumBuffer)],
// scalars kSgdScalars
Napi::Value SgdPlan(const Napi::CallbackInfo& info) {
  const char* op = "sgd";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields options(info, 0, op, "options");
    int64_t n = options.integer("size", 1);
    bool withMomentum = options.flag("withMomentum");
    Plan plan = customPlan(op, n, withMomentum ? 3 : 2, kSgdScalars);
    plan.custom = [n, withMomentum](const std::vector<void*>& b, const std::vector<double>& s) {
      sgd(n, static_cast<float*>(b[0]), static_cast<const float*>(b[1]),
          withMomentum ? static_cast<float*>(b[2]) : nullptr, s);
    };
    int desc = internDesc(plainDescOf({n}));
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"param", desc}, {"grad", desc}});
  });
}
CONVKIT_EXPORT(sgdPlan, SgdPlan);

// adamPlan({ size, amsgrad }) -> { plan, param, grad }; buffers [param, grad, expAvg, expAvgSq,
// (maxExpAvgSq)], scalars kAdamScalars
Napi::Value AdamPlan(const Napi::CallbackInfo& info) {
  const char* op = "adam";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields options(info, 0, op, "options");
    int64_t n = options.integer("size", 1);
    bool amsgrad = options.flag("amsgrad");
    Plan plan = customPlan(op, n, amsgrad ? 5 : 4, kAdamScalars);
    plan.custom = [n, amsgrad](const std::vector<void*>& b, const std::vector<double>& s) {
      auto f = [&](size_t i) { return static_cast<float*>(b[i]); };
      adam(n, f(0), f(1), f(2), f(3), amsgrad ? f(4) : nullptr, s);
    };
    int desc = internDesc(plainDescOf({n}));
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"param", desc}, {"grad", desc}});
  });
}
CONVKIT_EXPORT(adamPlan, AdamPlan);

}  // namespace convkit
