// Elementwise add, sub, mul, div with the second operand broadcast (oneDNN binary: src0 has the
// output's shape, src1 has the same rank with each dimension equal or 1). Plain row-major memory.
#include "binary.h"

#include "common.h"

namespace convkit {

namespace {

dnnl::algorithm algorithmOf(const Napi::CallbackInfo& info, const std::string& kind) {
  if (kind == "add") return dnnl::algorithm::binary_add;
  if (kind == "sub") return dnnl::algorithm::binary_sub;
  if (kind == "mul") return dnnl::algorithm::binary_mul;
  if (kind == "div") return dnnl::algorithm::binary_div;
  throw Napi::TypeError::New(info.Env(), "binary: unknown op '" + kind + "' (expected add, sub, mul or div)");
}

dnnl::memory::desc rowMajor(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::dims dimsOf(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value v = info[index];
  size_t rank = v.IsArray() ? v.As<Napi::Array>().Length() : 0;
  if (rank < 1 || rank > DNNL_MAX_NDIMS) {
    throw Napi::TypeError::New(info.Env(), std::string("binary: argument '") + name + "' must be an array of 1 to " + std::to_string(DNNL_MAX_NDIMS) + " sizes");
  }
  auto dims = ints(info, index, rank, "binary", name);
  for (auto d : dims) {
    if (d < 1) throw Napi::RangeError::New(info.Env(), std::string("binary: argument '") + name + "' has an empty dimension");
  }
  return dims;
}

int64_t product(const dnnl::memory::dims& dims) {
  int64_t p = 1;
  for (auto d : dims) p *= d;
  return p;
}

}  // namespace

// binary(kind, a, b, c, outDims, bDims): a and c have outDims, b has bDims (same rank, each 1 or equal).
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const char* op = "binary";
  return guarded(info, op, [&] {
    std::string kind = text(info, 0, op, "kind");
    auto alg = algorithmOf(info, kind);
    auto outDims = dimsOf(info, 4, "outDims");
    auto bDims = dimsOf(info, 5, "bDims");
    if (bDims.size() != outDims.size()) throw Napi::RangeError::New(info.Env(), "binary: bDims must have the rank of outDims");
    for (size_t i = 0; i < outDims.size(); i++) {
      if (bDims[i] != outDims[i] && bDims[i] != 1) throw Napi::RangeError::New(info.Env(), "binary: bDims must equal outDims or be 1 on every axis");
    }
    float* a = floats(info, 1, product(outDims), op, "a");
    float* b = floats(info, 2, product(bDims), op, "b");
    float* c = floats(info, 3, product(outDims), op, "c");
    auto outMd = rowMajor(outDims);
    auto bMd = rowMajor(bDims);
    std::vector<int64_t> key(outDims.begin(), outDims.end());
    key.insert(key.end(), bDims.begin(), bDims.end());
    const auto& p = cached(keyOf(("binary_" + kind).c_str(), key), [&] {
      dnnl::binary::desc d(alg, outMd, bMd, outMd);
      dnnl::binary::primitive_desc pd(d, userScratchpadAttr(), cpuEngine());
      return CachedPrimitive{dnnl::binary(pd), pd.scratchpad_desc(), {}};
    });
    execute(p, {{DNNL_ARG_SRC_0, dnnl::memory(outMd, cpuEngine(), a)},
                {DNNL_ARG_SRC_1, dnnl::memory(bMd, cpuEngine(), b)},
                {DNNL_ARG_DST, dnnl::memory(outMd, cpuEngine(), c)}});
  });
}

}  // namespace convkit
