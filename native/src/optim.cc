// Optimiser steps as custom plans: C++ loops over plain float32 buffers, updated in place with
// exactly the arithmetic of the reference kernels (src/backend/ref/optim.ts, PyTorch 1.13's
// single-tensor rules): doubles per element, rounded to float where the reference rounds.
// Products of two floats are exact in a double, so the results are bit-identical.
// No fused multiply-add: the reference rounds each step. No SLP vectorisation: GCC 12 pairs
// roundings such as (double)(float)x into vectors and then folds them back to x (a learning
// rate of 0.1 reached the loop unrounded, Adam's moments came out 1 ulp off). The loops are
// still vectorised, as loops; Adam's because the addon is built with -fno-math-errno (a sqrt
// that may set errno is a call the vectoriser cannot cross).
#pragma GCC optimize("fp-contract=off", "no-tree-slp-vectorize")

#include <cmath>
#include <limits>
#include <type_traits>

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

// The flags are template arguments so that each loop is branch-free and the compiler vectorises
// it (in doubles, 8 to a zmm register): the scalar loop with its per-element tests ran at about
// 16 GB/s, a third of what memory gives. `withFlags` turns run-time flags into those arguments.
template <typename F>
void withFlags(F&& f) {
  f();
}
template <typename F, typename... More>
void withFlags(F&& f, bool flag, More... more) {
  if (flag) {
    withFlags([&](auto... tail) { f(std::true_type{}, tail...); }, more...);
  } else {
    withFlags([&](auto... tail) { f(std::false_type{}, tail...); }, more...);
  }
}

template <bool kMaximize, bool kDecay, bool kMomentum, bool kFirstStep, bool kNesterov>
void sgdLoop(int64_t n, float* P, const float* G, float* B, double decay, double mom, double keep, double negLr) {
#pragma omp parallel for if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float d = kMaximize ? -G[i] : G[i];
    if constexpr (kDecay) d = r(d + decay * P[i]);
    if constexpr (kMomentum) {
      const float b = kFirstStep ? d : r(static_cast<double>(r(B[i] * mom)) + keep * d);
      B[i] = b;
      d = kNesterov ? r(d + mom * b) : b;
    }
    P[i] = r(P[i] + negLr * d);
  }
}

void sgd(int64_t n, float* P, const float* G, float* B, const std::vector<double>& s) {
  double lr = s[0], momentum = s[1], dampening = s[2], weightDecay = s[4];
  bool nesterov = s[3] != 0, maximize = s[5] != 0, firstStep = s[6] != 0;
  const double decay = r(weightDecay), mom = r(momentum), keep = r(1 - dampening), negLr = r(-lr);
  withFlags(
      [&](auto maximizing, auto decaying, auto withMomentum, auto first, auto nesterovs) {
        sgdLoop<maximizing, decaying, withMomentum, first, nesterovs>(n, P, G, B, decay, mom, keep, negLr);
      },
      maximize, weightDecay != 0, B != nullptr, B != nullptr && firstStep, B != nullptr && nesterov);
}

// exec's scalars for adam(), which reads them in this order (the bias corrections 1 - beta^step
// come from JavaScript, so that pow rounds as in the reference kernel)
const std::vector<ScalarField> kAdamScalars = {{"biasCorrection1"}, {"biasCorrection2"}, {"lr"},
                                               {"beta1"},           {"beta2"},           {"eps"},
                                               {"weightDecay"},     {"decoupled", true}, {"maximize", true}};

// Adam's scalars, rounded to float as the reference rounds them.
struct AdamConstants {
  double negStepSize, bias2Sqrt, shrink, b1, b2, c1, c2, decay, epsilon;
};

template <bool kMaximize, bool kCoupledDecay, bool kDecoupled, bool kAmsgrad>
void adamLoop(int64_t n, float* P, const float* G, float* M, float* V, float* Vmax, const AdamConstants& k) {
#pragma omp parallel for if (n >= kParallelFrom) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = kMaximize ? -G[i] : G[i];
    if constexpr (kCoupledDecay) g = r(g + k.decay * P[i]);
    if constexpr (kDecoupled) P[i] = r(P[i] * k.shrink);
    M[i] = r(static_cast<double>(r(M[i] * k.b1)) + k.c1 * g);
    V[i] = r(static_cast<double>(r(V[i] * k.b2)) + static_cast<double>(r(k.c2 * g)) * g);
    float v = V[i];
    if constexpr (kAmsgrad) {
      // NaN propagates, as torch.maximum (and the reference's Math.max) does.
      Vmax[i] = std::isnan(Vmax[i]) || std::isnan(v) ? std::numeric_limits<float>::quiet_NaN() : std::max(Vmax[i], v);
      v = Vmax[i];
    }
    double denom = static_cast<double>(r(r(std::sqrt(static_cast<double>(v))) / k.bias2Sqrt)) + k.epsilon;
    P[i] =
        r(P[i] + static_cast<double>(r(static_cast<double>(r(k.negStepSize * M[i])) / static_cast<double>(r(denom)))));
  }
}

void adam(int64_t n, float* P, const float* G, float* M, float* V, float* Vmax, const std::vector<double>& s) {
  double bc1 = s[0], bc2 = s[1], lr = s[2], beta1 = s[3], beta2 = s[4], eps = s[5], weightDecay = s[6];
  bool decoupled = s[7] != 0, maximize = s[8] != 0;
  const AdamConstants k{r(-(lr / bc1)), r(std::sqrt(bc2)), r(1 - lr * weightDecay), r(beta1), r(beta2),
                        r(1 - beta1),   r(1 - beta2),      r(weightDecay),          r(eps)};
  withFlags([&](auto maximizing, auto coupledDecay, auto decoupling,
                auto amsgrad) { adamLoop<maximizing, coupledDecay, decoupling, amsgrad>(n, P, G, M, V, Vmax, k); },
            maximize, !decoupled && weightDecay != 0, decoupled, Vmax != nullptr);
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
