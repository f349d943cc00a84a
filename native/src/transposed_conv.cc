// The weights of a stride-1 convolution run as the backward-data pass of its transposed
// convolution (conv.ts, the 'transposed' algorithm): the same sums on another oneDNN kernel,
// which on some shapes and CPUs is faster (ResNet-20's 16-channel 3x3 convs on Zen 5). For
// y = conv(x, W) with padding p, the backward data of the conv that maps y-shaped maps to x-shaped
// ones, with padding d*(k-1) - p and weights
//   V[c][o][a][b] = W[o][c][KH-1-a][KW-1-b]
// (input and output channels swapped, each kernel turned by 180 degrees), computes y from x.
#include "plan.h"

namespace convkit {

// flipTransposeWeightsPlan({ outChannels, inChannels, kernelH, kernelW }):
// buffers [w plain [O, C, KH, KW], dst plain [C, O, KH, KW]].
Napi::Value FlipTransposeWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "flipTransposeWeights";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = 1 << 30;
    const int64_t O = f.integer("outChannels", 1, big), C = f.integer("inChannels", 1, big);
    const int64_t KH = f.integer("kernelH", 1, big), KW = f.integer("kernelW", 1, big);
    auto src = plainDescOf({O, C, KH, KW}), dst = plainDescOf({C, O, KH, KW});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {src, dst};
    plan.custom = [=](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* w = static_cast<const float*>(buffers[0]);
      float* v = static_cast<float*>(buffers[1]);
      const int64_t taps = KH * KW;
      // Threads only where there is enough to share (ResNet-20's 16x16x3x3 takes a microsecond).
#pragma omp parallel for schedule(static) if (O * C * taps > (1 << 16))
      for (int64_t o = 0; o < O; o++) {
        for (int64_t c = 0; c < C; c++) {
          const float* from = w + (o * C + c) * taps;
          float* to = v + (c * O + o) * taps;
          for (int64_t t = 0; t < taps; t++) to[t] = from[taps - 1 - t];
        }
      }
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(flipTransposeWeightsPlan, FlipTransposeWeightsPlan);

}  // namespace convkit
