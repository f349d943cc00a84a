// Concatenation plans: sources in any layouts (plain, or blocked conv outputs joined along
// channels). Sources that share a layout whose chunks line up are copied chunk by chunk; blocked
// sources with padded blocks (DenseNet-BC's 24 + 12k channels) join into a padded blocked map
// (blocked_channels.h); anything else goes to oneDNN's concat, which picks the destination's layout. Also DenseNet's
// inference join: the concatenation, batch normalised and ReLU'd in one pass, so the joined map is written once and
// never read back.
#include "plan.h"

#include "blocked_channels.h"

#include <cmath>
#include <cstring>

namespace convkit {

namespace {

using tag = dnnl::memory::format_tag;

// Channel concatenation of layouts where the destination is the sources' chunks one after
// another for each outer unit: per image for plain nchw and for nChw8c/nChw16c with channel counts
// that fill whole blocks; per pixel for nhwc (what oneDNN 2.6's AVX-512 convolutions produce). A
// copy per (unit, source) does it; oneDNN's concat runs a reorder per source instead, several
// times slower for DenseNet's many-input joins.
struct Chunking {
  tag format;
  int64_t block;      // channels per innermost block (1 for nchw; nhwc: all channels of a pixel)
  bool channelsLast;  // nhwc: the outer unit is a pixel, not an image
};

bool chunkedFormat(const std::vector<dnnl::memory::desc>& srcs, int64_t axis, Chunking& found) {
  if (axis != 1 || srcs[0].dims().size() != 4) return false;
  for (Chunking c : {Chunking{tag::nchw, 1, false}, Chunking{tag::nChw8c, 8, false}, Chunking{tag::nChw16c, 16, false},
                     Chunking{tag::nhwc, 1, true}}) {
    bool all = true;
    for (const auto& s : srcs)
      all = all && s.dims()[1] % c.block == 0 &&
            s == dnnl::memory::desc(s.dims(), dnnl::memory::data_type::f32, c.format);
    if (all) {
      found = c;
      return true;
    }
  }
  return false;
}

int64_t outerUnits(const dnnl::memory::dims& d, const Chunking& c) {
  return c.channelsLast ? d[0] * d[2] * d[3] : d[0];
}

Plan chunkedConcat(const std::vector<dnnl::memory::desc>& srcs, const Chunking& chunking, dnnl::memory::desc& dst) {
  auto dims = srcs[0].dims();
  dims[1] = 0;
  for (const auto& s : srcs) dims[1] += s.dims()[1];
  const int64_t units = outerUnits(dims, chunking);
  std::vector<int64_t> chunks;  // floats per outer unit of each source
  for (const auto& s : srcs) chunks.push_back(static_cast<int64_t>(s.get_size() / sizeof(float)) / units);
  dst = dnnl::memory::desc(dims, dnnl::memory::data_type::f32, chunking.format);
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
  const int64_t perUnit = offsets.back() + chunks.back(), count = static_cast<int64_t>(chunks.size());
  plan.custom = [chunks, offsets, units, perUnit, count](const std::vector<void*>& buffers,
                                                         const std::vector<double>&) {
    float* out = static_cast<float*>(buffers[count]);
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < units; n++) {
      for (int64_t i = 0; i < count; i++) {
        std::memcpy(out + n * perUnit + offsets[i], static_cast<const float*>(buffers[i]) + n * chunks[i],
                    chunks[i] * sizeof(float));
      }
    }
  };
  return plan;
}

// The block of sources that are all nChw8c or all nChw16c with channel counts that leave padded
// blocks (whole blocks are chunked above), or 0.
int64_t paddedBlock(const std::vector<dnnl::memory::desc>& srcs, int64_t axis) {
  if (axis != 1 || srcs[0].dims().size() != 4) return 0;
  for (auto [format, block] : {std::pair{tag::nChw8c, int64_t{8}}, std::pair{tag::nChw16c, int64_t{16}}}) {
    bool all = true;
    for (const auto& s : srcs) all = all && s == dnnl::memory::desc(s.dims(), dnnl::memory::data_type::f32, format);
    if (all) return block;
  }
  return 0;
}

// The channel concatenation of padded blocked maps into a padded blocked map of the same block.
Plan paddedConcat(const std::vector<dnnl::memory::desc>& srcs, int64_t block, dnnl::memory::desc& dst) {
  auto dims = srcs[0].dims();
  std::vector<int64_t> channels, offsets;
  dims[1] = 0;
  for (const auto& s : srcs) {
    offsets.push_back(dims[1]);
    channels.push_back(s.dims()[1]);
    dims[1] += s.dims()[1];
  }
  dst = dnnl::memory::desc(dims, dnnl::memory::data_type::f32, block == 16 ? tag::nChw16c : tag::nChw8c);
  BlockedCopy copy = planBlockedCopy(block, dims[0], dims[2] * dims[3], dims[1], channels, [&](int64_t c) {
    int source = static_cast<int>(offsets.size()) - 1;
    while (offsets[source] > c) source--;
    return ChannelOrigin{source, c - offsets[source], 0.0f};
  });
  Plan plan;
  plan.name = "concat";
  for (size_t i = 0; i <= srcs.size(); i++) {
    plan.args.push_back(static_cast<int>(i));
    plan.descs.push_back(i < srcs.size() ? srcs[i] : dst);
  }
  const size_t count = srcs.size();
  plan.custom = [copy, count](const std::vector<void*>& buffers, const std::vector<double>&) {
    std::vector<const float*> sources(count);
    for (size_t i = 0; i < count; i++) sources[i] = static_cast<const float*>(buffers[i]);
    runBlockedCopy(copy, sources, static_cast<float*>(buffers[count]));
  };
  return plan;
}

// The join's batch norm, y = relu?((x - mean) * scale + beta) with scale = gamma / sqrt(var + eps),
// 8 lanes at a time in GCC's vector types: GCC kept the plain loop scalar (its ReLU select is
// control flow under -ftrapping-math), and DenseNet-121's joins ran at 2-7 GB/s on a host whose
// memory streams 20. The ReLU keeps NaN, as PyTorch's (v > 0 ? v : 0 turned a NaN input into 0).
// `check` gathers v - v: 0 while every value is finite, NaN after a NaN or an infinity.
typedef float Floats8 __attribute__((vector_size(8 * sizeof(float))));

inline Floats8 load8(const float* p) {
  Floats8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <bool Relu>
inline Floats8 normalize8(Floats8 x, Floats8 mean, Floats8 scale, Floats8 shift, Floats8& check) {
  Floats8 v = (x - mean) * scale + shift;
  if (Relu) v = v < Floats8{} ? Floats8{} : v;
  check += v - v;
  return v;
}

template <bool Relu>
inline float normalize1(float x, float mean, float scale, float shift, float& check) {
  float v = (x - mean) * scale + shift;
  if (Relu) v = v < 0.0f ? 0.0f : v;
  check += v - v;
  return v;
}

inline bool allFinite(Floats8 check, float tail) {
  int bad = tail != 0.0f;
  for (int j = 0; j < 8; j++) bad |= check[j] != 0.0f;
  return bad == 0;
}

// `pixels` pixels of one block of B channels (nChw8c, nChw16c), the block's constants in
// registers. Returns whether every value written is finite.
template <int B, bool Relu>
bool normalizeBlock(const float* x, float* y, int64_t pixels, const float* mean, const float* scale,
                    const float* shift) {
  constexpr int kVectors = B / 8;
  Floats8 m[kVectors], s[kVectors], b[kVectors], check{};
  for (int k = 0; k < kVectors; k++) {
    m[k] = load8(mean + 8 * k);
    s[k] = load8(scale + 8 * k);
    b[k] = load8(shift + 8 * k);
  }
  for (int64_t p = 0; p < pixels; p++) {
    for (int k = 0; k < kVectors; k++) {
      const Floats8 v = normalize8<Relu>(load8(x + p * B + 8 * k), m[k], s[k], b[k], check);
      std::memcpy(y + p * B + 8 * k, &v, sizeof v);
    }
  }
  return allFinite(check, 0.0f);
}

// `count` consecutive channels (a pixel of nhwc: stride 1 in x, y and the constants), or with
// OneChannel `count` values of one channel (nchw). Returns whether every value written is finite.
template <bool OneChannel, bool Relu>
bool normalizeRun(const float* x, float* y, int64_t count, const float* mean, const float* scale, const float* shift) {
  const auto constants = [](const float* of, int64_t j) { return OneChannel ? Floats8{} + of[0] : load8(of + j); };
  Floats8 check{};
  float tail = 0.0f;
  int64_t j = 0;
  for (; j + 8 <= count; j += 8) {
    const Floats8 v =
        normalize8<Relu>(load8(x + j), constants(mean, j), constants(scale, j), constants(shift, j), check);
    std::memcpy(y + j, &v, sizeof v);
  }
  for (const int64_t stride = OneChannel ? 0 : 1; j < count; j++)
    y[j] = normalize1<Relu>(x[j], mean[j * stride], scale[j * stride], shift[j * stride], tail);
  return allFinite(check, tail);
}

// The ReLU flag as a template argument.
template <int B>
bool normalizeBlock(const float* x, float* y, int64_t pixels, const float* mean, const float* scale, const float* shift,
                    bool relu) {
  return relu ? normalizeBlock<B, true>(x, y, pixels, mean, scale, shift)
              : normalizeBlock<B, false>(x, y, pixels, mean, scale, shift);
}

template <bool OneChannel>
bool normalizeRun(const float* x, float* y, int64_t count, const float* mean, const float* scale, const float* shift,
                  bool relu) {
  return relu ? normalizeRun<OneChannel, true>(x, y, count, mean, scale, shift)
              : normalizeRun<OneChannel, false>(x, y, count, mean, scale, shift);
}

// The chunked concatenation, batch normalised channel by channel as oneDNN's batch norm does it.
Plan chunkedConcatBatchNorm(const std::vector<dnnl::memory::desc>& srcs, const Chunking& chunking, bool affine,
                            bool relu, float eps, dnnl::memory::desc& dst) {
  Plan plan = chunkedConcat(srcs, chunking, dst);
  plan.name = "concatBatchNorm";
  const auto dims = dst.dims();
  const int64_t count = static_cast<int64_t>(srcs.size()), channels = dims[1], images = dims[0],
                spatial = dims[2] * dims[3];
  const int64_t block = chunking.block;
  const bool channelsLast = chunking.channelsLast;
  // The concatenation's buffer order stays ([srcs..., dst]); the statistics come after it.
  int next = static_cast<int>(count) + 1;
  for (int i = 0; i < (affine ? 4 : 2); i++) {
    plan.args.push_back(next++);
    plan.descs.push_back(plainDescOf({channels}));
  }
  // Per channel block of the destination (nchw: per channel): its source and its block there.
  std::vector<int64_t> sourceOf, blockInSource, sourceChannels, firstChannel;
  for (int64_t i = 0; i < count; i++) {
    sourceChannels.push_back(srcs[i].dims()[1]);
    firstChannel.push_back(i == 0 ? 0 : firstChannel[i - 1] + sourceChannels[i - 1]);
    for (int64_t b = 0; b < sourceChannels[i] / block; b++) {
      sourceOf.push_back(i);
      blockInSource.push_back(b);
    }
  }
  const int64_t totalBlocks = channels / block;
  // It sees every value it writes, so it says whether all were finite: a program's memo then
  // skips the scan of the next conv's guard (DenseNet's 1x1 convs read this join).
  plan.custom = nullptr;
  plan.checkedOutput = static_cast<size_t>(count);
  plan.customChecked = [=](const std::vector<void*>& buffers, const std::vector<double>&) {
    auto param = [&](int64_t i) { return static_cast<const float*>(buffers[count + 1 + i]); };
    const float* mean = param(affine ? 2 : 0);
    const float* variance = param(affine ? 3 : 1);
    std::vector<float> scale(channels), shift(channels);
    for (int64_t c = 0; c < channels; c++) {
      scale[c] = (affine ? param(0)[c] : 1.0f) / std::sqrt(variance[c] + eps);
      shift[c] = affine ? param(1)[c] : 0.0f;
    }
    float* out = static_cast<float*>(buffers[count]);
    auto src = [&](int64_t i) { return static_cast<const float*>(buffers[i]); };
    int bad = 0;
    if (channelsLast) {
      // Per pixel: each source's channels, consecutive in x and y.
#pragma omp parallel for schedule(static) reduction(| : bad)
      for (int64_t p = 0; p < images * spatial; p++) {
        for (int64_t i = 0; i < count; i++) {
          const int64_t c0 = firstChannel[i];
          bad |= !normalizeRun<false>(src(i) + p * sourceChannels[i], out + p * channels + c0, sourceChannels[i],
                                      mean + c0, scale.data() + c0, shift.data() + c0, relu);
        }
      }
      return bad == 0;
    }
    // Per (image, destination channel block): spatial x block values.
#pragma omp parallel for collapse(2) schedule(static) reduction(| : bad)
    for (int64_t n = 0; n < images; n++) {
      for (int64_t g = 0; g < totalBlocks; g++) {
        const int64_t i = sourceOf[g], c0 = g * block;
        const float* x = src(i) + (n * (sourceChannels[i] / block) + blockInSource[g]) * block * spatial;
        float* y = out + n * channels * spatial + c0 * spatial;
        if (block == 1) {
          bad |= !normalizeRun<true>(x, y, spatial, mean + c0, scale.data() + c0, shift.data() + c0, relu);
        } else if (block == 8) {
          bad |= !normalizeBlock<8>(x, y, spatial, mean + c0, scale.data() + c0, shift.data() + c0, relu);
        } else {
          bad |= !normalizeBlock<16>(x, y, spatial, mean + c0, scale.data() + c0, shift.data() + c0, relu);
        }
      }
    }
    return bad == 0;
  };
  return plan;
}

std::vector<dnnl::memory::desc> sourceDescs(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsArray() || info[index].As<Napi::Array>().Length() == 0) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": argument 'srcs' must be a non-empty array of desc ids");
  }
  std::vector<dnnl::memory::desc> srcs;
  for (auto id : intArray(info, index, op, "srcs")) srcs.push_back(descOf(static_cast<int>(id), "argument 'srcs'"));
  return srcs;
}

}  // namespace

