// Batched matrix product with dnnl::matmul. Transposed operands are described by strides, and an
// operand shared by every batch has batch dimension 1 (oneDNN broadcasts it), so nothing is copied.
#include "matmul.h"

#include "common.h"

namespace convkit {

using dims = dnnl::memory::dims;

namespace {

// A [rows x cols] matrix (per batch) stored row-major, or column-major when transposed.
dnnl::memory::desc matrixDesc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  dims strides = transposed ? dims{rows * cols, 1, rows} : dims{rows * cols, cols, 1};
  return dnnl::memory::desc({batch, rows, cols}, dnnl::memory::data_type::f32, strides);
}

}  // namespace

// matmul(a, b, c, [batch, m, k, n, transA, transB, aBatched, bBatched])
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  const char* op = "matmul";
  return guarded(info, op, [&] {
    auto raw = ints(info, 3, 8, op, "sizes");
    int64_t batch = raw[0], m = raw[1], k = raw[2], n = raw[3];
    bool transA = raw[4] != 0, transB = raw[5] != 0, aBatched = raw[6] != 0, bBatched = raw[7] != 0;
    if (batch < 1 || m < 1 || k < 1 || n < 1) throw Napi::RangeError::New(info.Env(), "matmul: sizes must be positive");
    int64_t aBatch = aBatched ? batch : 1, bBatch = bBatched ? batch : 1;
    float* a = floats(info, 0, aBatch * m * k, op, "a");
    float* b = floats(info, 1, bBatch * k * n, op, "b");
    float* c = floats(info, 2, batch * m * n, op, "c");
    auto aMd = matrixDesc(aBatch, m, k, transA);
    auto bMd = matrixDesc(bBatch, k, n, transB);
    auto cMd = matrixDesc(batch, m, n, false);
    const auto& p = cached(keyOf("matmul", raw), [&] {
      dnnl::matmul::desc d(aMd, bMd, cMd);
      dnnl::matmul::primitive_desc pd(d, userScratchpadAttr(), cpuEngine());
      return CachedPrimitive{dnnl::matmul(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_SRC, dnnl::memory(aMd, cpuEngine(), a)},
                {DNNL_ARG_WEIGHTS, dnnl::memory(bMd, cpuEngine(), b)},
                {DNNL_ARG_DST, dnnl::memory(cMd, cpuEngine(), c)}});
  });
}

}  // namespace convkit
