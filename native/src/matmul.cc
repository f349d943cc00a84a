// Batched matrix product plans (dnnl::matmul) over plain buffers. Transposed operands are
// described by strides, and an operand shared by every batch has batch dimension 1 (oneDNN
// broadcasts it), so nothing is copied. nn.Linear's forward is an inner product instead: its
// weights in oneDNN's blocked layout run a batch of 8 about 1.6x faster than the matmul (in
// inference; training reads them as stored, see LinearPlan), and the bias comes as part of it
// (the ReLU as a pass of our own).
#include "finite.h"
#include "plan.h"

namespace convkit {

using dims = dnnl::memory::dims;

namespace {

// A [rows x cols] matrix (per batch) stored row-major, or column-major when transposed.
dnnl::memory::desc matrixDesc(int64_t batch, int64_t rows, int64_t cols, bool transposed) {
  if (!transposed) return plainDescOf({batch, rows, cols});
  return dnnl::memory::desc({batch, rows, cols}, dnnl::memory::data_type::f32, dims{rows * cols, 1, rows});
}

}  // namespace

// matmulPlan({ batch, m, k, n, transA, transB, aBatched, bBatched }) -> { plan, a, b, c }
Napi::Value MatmulPlan(const Napi::CallbackInfo& info) {
  const char* op = "matmul";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = int64_t{1} << 40;
    int64_t batch = f.integer("batch", 1, big), m = f.integer("m", 1, big), k = f.integer("k", 1, big),
            n = f.integer("n", 1, big);
    bool transA = f.flag("transA"), transB = f.flag("transB"), aBatched = f.flag("aBatched"),
         bBatched = f.flag("bBatched");
    auto aMd = matrixDesc(aBatched ? batch : 1, m, k, transA);
    auto bMd = matrixDesc(bBatched ? batch : 1, k, n, transB);
    auto cMd = matrixDesc(batch, m, n, false);
    dnnl::matmul::desc d(aMd, bMd, cMd);
    dnnl::matmul::primitive_desc pd(d, planAttr(), cpuEngine());
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC, aMd, "a")
        .arg(DNNL_ARG_WEIGHTS, bMd, "b")
        .arg(DNNL_ARG_DST, cMd, "c")
        .finish(info.Env(), dnnl::matmul(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(matmulPlan, MatmulPlan);

// linearPlan({ rows, inFeatures, outFeatures, bias, relu, plainWeights }) -> { plan, src, weights, (bias), dst }:
// dst = relu?(src W^T + bias), src and dst plain, weights [out, in] in the layout oneDNN chooses, or as stored with
// plainWeights (in training: weights that change at every step would be converted at every step, and for ResNet-50's
// fc at batch 8 that conversion took ten times the product).
Napi::Value LinearPlan(const Napi::CallbackInfo& info) {
  const char* op = "linear";
  return guardedValue(info, op, [&]() -> Napi::Value {
    Fields f(info, 0, op, "sizes");
    const int64_t big = int64_t{1} << 40;
    int64_t rows = f.integer("rows", 1, big), in = f.integer("inFeatures", 1, big),
            out = f.integer("outFeatures", 1, big);
    bool bias = f.flag("bias"), relu = f.flag("relu"), plainWeights = f.flag("plainWeights");
    auto srcMd = plainDescOf({rows, in}), dstMd = plainDescOf({rows, out});
    dnnl::memory::desc weightsMd =
        plainWeights ? plainDescOf({out, in})
                     : dnnl::memory::desc({out, in}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
    dnnl::memory::desc biasMd = bias ? plainDescOf({out}) : dnnl::memory::desc();
    dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, srcMd, weightsMd, biasMd, dstMd);
    // No ReLU post-op: oneDNN's is max(y, 0), which maps NaN to 0. The ReLU is a pass of our own
    // over dst (rows x out floats), which keeps NaN and costs far less than the product, or than
    // scanning the weights for NaN would.
    dnnl::inner_product_forward::primitive_desc pd(d, planAttr(), cpuEngine());
    PlanBuilder plan(op);
    plan.arg(DNNL_ARG_SRC, pd.src_desc(), "src").arg(DNNL_ARG_WEIGHTS, pd.weights_desc(), "weights");
    if (bias) plan.arg(DNNL_ARG_BIAS, pd.bias_desc(), "bias");
    plan.arg(DNNL_ARG_DST, pd.dst_desc(), "dst");
    dnnl::memory::desc scratchpad = pd.scratchpad_desc();
    if (relu) {
      const int64_t dstN = rows * out;
      const size_t dstAt = bias ? 3 : 2;
      NonFiniteGuard guard;
      guard.check = [](const std::vector<void*>&, FiniteMemo*) { return true; };
      guard.fix = [dstAt, dstN](const std::vector<void*>& buffers) {
        reluKeepingNaN(static_cast<float*>(buffers[dstAt]), dstN);
      };
      plan.guard(std::move(guard));
    }
    return plan.finish(info.Env(), dnnl::inner_product_forward(pd), scratchpad);
  });
}
CONVKIT_EXPORT(linearPlan, LinearPlan);

}  // namespace convkit
