// Window copies: slice and constant pad as one queued loop. The destination (outDims) holds
// `value` everywhere except a box copied from the source: source elements from srcBegin go to
// destination positions from dstBegin, as far as both extents allow. Slice is srcBegin = begin,
// dstBegin = 0; pad is srcBegin = 0, dstBegin = the leading pads.
//
// Plain sources stay plain. nChw8c/nChw16c sources stay blocked when only channels move (ResNet
// option A appends zero channels; concat backward slices channels): for whole channel blocks the
// layout is a plain [N, C/b, H, W, b] array and the same loop applies; otherwise channels change
// lanes (blocked_channels.h), as in the gradient of DenseNet-BC's joins. Anything else is planned
// on plain data, and JavaScript converts the input to the `src` desc the plan reports.
//
// Also the sum of same-size boxes of several sources (concat's backward gathering an input's
// gradients): the first box is copied and the others added, per destination block or row.
#include "plan.h"

#include "blocked_channels.h"

#include <algorithm>
#include <cstring>

namespace convkit {

namespace {

using tag = dnnl::memory::format_tag;

// The copy problem on a plain row-major array.
struct Box {
  std::vector<int64_t> in, out, srcBegin, dstBegin;
  int64_t copy(size_t axis) const { return std::min(in[axis] - srcBegin[axis], out[axis] - dstBegin[axis]); }
  bool untouched(size_t axis) const { return srcBegin[axis] == 0 && dstBegin[axis] == 0 && in[axis] == out[axis]; }
};

// Folds every untouched axis into the axis before it, so rows are as long as possible
// (a channel pad of NCHW becomes one row per image).
Box merged(const Box& box) {
  Box m{{box.in[0]}, {box.out[0]}, {box.srcBegin[0]}, {box.dstBegin[0]}};
  for (size_t axis = 1; axis < box.in.size(); axis++) {
    if (box.untouched(axis)) {
      int64_t n = box.in[axis];
      m.in.back() *= n;
      m.out.back() *= n;
      m.srcBegin.back() *= n;
      m.dstBegin.back() *= n;
    } else {
      m.in.push_back(box.in[axis]);
      m.out.push_back(box.out[axis]);
      m.srcBegin.push_back(box.srcBegin[axis]);
      m.dstBegin.push_back(box.dstBegin[axis]);
    }
  }
  return m;
}

void fill(float* p, int64_t n, float value) {
  if (value == 0.0f) {
    std::memset(p, 0, n * sizeof(float));
  } else {
    std::fill(p, p + n, value);
  }
}

// The loop: one destination row (last axis) at a time, in parallel. add: the box covers dst, and
// its values are added to dst's.
void runBox(const Box& b, const float* src, float* dst, float value, bool add = false) {
  const size_t rank = b.in.size(), last = rank - 1;
  int64_t rows = 1;
  for (size_t a = 0; a < last; a++) rows *= b.out[a];
  const int64_t rowLength = b.out[last], copied = std::max<int64_t>(b.copy(last), 0);
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; row++) {
    float* out = dst + row * rowLength;
    int64_t rest = row, srcRow = 0, stride = 1;
    bool inside = copied > 0;
    for (size_t a = last; a-- > 0;) {
      int64_t c = rest % b.out[a];
      rest /= b.out[a];
      int64_t s = c - b.dstBegin[a] + b.srcBegin[a];
      inside = inside && c >= b.dstBegin[a] && c - b.dstBegin[a] < b.copy(a);
      srcRow += s * stride;
      stride *= b.in[a];
    }
    if (!inside) {
      fill(out, rowLength, value);
      continue;
    }
    const int64_t head = b.dstBegin[last];
    const float* in = src + srcRow * b.in[last] + b.srcBegin[last];
    if (add) {
      for (int64_t j = 0; j < copied; j++) out[head + j] += in[j];
      continue;
    }
    fill(out, head, value);
    std::memcpy(out + head, in, copied * sizeof(float));
    fill(out + head + copied, rowLength - head - copied, value);
  }
}

// The blocked format of src (nChw8c or nChw16c) when the window moves only whole channel blocks.
int channelBlock(const dnnl::memory::desc& src, const Box& box, tag& format) {
  if (box.in.size() != 4) return 0;
  for (size_t a : {0, 2, 3}) {
    if (!box.untouched(a)) return 0;
  }
  for (auto [t, block] : {std::pair{tag::nChw8c, 8}, std::pair{tag::nChw16c, 16}}) {
    bool whole = box.in[1] % block == 0 && box.out[1] % block == 0 && box.srcBegin[1] % block == 0 &&
                 box.dstBegin[1] % block == 0;
    if (whole && src == dnnl::memory::desc(src.dims(), dnnl::memory::data_type::f32, t)) {
      format = t;
      return block;
    }
  }
  return 0;
}

// The blocked format and block of src when it is nChw8c or nChw16c and only channels move, or 0.
int64_t blockedChannelWindow(const dnnl::memory::desc& src, const Box& box, tag& format) {
  if (box.in.size() != 4 || !box.untouched(0) || !box.untouched(2) || !box.untouched(3)) return 0;
  for (auto [t, block] : {std::pair{tag::nChw8c, int64_t{8}}, std::pair{tag::nChw16c, int64_t{16}}}) {
    if (src == dnnl::memory::desc(src.dims(), dnnl::memory::data_type::f32, t)) {
      format = t;
      return block;
    }
  }
  return 0;
}

Plan laneWindow(const Box& box, int64_t block, float value) {
  const int64_t copied = std::max<int64_t>(box.copy(1), 0);
  BlockedCopy copy =
      planBlockedCopy(block, box.out[0], box.out[2] * box.out[3], box.out[1], {box.in[1]}, [&](int64_t c) {
        const int64_t from = c - box.dstBegin[1];
        return from >= 0 && from < copied ? ChannelOrigin{0, from + box.srcBegin[1], 0.0f}
                                          : ChannelOrigin{-1, 0, value};
      });
  Plan plan;
  plan.custom = [copy](const std::vector<void*>& buffers, const std::vector<double>&) {
    runBlockedCopy(copy, {static_cast<const float*>(buffers[0])}, static_cast<float*>(buffers[1]));
  };
  return plan;
}

// The sum of boxes of sources that are all nChw8c or all nChw16c (channel counts need not fill
// blocks) where the boxes differ from dst along channels only: lane by lane, into the same layout.
// False when the sources are not so.
bool laneSum(const std::vector<dnnl::memory::desc>& srcs, const std::vector<Box>& boxes, Plan& plan,
             dnnl::memory::desc& dst) {
  tag format = tag::undef;
  int64_t block = 0;
  for (size_t k = 0; k < srcs.size(); k++) {
    tag f = tag::undef;
    int64_t b = blockedChannelWindow(srcs[k], boxes[k], f);
    if (b == 0 || (k > 0 && f != format)) return false;
    format = f;
    block = b;
  }
  const auto& out = boxes[0].out;
  std::vector<BlockedCopy> copies;
  for (const Box& box : boxes) {
    copies.push_back(planBlockedCopy(block, out[0], out[2] * out[3], out[1], {box.in[1]}, [&](int64_t c) {
      return ChannelOrigin{0, c + box.srcBegin[1], 0.0f};
    }));
  }
  dst = dnnl::memory::desc(out, dnnl::memory::data_type::f32, format);
  const size_t count = srcs.size();
  plan.custom = [copies, count](const std::vector<void*>& buffers, const std::vector<double>&) {
    std::vector<const float*> sources(count);
    for (size_t k = 0; k < count; k++) sources[k] = static_cast<const float*>(buffers[k]);
    runBlockedSum(copies, sources, static_cast<float*>(buffers[count]));
  };
  return true;
}

}  // namespace

