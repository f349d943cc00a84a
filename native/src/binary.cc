// Elementwise add, sub, mul, div plans, and relu(a + b) (addReluPlan, at the end). oneDNN
// broadcasts only its second source: a has the output's dims (any layout, the output keeps it), b
// the same rank with each dim equal or 1.
#include "finite.h"
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

// Plain problems up to this many floats run as a serial loop on the worker: a oneDNN binary opens
// an OpenMP parallel region even for 64 floats, and folding a batch norm into a conv takes three
// such per conv (ResNet-18's first pass: 60). On a busy 2-core host each region waited for both
// threads to be scheduled.
constexpr int64_t kSerialFloats = 1 << 14;

// dst = a op b with b broadcast (row-major; a stride of 0 on b's axes of size 1): one float
// operation per element, correctly rounded like oneDNN's kernel and the reference kernel (whose
// double result, rounded once, is the same value for +, -, * and /).
Napi::Value serialPlan(Napi::Env env, dnnl::algorithm alg, const dnnl::memory::desc& a, const dnnl::memory::desc& b) {
  const dnnl::memory::dims dims = a.dims(), bDims = b.dims();
  const size_t rank = dims.size();
  std::vector<int64_t> bStride(rank, 0);
  for (int64_t i = static_cast<int64_t>(rank) - 1, stride = 1; i >= 0; i--) {
    bStride[i] = bDims[i] == 1 ? 0 : stride;
    stride *= bDims[i];
  }
  const int64_t n = floatsOf(a);
  Plan plan;
  plan.name = "binary";
  plan.args = {0, 1, 2};
  plan.descs = {a, b, a};
  plan.custom = [=](const std::vector<void*>& buffers, const std::vector<double>&) {
    const float* x = static_cast<const float*>(buffers[0]);
    const float* y = static_cast<const float*>(buffers[1]);
    float* z = static_cast<float*>(buffers[2]);
    std::vector<int64_t> index(rank, 0);
    int64_t at = 0;  // b's offset of element i
    for (int64_t i = 0; i < n; i++) {
      const float u = x[i], v = y[at];
      z[i] = alg == dnnl::algorithm::binary_add   ? u + v
             : alg == dnnl::algorithm::binary_sub ? u - v
             : alg == dnnl::algorithm::binary_mul ? u * v
                                                  : u / v;
      for (size_t d = rank; d-- > 0;) {
        at += bStride[d];
        if (++index[d] < dims[d]) break;
        at -= bStride[d] * dims[d];
        index[d] = 0;
      }
    }
  };
  const int aId = internDesc(a), bId = internDesc(b);
  return planResult(env, registerPlan(std::move(plan)), {{"a", aId}, {"b", bId}, {"dst", aId}});
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
    if (floatsOf(a) <= kSerialFloats && a == plainDescOf(aDims) && b == plainDescOf(bDims))
      return serialPlan(info.Env(), alg, a, b);
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

// addReluPlan(desc): buffers [a, b, dst], all in `desc` (any layout): dst = relu(a + b) over every
// physical float (blocked padding lanes hold zeros, and 0 + 0 stays 0). A loop of its own rather
// than a oneDNN binary with a ReLU post-op: oneDNN's ReLU turns NaN into 0 and PyTorch keeps it,
// and a guard would scan both operands, the very pass the fusion saves. The float sum is the
// correctly rounded one, as the add kernel's; `s < 0 ? 0 : s` is the reference ReLU (NaN, -0 kept).
Napi::Value AddReluPlan(const Napi::CallbackInfo& info) {
  const char* op = "addRelu";
  return guardedValue(info, op, [&]() -> Napi::Value {
    dnnl::memory::desc md = descArg(info, 0, op, "desc");
    const int64_t n = floatsOf(md);
    Plan plan;
    plan.name = op;
    plan.args = {0, 1, 2};
    plan.descs = {md, md, md};
    plan.custom = [n](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* a = static_cast<const float*>(buffers[0]);
      const float* b = static_cast<const float*>(buffers[1]);
      float* y = static_cast<float*>(buffers[2]);
#pragma omp parallel for simd if (n > kSerialFloats) schedule(static)
      for (int64_t i = 0; i < n; i++) {
        float s = a[i] + b[i];
        y[i] = s < 0.f ? 0.f : s;
      }
    };
    const int id = internDesc(md);
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"desc", id}});
  });
}
CONVKIT_EXPORT(addReluPlan, AddReluPlan);

}  // namespace convkit
