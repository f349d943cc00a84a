// nn.Linear's forward for a few rows (a batch of 1 to 16), convkit's own: dst = relu?(src W^T +
// bias) on plain buffers, W [out, in] as PyTorch stores it. Such a product reads each weight once
// and does one multiply-add with it per row, so memory decides its time: AlexNet's first fully
// connected layer streams 151 MB per image. On a 2-core Zen 5 host oneDNN 2.6's inner product
// read it in 3.04 ms at batch 1, this loop (four weight rows at a time against up to four input
// rows) in 2.19; at batch 8 oneDNN's blocked kernel wins. linear-choice.ts measures the two per
// shape.
#include "finite.h"
#include "plan.h"

#include <algorithm>
#include <cstring>

namespace convkit {

namespace {

#ifdef __AVX512F__
constexpr int kLanes = 16, kRowsPerPass = 4;
#else
constexpr int kLanes = 8, kRowsPerPass = 2;  // 16 ymm registers: 8 accumulators and the loads
#endif
constexpr int kOutputsPerPass = 4;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct Sizes {
  int64_t rows, in, out;
  bool bias, relu;
};

// dst[r][o] for rows r0 <= r < r0 + R and outputs o0 <= o < o0 + O: lanes of partial sums, then
// the tail of `in` past the last whole vector, then the bias.
template <int R, int O>
void block(const float* src, const float* w, const float* bias, float* dst, const Sizes& s, int64_t r0, int64_t o0) {
  Vec acc[R][O] = {};
  const int64_t whole = s.in / kLanes * kLanes;
  for (int64_t k = 0; k < whole; k += kLanes) {
    Vec x[R];
    for (int r = 0; r < R; r++) x[r] = load(src + (r0 + r) * s.in + k);
    for (int o = 0; o < O; o++) {
      const Vec wv = load(w + (o0 + o) * s.in + k);
      for (int r = 0; r < R; r++) acc[r][o] += x[r] * wv;
    }
  }
  for (int r = 0; r < R; r++)
    for (int o = 0; o < O; o++) {
      float sum = 0;
      for (int l = 0; l < kLanes; l++) sum += acc[r][o][l];
      for (int64_t k = whole; k < s.in; k++) sum += src[(r0 + r) * s.in + k] * w[(o0 + o) * s.in + k];
      dst[(r0 + r) * s.out + o0 + o] = sum + (bias ? bias[o0 + o] : 0.0f);
    }
}

template <int R>
void rowsBlock(const float* src, const float* w, const float* bias, float* dst, const Sizes& s, int64_t r0,
               int64_t o0) {
  switch (std::min<int64_t>(kOutputsPerPass, s.out - o0)) {
    case 1:
      return block<R, 1>(src, w, bias, dst, s, r0, o0);
    case 2:
      return block<R, 2>(src, w, bias, dst, s, r0, o0);
    case 3:
      return block<R, 3>(src, w, bias, dst, s, r0, o0);
    default:
      return block<R, kOutputsPerPass>(src, w, bias, dst, s, r0, o0);
  }
}

void run(const float* src, const float* w, const float* bias, float* dst, const Sizes& s) {
  const int64_t blocks = (s.out + kOutputsPerPass - 1) / kOutputsPerPass;
  // Each thread takes whole blocks of weight rows: every weight is read from memory once.
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t o0 = b * kOutputsPerPass;
    for (int64_t r0 = 0; r0 < s.rows; r0 += kRowsPerPass) {
      switch (std::min<int64_t>(kRowsPerPass, s.rows - r0)) {
        case 1:
          rowsBlock<1>(src, w, bias, dst, s, r0, o0);
          break;
        case 2:
          rowsBlock<2>(src, w, bias, dst, s, r0, o0);
          break;
        case 3:
          rowsBlock<3>(src, w, bias, dst, s, r0, o0);
          break;
        default:
          rowsBlock<kRowsPerPass>(src, w, bias, dst, s, r0, o0);
      }
    }
  }
  if (s.relu) reluKeepingNaN(dst, s.rows * s.out);
}

}  // namespace

// smallLinearPlan({ rows, inFeatures, outFeatures, bias, relu }) -> { plan, src, weights, (bias), dst }:
// linearPlan's product on plain buffers (weights [out, in]) for 1 to 16 rows.
Napi::Value SmallLinearPlan(const Napi::CallbackInfo& info) {
  const char* op = "smallLinear";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = int64_t{1} << 40;
    const Sizes s{f.integer("rows", 1, 16), f.integer("inFeatures", 1, big), f.integer("outFeatures", 1, big),
                  f.flag("bias"), f.flag("relu")};
    Plan plan;
    plan.name = op;
    plan.descs = {plainDescOf({s.rows, s.in}), plainDescOf({s.out, s.in})};
    if (s.bias) plan.descs.push_back(plainDescOf({s.out}));
    plan.descs.push_back(plainDescOf({s.rows, s.out}));
    for (size_t i = 0; i < plan.descs.size(); i++) {
      plan.args.push_back(static_cast<int>(i));
      plan.customReads.push_back(i + 1 < plan.descs.size());
    }
    plan.custom = [s](const std::vector<void*>& b, const std::vector<double>&) {
      run(static_cast<const float*>(b[0]), static_cast<const float*>(b[1]),
          s.bias ? static_cast<const float*>(b[2]) : nullptr, static_cast<float*>(b[s.bias ? 3 : 2]), s);
    };
    std::vector<std::pair<std::string, int>> fields = {{"src", internDesc(plan.descs[0])},
                                                       {"weights", internDesc(plan.descs[1])}};
    if (s.bias) fields.push_back({"bias", internDesc(plan.descs[2])});
    fields.push_back({"dst", internDesc(plan.descs.back())});
    return planResult(info.Env(), registerPlan(std::move(plan)), fields);
  });
}
CONVKIT_EXPORT(smallLinearPlan, SmallLinearPlan);

}  // namespace convkit
