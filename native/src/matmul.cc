// Batched matrix product plans (dnnl::matmul) over plain buffers. Transposed operands are
// described by strides, and an operand shared by every batch has batch dimension 1 (oneDNN
// broadcasts it), so nothing is copied.
#include "plan.h"

namespace convkit {

using dims = dnnl::memory::dims;

namespace {

// A [rows x cols] matrix (per batch) stored row-major, or column-major when transposed.
dnnl::memory::desc matrixDesc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  if (!transposed) return plainDescOf({batch, rows, cols});
  return dnnl::memory::desc({batch, rows, cols}, dnnl::memory::data_type::f32, dims{rows * cols, 1, rows});
}

// matmulPlan([batch, m, k, n, transA, transB, aBatched, bBatched]) -> { plan, a, b, c }
Napi::Value MatmulPlan(const Napi::CallbackInfo& info) {
  const char* op = "matmul";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto raw = ints(info, 0, 8, op, "sizes");
    int64_t batch = raw[0], m = raw[1], k = raw[2], n = raw[3];
    if (batch < 1 || m < 1 || k < 1 || n < 1) throw Napi::RangeError::New(info.Env(), "matmul: argument 'sizes': batch, m, k and n must be positive");
    for (size_t i = 4; i < 8; i++) {
      if (raw[i] > 1) throw Napi::RangeError::New(info.Env(), "matmul: argument 'sizes': flags (entries 4 to 7) must be 0 or 1");
    }
    bool transA = raw[4] != 0, transB = raw[5] != 0, aBatched = raw[6] != 0, bBatched = raw[7] != 0;
    auto aMd = matrixDesc(aBatched ? batch : 1, m, k, transA);
    auto bMd = matrixDesc(bBatched ? batch : 1, k, n, transB);
    auto cMd = matrixDesc(batch, m, n, false);
    dnnl::matmul::desc d(aMd, bMd, cMd);
    dnnl::matmul::primitive_desc pd(d, planAttr(), cpuEngine());
    return PlanBuilder(op).arg(DNNL_ARG_SRC, aMd, "a").arg(DNNL_ARG_WEIGHTS, bMd, "b").arg(DNNL_ARG_DST, cMd, "c").finish(info.Env(), dnnl::matmul(pd), pd.scratchpad_desc());
  });
}

}  // namespace

void initMatmul(Napi::Env env, Napi::Object exports) { exports.Set("matmulPlan", Napi::Function::New(env, MatmulPlan)); }

}  // namespace convkit
