// Concatenation plans: sources in any layouts (plain, or blocked conv outputs joined along
// channels), the destination's layout chosen by oneDNN (blocked when the sources are and the
// channel offsets allow it, else plain).
#include "plan.h"

namespace convkit {

namespace {

// concatPlan(axis, srcs): buffers [src0, ..., srcN-1, dst]
Napi::Value ConcatPlan(const Napi::CallbackInfo& info) {
  const char* op = "concat";
  return guardedValue(info, op, [&]() -> Napi::Value {
    int64_t axis = integer(info, 0, op, "axis");
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0) {
      throw Napi::TypeError::New(info.Env(), "concat: argument 'srcs' must be a non-empty array of desc ids");
    }
    auto ids = intArray(info, 1, op, "srcs");
    std::vector<dnnl::memory::desc> srcs;
    for (auto id : ids) srcs.push_back(descOf(static_cast<int>(id), "argument 'srcs'"));
    auto first = srcs[0].dims();
    if (axis >= static_cast<int64_t>(first.size())) throw Napi::RangeError::New(info.Env(), "concat: axis is out of range");
    for (const auto& s : srcs) {
      auto d = s.dims();
      bool same = d.size() == first.size();
      for (size_t i = 0; same && i < d.size(); i++) same = static_cast<int64_t>(i) == axis || d[i] == first[i];
      if (!same) throw Napi::RangeError::New(info.Env(), "concat: sources differ outside the concatenation axis");
    }
    dnnl::concat::primitive_desc pd(static_cast<int>(axis), srcs, cpuEngine(), planAttr());
    Plan plan;
    plan.name = op;
    for (size_t i = 0; i < srcs.size(); i++) {
      plan.args.push_back(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i));
      plan.descs.push_back(srcs[i]);
    }
    plan.args.push_back(DNNL_ARG_DST);
    plan.descs.push_back(pd.dst_desc());
    plan.scratchpad = pd.scratchpad_desc();
    plan.primitive = dnnl::concat(pd);
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(pd.dst_desc())}});
  });
}

}  // namespace

void initConcat(Napi::Env env, Napi::Object exports) {
  exports.Set("concatPlan", Napi::Function::New(env, ConcatPlan));
}

}  // namespace convkit