// concatBatchNormPlan(srcs, { affine, relu, eps }) -> { plan, dst } or null when the sources are not
// 4-D maps in one chunked layout (JavaScript then concatenates and normalises in two steps).
// buffers [src0, ..., srcN-1, dst, (gamma, beta), mean, variance]
Napi::Value ConcatBatchNormPlan(const Napi::CallbackInfo& info) {
  const char* op = "concatBatchNorm";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto srcs = sourceDescs(info, 0, op);
    Fields options(info, 1, op, "options");
    bool affine = options.flag("affine"), relu = options.flag("relu");
    double eps = options.number("eps");
    if (!(eps >= 0)) throw Napi::RangeError::New(info.Env(), "concatBatchNorm: option 'eps' must be non-negative");
    auto first = srcs[0].dims();
    for (const auto& s : srcs) {
      auto d = s.dims();
      if (d.size() != 4 || first.size() != 4 || d[0] != first[0] || d[2] != first[2] || d[3] != first[3]) {
        throw Napi::RangeError::New(info.Env(),
                                    "concatBatchNorm: sources must be 4-D maps that differ only in channels");
      }
    }
    Chunking chunking;
    if (!chunkedFormat(srcs, 1, chunking)) return info.Env().Null();
    dnnl::memory::desc dst;
    Plan plan = chunkedConcatBatchNorm(srcs, chunking, affine, relu, static_cast<float>(eps), dst);
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(concatBatchNormPlan, ConcatBatchNormPlan);

// concatPlan(axis, srcs): buffers [src0, ..., srcN-1, dst]
Napi::Value ConcatPlan(const Napi::CallbackInfo& info) {
  const char* op = "concat";
  return guardedValue(info, op, [&]() -> Napi::Value {
    int64_t axis = integer(info, 0, op, "axis");
    auto srcs = sourceDescs(info, 1, op);
    auto first = srcs[0].dims();
    if (axis >= static_cast<int64_t>(first.size()))
      throw Napi::RangeError::New(info.Env(), "concat: axis is out of range");
    for (const auto& s : srcs) {
      auto d = s.dims();
      bool same = d.size() == first.size();
      for (size_t i = 0; same && i < d.size(); i++) same = static_cast<int64_t>(i) == axis || d[i] == first[i];
      if (!same) throw Napi::RangeError::New(info.Env(), "concat: sources differ outside the concatenation axis");
    }
    Chunking chunking;
    if (chunkedFormat(srcs, axis, chunking)) {
      dnnl::memory::desc dst;
      Plan plan = chunkedConcat(srcs, chunking, dst);
      Napi::Object result = planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
      // One outer unit (batch 1, outside nhwc): the destination is the sources laid end to end, so a
      // recorded pass can have their producers write it in place (joins-in-place.ts).
      result.Set("endToEnd", Napi::Boolean::New(info.Env(), outerUnits(dst.dims(), chunking) == 1));
      return result;
    }
    if (int64_t block = paddedBlock(srcs, axis)) {
      dnnl::memory::desc dst;
      Plan plan = paddedConcat(srcs, block, dst);
      return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
    }
    dnnl::concat::primitive_desc pd(static_cast<int>(axis), srcs, cpuEngine(), planAttr());
    PlanBuilder plan(op);
    for (size_t i = 0; i < srcs.size(); i++) plan.arg(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), srcs[i], nullptr);
    return plan.arg(DNNL_ARG_DST, pd.dst_desc(), "dst").finish(info.Env(), dnnl::concat(pd), pd.scratchpad_desc());
  });
}
CONVKIT_EXPORT(concatPlan, ConcatPlan);

}  // namespace convkit
