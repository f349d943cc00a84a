// The addon's exports for memory descriptors (plain ones, reshaped views, their dims and sizes)
// and the reorders between two layouts, with or without a per-output-channel scale. The registry
// they intern descriptors and register plans in is plan.cc's.
#include <optional>

#include "plan.h"

namespace convkit {

Napi::Value PlainDesc(const Napi::CallbackInfo& info) {
  return guardedValue(info, "plainDesc", [&]() -> Napi::Value {
    auto dims = intArray(info, 0, "plainDesc", "dims");
    if (dims.empty() || dims.size() > DNNL_MAX_NDIMS) {
      throw Napi::RangeError::New(
          info.Env(), "plainDesc: argument 'dims' must have 1 to " + std::to_string(DNNL_MAX_NDIMS) + " entries");
    }
    return Napi::Number::New(info.Env(), internDesc(plainDescOf(dims)));
  });
}
CONVKIT_EXPORT(plainDesc, PlainDesc);

// reshapedDesc(id, dims) -> the id of the same memory seen over `dims` (oneDNN's reshape: dims
// merged or split where nothing is blocked, e.g. nChw16c over [N, C, H*W, 1] and over [N, C, H, W]),
// or -1 where no such view exists. The runtime then hands a buffer over without a copy.
Napi::Value ReshapedDesc(const Napi::CallbackInfo& info) {
  return guardedValue(info, "reshapedDesc", [&]() -> Napi::Value {
    const dnnl::memory::desc& md = descArg(info, 0, "reshapedDesc", "id");
    auto dims = intArray(info, 1, "reshapedDesc", "dims");
    try {
      return Napi::Number::New(info.Env(), internDesc(md.reshape(dims)));
    } catch (const dnnl::error&) {
      return Napi::Number::New(info.Env(), -1);
    }
  });
}
CONVKIT_EXPORT(reshapedDesc, ReshapedDesc);

Napi::Value DescInfo(const Napi::CallbackInfo& info) {
  return guardedValue(info, "descInfo", [&]() -> Napi::Value {
    dnnl::memory::desc md = descArg(info, 0, "descInfo", "id");
    auto dims = md.dims();
    Napi::Array jsDims = Napi::Array::New(info.Env(), dims.size());
    for (size_t i = 0; i < dims.size(); i++)
      jsDims.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(dims[i])));
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("dims", jsDims);
    out.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(md.get_size())));
    out.Set("plain", Napi::Boolean::New(info.Env(), md == plainDescOf(dims)));
    return out;
  });
}
CONVKIT_EXPORT(descInfo, DescInfo);

namespace {

// A reorder's descriptor, or none where oneDNN has no reorder between the two layouts: into its
// Winograd weight layout it reorders only from plain ones, without scales. The runtime then goes
// through plain (runtime.ts).
std::optional<dnnl::reorder::primitive_desc> reorderDescOf(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                           const dnnl::primitive_attr& attr) {
  try {
    return dnnl::reorder::primitive_desc(cpuEngine(), src, cpuEngine(), dst, attr);
  } catch (const dnnl::error& e) {
    if (e.status != dnnl_unimplemented) throw;
    return std::nullopt;
  }
}

}  // namespace

// reorderPlan(src, dst) -> plan id: buffers [src, dst]; -1 where oneDNN has no such reorder.
Napi::Value ReorderPlan(const Napi::CallbackInfo& info) {
  const char* op = "reorderPlan";
  return guardedValue(info, op, [&]() -> Napi::Value {
    dnnl::memory::desc src = descArg(info, 0, op, "src");
    dnnl::memory::desc dst = descArg(info, 1, op, "dst");
    if (src.dims() != dst.dims())
      throw Napi::RangeError::New(info.Env(), "reorderPlan: src and dst descs have different dims");
    auto pd = reorderDescOf(src, dst, planAttr());
    if (!pd) return Napi::Number::New(info.Env(), -1);
    Plan plan;
    plan.name = "reorder";
    plan.args = {DNNL_ARG_FROM, DNNL_ARG_TO};
    plan.descs = {src, dst};
    plan.scratchpad = pd->scratchpad_desc();
    plan.primitive = LazyPrimitive([pd = *pd] { return dnnl::reorder(pd); });
    return Napi::Number::New(info.Env(), registerPlan(std::move(plan)));
  });
}
CONVKIT_EXPORT(reorderPlan, ReorderPlan);

// scaledReorderPlan(src, dst) -> plan id (-1 where oneDNN has no such reorder): buffers [src, dst, scales], dst = src *
// scales[i] for the elements of index i along the first dim (a conv weight's output channel), rounded once as a float
// product: a batch norm folded into conv weights straight into the conv's layout (fold-batch-norm.ts), with no plain
// copy of the folded weights between.
Napi::Value ScaledReorderPlan(const Napi::CallbackInfo& info) {
  const char* op = "scaledReorderPlan";
  return guardedValue(info, op, [&]() -> Napi::Value {
    dnnl::memory::desc src = descArg(info, 0, op, "src");
    dnnl::memory::desc dst = descArg(info, 1, op, "dst");
    if (src.dims() != dst.dims() || src.dims().empty())
      throw Napi::RangeError::New(info.Env(), "scaledReorderPlan: src and dst descs must have the same dims");
    dnnl::primitive_attr attr = planAttr();
    attr.set_output_scales(1, {DNNL_RUNTIME_F32_VAL});  // mask 1: one scale per index of dim 0
    auto pd = reorderDescOf(src, dst, attr);
    if (!pd) return Napi::Number::New(info.Env(), -1);
    Plan plan;
    plan.name = "reorder";
    plan.args = {DNNL_ARG_FROM, DNNL_ARG_TO, DNNL_ARG_ATTR_OUTPUT_SCALES};
    plan.descs = {src, dst, plainDescOf({src.dims()[0]})};
    plan.scratchpad = pd->scratchpad_desc();
    plan.primitive = LazyPrimitive([pd = *pd] { return dnnl::reorder(pd); });
    return Napi::Number::New(info.Env(), registerPlan(std::move(plan)));
  });
}
CONVKIT_EXPORT(scaledReorderPlan, ScaledReorderPlan);

}  // namespace convkit
