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

// spaceToDepthInputPlan([N, C, H, W, sH, sW, padTop, padLeft, outH, outW]): buffers [x plain
// [N, C, H, W], dst plain [N, C*sH*sW, outH, outW]].
Napi::Value SpaceToDepthInputPlan(const Napi::CallbackInfo& info) {
  const char* op = "spaceToDepth";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto v = ints(info, 0, 10, op, "sizes");
    int64_t N = v[0], H = v[2], W = v[3], pT = v[6], pL = v[7], OH = v[8], OW = v[9];
    Cut cut{v[1], v[4], v[5]};
    for (int64_t d : {N, cut.C, H, W, cut.sH, cut.sW, OH, OW}) {
      if (d < 1) throw Napi::RangeError::New(info.Env(), "spaceToDepth: sizes and strides must be positive");
    }
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

// spaceToDepthWeightsPlan([O, C, KH, KW, sH, sW]): buffers [w plain [O, C, KH, KW], dst plain
// [O, C*sH*sW, ceil(KH/sH), ceil(KW/sW)]].
Napi::Value SpaceToDepthWeightsPlan(const Napi::CallbackInfo& info) {
  const char* op = "spaceToDepthWeights";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto v = ints(info, 0, 6, op, "sizes");
    int64_t O = v[0], KH = v[2], KW = v[3];
    Cut cut{v[1], v[4], v[5]};
    for (int64_t d : {O, cut.C, KH, KW, cut.sH, cut.sW}) {
      if (d < 1) throw Napi::RangeError::New(info.Env(), "spaceToDepthWeights: sizes and strides must be positive");
    }
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

}  // namespace convkit
