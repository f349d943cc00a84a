// Elementwise add, sub, mul, div plans. oneDNN broadcasts only its second source: a has the
// output's dims (any layout, the output keeps it), b the same rank with each dim equal or 1.
#include "plan.h"

namespace convkit {

namespace {

dnnl::algorithm algorithmOf(const Napi::CallbackInfo& info, const std::string& kind) {
  if (kind == "add") return dnnl::algorithm::binary_add;
  if (kind == "sub") return dnnl::algorithm::binary_sub;
  if (kind == "mul") return dnnl::algorithm::binary_mul;
  if (kind == "div") return dnnl::algorithm::binary_div;
  throw Napi::TypeError::New(info.Env(), "binary: unknown op '" + kind + "' (expected add, sub, mul or div)");
}

}  // namespace

// binaryPlan(kind, a, b): buffers [a, b, dst]
Napi::Value BinaryPlan(const Napi::CallbackInfo& info) {
  const char* op = "binary";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto alg = algorithmOf(info, text(info, 0, op, "kind"));
    dnnl::memory::desc a = descArg(info, 1, op, "a");
    dnnl::memory::desc b = descArg(info, 2, op, "b");
    auto aDims = a.dims();
    auto bDims = b.dims();
    if (aDims.size() != bDims.size()) throw Napi::RangeError::New(info.Env(), "binary: b must have the rank of a");
    for (size_t i = 0; i < aDims.size(); i++) {
      if (bDims[i] != aDims[i] && bDims[i] != 1)
        throw Napi::RangeError::New(info.Env(), "binary: every dim of b must equal a's or be 1");
    }
    dnnl::binary::desc d(alg, a, b, a);
    dnnl::binary::primitive_desc pd(d, planAttr(), cpuEngine());
    return PlanBuilder(op)
        .arg(DNNL_ARG_SRC_0, a, "a")
        .arg(DNNL_ARG_SRC_1, b, "b")
        .arg(DNNL_ARG_DST, a, "dst")
        .finish(info.Env(), dnnl::binary(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(binaryPlan, BinaryPlan);

}  // namespace convkit
