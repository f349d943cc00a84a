// Concatenation plans: sources in any layouts (plain, or blocked conv outputs joined along
// channels), the destination's layout chosen by oneDNN (blocked when the sources are and the
// channel offsets allow it, else plain).
#include "plan.h"

#include <cstring>

namespace convkit {

namespace {

using tag = dnnl::memory::format_tag;

// Channel concatenation of layouts where, within one image, channels (or channel blocks) are
// outermost: plain nchw, and nChw8c/nChw16c with channel counts that fill whole blocks. Then the
// destination image is the sources' images one after another, so a copy per (image, source) does
// it. oneDNN's concat runs a reorder per source instead, several times slower for DenseNet's
// many-input joins.
bool chunkedFormat(const std::vector<dnnl::memory::desc>& srcs, int64_t axis, tag& found) {
  if (axis != 1 || srcs[0].dims().size() != 4) return false;
  for (auto [t, block] : {std::pair{tag::nchw, 1}, std::pair{tag::nChw8c, 8}, std::pair{tag::nChw16c, 16}}) {
    bool all = true;
    for (const auto& s : srcs) all = all && s.dims()[1] % block == 0 && s == dnnl::memory::desc(s.dims(), dnnl::memory::data_type::f32, t);
    if (all) {
      found = t;
      return true;
    }
  }
  return false;
}

Plan chunkedConcat(const std::vector<dnnl::memory::desc>& srcs, tag format, dnnl::memory::desc& dst) {
  auto dims = srcs[0].dims();
  dims[1] = 0;
  std::vector<int64_t> chunks;  // floats per image of each source
  for (const auto& s : srcs) {
    dims[1] += s.dims()[1];
    chunks.push_back(static_cast<int64_t>(s.get_size() / sizeof(float)) / s.dims()[0]);
  }
  dst = dnnl::memory::desc(dims, dnnl::memory::data_type::f32, format);
  Plan plan;
  plan.name = "concat";
  for (size_t i = 0; i < srcs.size(); i++) {
    plan.args.push_back(static_cast<int>(i));
    plan.descs.push_back(srcs[i]);
  }
  plan.args.push_back(static_cast<int>(srcs.size()));
  plan.descs.push_back(dst);
  std::vector<int64_t> offsets(chunks.size(), 0);
  for (size_t i = 1; i < chunks.size(); i++) offsets[i] = offsets[i - 1] + chunks[i - 1];
  const int64_t images = dims[0], perImage = offsets.back() + chunks.back(), count = static_cast<int64_t>(chunks.size());
  plan.custom = [chunks, offsets, images, perImage, count](const std::vector<void*>& buffers, const std::vector<double>&) {
    float* out = static_cast<float*>(buffers[count]);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < images; n++) {
      for (int64_t i = 0; i < count; i++) {
        std::memcpy(out + n * perImage + offsets[i], static_cast<const float*>(buffers[i]) + n * chunks[i], chunks[i] * sizeof(float));
      }
    }
  };
  return plan;
}

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
    tag format;
    if (chunkedFormat(srcs, axis, format)) {
      dnnl::memory::desc dst;
      Plan plan = chunkedConcat(srcs, format, dst);
      return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
    }
    dnnl::concat::primitive_desc pd(static_cast<int>(axis), srcs, cpuEngine(), planAttr());
    PlanBuilder plan(op);
    for (size_t i = 0; i < srcs.size(); i++) plan.arg(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i], nullptr);
    return plan.arg(DNNL_ARG_DST, pd.dst_desc(), "dst").finish(info.Env(), dnnl::concat(pd), pd.scratchpad_desc());
  });
}

}  // namespace

void initConcat(Napi::Env env, Napi::Object exports) {
  exports.Set("concatPlan", Napi::Function::New(env, ConcatPlan));
}

}  // namespace convkit
