// Space-to-depth for strided convolutions that oneDNN 2.6 would run as im2col + gemm (AlexNet's
// 11x11 stride-4 stem on 3 channels: no JIT kernel takes it). With strides sH x sW, the input's
// sH x sW pixel blocks become channels and the kernel is cut the same way, which leaves a
// stride-1 convolution of ceil(K/s) taps over C*sH*sW channels: the same sums (the padded kernel
// taps are zero), run by the direct JIT kernel.
//   input:   X'[n][(c*sH + r)*sW + q][h][w] = x[n][c][sH*h + r - padTop][sW*w + q - padLeft] (0 outside)
//   weights: W'[o][(c*sH + r)*sW + q][a][b] = w[o][c][sH*a + r][sW*b + q] (0 past the kernel)
#include "plan.h"

namespace convkit {

namespace {

struct Cut {
  int64_t C, sH, sW;
  int64_t channels() const { return C * sH * sW; }
};

}  // namespace

// spaceToDepthInputPlan({ batch, channels, inH, inW, strideH, strideW, padTop, padLeft, outH,
// outW }): buffers [x plain [N, C, H, W], dst plain [N, C*sH*sW, outH, outW]].
Napi::Value SpaceToDepthInputPlan(const Napi::CallbackInfo& info) {
  const char* op = "spaceToDepth";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = 1 << 30;
    int64_t N = f.integer("batch", 1, big);
    Cut cut{f.integer("channels", 1, big), 0, 0};
    int64_t H = f.integer("inH", 1, big), W = f.integer("inW", 1, big);
    cut.sH = f.integer("strideH", 1, big);
    cut.sW = f.integer("strideW", 1, big);
    int64_t pT = f.integer("padTop", 0, big), pL = f.integer("padLeft", 0, big);
    int64_t OH = f.integer("outH", 1, big), OW = f.integer("outW", 1, big);
    auto src = plainDescOf({N, cut.C, H, W}), dst = plainDescOf({N, cut.channels(), OH, OW});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {src, dst};
    plan.custom = [=](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* x = static_cast<const float*>(buffers[0]);
      float* y = static_cast<float*>(buffers[1]);
#pragma omp parallel for collapse(2) schedule(static)
      for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < cut.channels(); k++) {
          const int64_t c = k / (cut.sH * cut.sW), r = k / cut.sW % cut.sH, q = k % cut.sW;
          const float* plane = x + (n * cut.C + c) * H * W;
          float* out = y + (n * cut.channels() + k) * OH * OW;
          for (int64_t h = 0; h < OH; h++) {
            const int64_t ih = cut.sH * h + r - pT;
            for (int64_t w = 0; w < OW; w++) {
              const int64_t iw = cut.sW * w + q - pL;
              out[h * OW + w] = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[ih * W + iw] : 0.0f;
            }
          }
        }
      }
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(spaceToDepthInputPlan, SpaceToDepthInputPlan);

// spaceToDepthWeightsPlan({ outChannels, inChannels, kernelH, kernelW, strideH, strideW }):
// buffers [w plain [O, C, KH, KW], dst plain [O, C*sH*sW, ceil(KH/sH), ceil(KW/sW)]].
Napi::Value SpaceToDepthWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "spaceToDepthWeights";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = 1 << 30;
    int64_t O = f.integer("outChannels", 1, big);
    Cut cut{f.integer("inChannels", 1, big), 0, 0};
    int64_t KH = f.integer("kernelH", 1, big), KW = f.integer("kernelW", 1, big);
    cut.sH = f.integer("strideH", 1, big);
    cut.sW = f.integer("strideW", 1, big);
    const int64_t A = (KH + cut.sH - 1) / cut.sH, B = (KW + cut.sW - 1) / cut.sW;
    auto src = plainDescOf({O, cut.C, KH, KW}), dst = plainDescOf({O, cut.channels(), A, B});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {src, dst};
    plan.custom = [=](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* w = static_cast<const float*>(buffers[0]);
      float* y = static_cast<float*>(buffers[1]);
      for (int64_t o = 0; o < O; o++) {
        for (int64_t k = 0; k < cut.channels(); k++) {
          const int64_t c = k / (cut.sH * cut.sW), r = k / cut.sW % cut.sH, q = k % cut.sW;
          for (int64_t a = 0; a < A; a++) {
            for (int64_t b = 0; b < B; b++) {
              const int64_t kh = cut.sH * a + r, kw = cut.sW * b + q;
              y[((o * cut.channels() + k) * A + a) * B + b] =
                  kh < KH && kw < KW ? w[((o * cut.C + c) * KH + kh) * KW + kw] : 0.0f;
            }
          }
        }
      }
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(spaceToDepthWeightsPlan, SpaceToDepthWeightsPlan);

}  // namespace convkit