// sumSlicesPlan(srcs, begins, outDims) -> { plan, dst } or null; buffers [src0, ..., srcK-1, dst].
// dst is the sum, source by source in order, of the boxes [begin, begin + outDims) of the sources
// (begins: each source's box start, one entry per axis, source after source). nChw8c/nChw16c
// sources with boxes along channels sum lane by lane into their layout, plain sources as plain
// boxes; anything else is null (JavaScript asks again with plain descs).
Napi::Value SumSlicesPlan(const Napi::CallbackInfo& info) {
  const char* op = "sumSlices";
  return guardedValue(info, op, [&]() -> Napi::Value {
    if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0)
      throw Napi::TypeError::New(info.Env(), "sumSlices: argument 'srcs' must be a non-empty array of desc ids");
    std::vector<dnnl::memory::desc> srcs;
    for (auto id : intArray(info, 0, op, "srcs")) srcs.push_back(descOf(static_cast<int>(id), "argument 'srcs'"));
    auto begins = intArray(info, 1, op, "begins");
    auto out = intArray(info, 2, op, "outDims");
    const size_t rank = out.size();
    if (begins.size() != rank * srcs.size())
      throw Napi::RangeError::New(info.Env(), "sumSlices: argument 'begins' must have " +
                                                  std::to_string(rank * srcs.size()) +
                                                  " entries (rank x sources), got " + std::to_string(begins.size()));
    std::vector<Box> boxes;
    bool plain = true;
    for (size_t k = 0; k < srcs.size(); k++) {
      auto dims = srcs[k].dims();
      Box box{dims, out, {begins.begin() + k * rank, begins.begin() + (k + 1) * rank}, std::vector<int64_t>(rank, 0)};
      for (size_t a = 0; a < rank; a++) {
        if (dims.size() != rank || out[a] == 0 || box.srcBegin[a] + out[a] > dims[a]) {
          throw Napi::RangeError::New(info.Env(), "sumSlices: source " + std::to_string(k) + "'s box [" +
                                                      std::to_string(box.srcBegin[a]) + ", +" + std::to_string(out[a]) +
                                                      ") on axis " + std::to_string(a) +
                                                      " is empty, or outside the source or its rank");
        }
      }
      plain = plain && srcs[k] == plainDescOf(dims);
      boxes.push_back(box);
    }
    Plan plan;
    dnnl::memory::desc dst;
    if (!laneSum(srcs, boxes, plan, dst)) {
      if (!plain) return info.Env().Null();
      std::vector<Box> merges;
      for (const Box& box : boxes) merges.push_back(merged(box));
      plan.custom = [merges](const std::vector<void*>& buffers, const std::vector<double>&) {
        float* dst = static_cast<float*>(buffers[merges.size()]);
        for (size_t k = 0; k < merges.size(); k++)
          runBox(merges[k], static_cast<const float*>(buffers[k]), dst, 0.0f, k > 0);
      };
      dst = plainDescOf(out);
    }
    plan.name = op;
    for (size_t k = 0; k <= srcs.size(); k++) {
      plan.args.push_back(static_cast<int>(k));
      plan.descs.push_back(k < srcs.size() ? srcs[k] : dst);
    }
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(sumSlicesPlan, SumSlicesPlan);

// windowPlan(src, { srcBegin, dstBegin, outDims, value }): buffers [src, dst]; the arrays have
// one entry per axis of src
Napi::Value WindowPlan(const Napi::CallbackInfo& info) {
  const char* op = "window";
  return guardedValue(info, op, [&]() -> Napi::Value {
    auto src = descArg(info, 0, op, "src");
    auto dims = src.dims();
    Fields window(info, 1, op, "window");
    Box box{dims, window.ints("outDims", dims.size()), window.ints("srcBegin", dims.size()),
            window.ints("dstBegin", dims.size())};
    float value = static_cast<float>(window.number("value"));
    for (size_t a = 0; a < dims.size(); a++) {
      if (box.srcBegin[a] > dims[a] || box.dstBegin[a] > box.out[a] || box.out[a] == 0 || dims[a] == 0) {
        throw Napi::RangeError::New(
            info.Env(), "window: axis " + std::to_string(a) + " has source " + std::to_string(dims[a]) + " from " +
                            std::to_string(box.srcBegin[a]) + ", destination " + std::to_string(box.out[a]) + " from " +
                            std::to_string(box.dstBegin[a]) + ": out of range or empty");
      }
    }
    tag format = tag::undef;
    int block = channelBlock(src, box, format);
    int64_t laneBlock = block ? 0 : blockedChannelWindow(src, box, format);
    const bool blocked = block || laneBlock;
    dnnl::memory::desc srcDesc = blocked ? src : plainDescOf(dims),
                       dstDesc = blocked ? dnnl::memory::desc(box.out, dnnl::memory::data_type::f32, format)
                                         : plainDescOf(box.out);
    Plan plan;
    if (laneBlock) {
      plan = laneWindow(box, laneBlock, value);
    } else {
      if (block) {  // [N, C, H, W] in nChw{b}c is a plain [N, C/b, H, W, b]
        for (auto* v : {&box.in, &box.out, &box.srcBegin, &box.dstBegin}) {
          (*v)[1] /= block;
          v->push_back(v == &box.in || v == &box.out ? block : 0);
        }
      }
      Box m = merged(box);
      plan.custom = [m, value](const std::vector<void*>& buffers, const std::vector<double>&) {
        runBox(m, static_cast<const float*>(buffers[0]), static_cast<float*>(buffers[1]), value);
      };
    }
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {srcDesc, dstDesc};
    return planResult(info.Env(), registerPlan(std::move(plan)),
                      {{"src", internDesc(srcDesc)}, {"dst", internDesc(dstDesc)}});
  });
}
CONVKIT_EXPORT(windowPlan, WindowPlan);

}  // namespace convkit
