// Reductions and the loss as queued loops on plain data: sum/mean/max/min over any axes, and the
// negative log-likelihood (with PyTorch's label smoothing) forward and backward. Small work in a
// training step, but each one running in JavaScript would stop the queue for a read.
#include "plan.h"

#include <cmath>
#include <limits>

namespace convkit {

namespace {

enum class ReduceOp { Sum, Mean, Max, Min };

ReduceOp reduceOpOf(const std::string& name, const Napi::Env& env) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "mean") return ReduceOp::Mean;
  if (name == "max") return ReduceOp::Max;
  if (name == "min") return ReduceOp::Min;
  throw Napi::TypeError::New(env, "reduce: unknown op '" + name + "'");
}

// A run of adjacent axes that are all reduced or all kept, as one axis of `size` and `stride`.
struct Group {
  int64_t size, stride;
  bool reduced;
};

std::vector<Group> groupsOf(const std::vector<int64_t>& dims, const std::vector<bool>& reduced) {
  std::vector<Group> groups;
  int64_t stride = 1;
  for (size_t a = dims.size(); a-- > 0;) {
    if (!groups.empty() && groups.back().reduced == reduced[a] && groups.back().stride * groups.back().size == stride) {
      groups.back().size *= dims[a];  // the run keeps its innermost stride
    } else {
      groups.push_back({dims[a], stride, reduced[a]});
    }
    stride *= dims[a];
  }
  return {groups.rbegin(), groups.rend()};  // outermost first
}

// out[o] = op over the reduced groups at kept position o; one output per iteration, in parallel.
void runReduce(ReduceOp op, const std::vector<Group>& kept, const std::vector<Group>& over, int64_t outputs,
               int64_t count, const float* x, float* y) {
#pragma omp parallel for schedule(static) if (outputs > 1)
  for (int64_t o = 0; o < outputs; o++) {
    int64_t base = 0, rest = o;
    for (size_t k = kept.size(); k-- > 0;) {
      base += (rest % kept[k].size) * kept[k].stride;
      rest /= kept[k].size;
    }
    double acc = op == ReduceOp::Max ? -INFINITY : op == ReduceOp::Min ? INFINITY : 0.0;
    std::vector<int64_t> at(over.size(), 0);
    for (int64_t done = 0; done < count;) {
      int64_t offset = base;
      for (size_t r = 0; r < over.size(); r++) offset += at[r] * over[r].stride;
      const Group& inner = over.back();
      for (int64_t i = 0; i < inner.size; i++) {
        double v = x[offset + i * inner.stride];
        if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
          acc += v;
        } else if (std::isnan(v) || std::isnan(acc)) {
          acc = NAN;  // as Math.max / Math.min
        } else {
          acc = op == ReduceOp::Max ? std::max(acc, v) : std::min(acc, v);
        }
      }
      done += inner.size;
      for (size_t r = over.size() - 1; r-- > 0;) {  // odometer over the outer reduced groups
        if (++at[r] < over[r].size) break;
        at[r] = 0;
      }
    }
    y[o] = static_cast<float>(op == ReduceOp::Mean ? acc / count : acc);
  }
}

}  // namespace

// reducePlan(op, src dims, axes): buffers [src, dst], both plain; dst has the kept dims.
Napi::Value ReducePlan(const Napi::CallbackInfo& info) {
  const char* op = "reduce";
  return guardedValue(info, op, [&]() -> Napi::Value {
    ReduceOp kind = reduceOpOf(text(info, 0, op, "op"), info.Env());
    auto dims = intArray(info, 1, op, "dims");
    auto axes = intArray(info, 2, op, "axes");
    if (dims.empty() || dims.size() > DNNL_MAX_NDIMS)
      throw Napi::RangeError::New(info.Env(), "reduce: dims must have 1 to 12 entries");
    std::vector<bool> reduced(dims.size(), false);
    for (auto a : axes) {
      if (a >= static_cast<int64_t>(dims.size()))
        throw Napi::RangeError::New(info.Env(), "reduce: axis " + std::to_string(a) + " is out of range");
      reduced[a] = true;
    }
    auto outDims = dims;
    int64_t count = 1, outputs = 1;
    for (size_t a = 0; a < dims.size(); a++) {
      if (dims[a] == 0) throw Napi::RangeError::New(info.Env(), "reduce: empty tensors are not planned");
      if (reduced[a]) {
        count *= dims[a];
        outDims[a] = 1;
      } else {
        outputs *= dims[a];
      }
    }
    std::vector<Group> kept, over;
    for (const Group& g : groupsOf(dims, reduced)) (g.reduced ? over : kept).push_back(g);
    if (over.empty()) over.push_back({1, 0, true});  // nothing reduced: a copy (mean over one value)
    auto src = plainDescOf(dims), dst = plainDescOf(outDims);
    Plan plan;
    plan.name = op;
    plan.args = {0, 1};
    plan.descs = {src, dst};
    plan.custom = [kind, kept, over, outputs, count](const std::vector<void*>& buffers, const std::vector<double>&) {
      runReduce(kind, kept, over, outputs, count, static_cast<const float*>(buffers[0]),
                static_cast<float*>(buffers[1]));
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dst", internDesc(dst)}});
  });
}
CONVKIT_EXPORT(reducePlan, ReducePlan);

enum class Reduction { None, Sum, Mean };

Reduction reductionOf(const std::string& name, const Napi::Env& env, const char* op) {
  if (name == "none") return Reduction::None;
  if (name == "sum") return Reduction::Sum;
  if (name == "mean") return Reduction::Mean;
  throw Napi::TypeError::New(env, std::string(op) + ": unknown reduction '" + name + "'");
}

struct NllShape {
  int64_t n, c;
  Reduction reduction;
  double eps;  // label smoothing
};

NllShape nllShapeOf(const Napi::CallbackInfo& info, const char* op) {
  Fields loss(info, 0, op, "loss");
  NllShape s{loss.integer("n", 1), loss.integer("c", 1), reductionOf(loss.text("reduction"), info.Env(), op),
             loss.number("labelSmoothing")};
  if (!(s.eps >= 0 && s.eps <= 1))
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": labelSmoothing must be in [0, 1]");
  return s;
}

// nllLossPlan({ n, c, reduction, labelSmoothing }): buffers [logp [n, c], target [n] (class indices
// as floats, checked by the caller), out ([n] for 'none', else [1])]. In double as the reference:
//   loss_i = (1 - eps) * (-logp[i, t_i]) + eps * mean over j of (-logp[i, j])
Napi::Value NllLossPlan(const Napi::CallbackInfo& info) {
  const char* op = "nllLoss";
  return guardedValue(info, op, [&]() -> Napi::Value {
    NllShape s = nllShapeOf(info, op);
    auto out = plainDescOf({s.reduction == Reduction::None ? s.n : 1});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1, 2};
    plan.descs = {plainDescOf({s.n, s.c}), plainDescOf({s.n}), out};
    plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* logp = static_cast<const float*>(buffers[0]);
      const float* target = static_cast<const float*>(buffers[1]);
      float* y = static_cast<float*>(buffers[2]);
      double total = 0;
      for (int64_t i = 0; i < s.n; i++) {
        const float* row = logp + i * s.c;
        double loss = -static_cast<double>(row[static_cast<int64_t>(target[i])]);
        if (s.eps > 0) {  // skipped at 0: another class's -Infinity must not give 0 * Infinity
          double sum = 0;
          for (int64_t j = 0; j < s.c; j++) sum += row[j];
          loss = (1 - s.eps) * loss - s.eps * sum / s.c;
        }
        if (s.reduction == Reduction::None) y[i] = static_cast<float>(loss);
        total += loss;
      }
      if (s.reduction != Reduction::None)
        y[0] = static_cast<float>(s.reduction == Reduction::Mean ? total / s.n : total);
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"out", internDesc(out)}});
  });
}
CONVKIT_EXPORT(nllLossPlan, NllLossPlan);

// nllLossBackwardPlan({ n, c, reduction, labelSmoothing }): buffers [gy ([n] for 'none', else [1]),
// target [n], dx [n, c]]: dx[i, j] = -g_i * ((1 - eps) * [j = t_i] + eps / c).
Napi::Value NllLossBackwardPlan(const Napi::CallbackInfo& info) {
  const char* op = "nllLossBackward";
  return guardedValue(info, op, [&]() -> Napi::Value {
    NllShape s = nllShapeOf(info, op);
    auto dx = plainDescOf({s.n, s.c});
    Plan plan;
    plan.name = op;
    plan.args = {0, 1, 2};
    plan.descs = {plainDescOf({s.reduction == Reduction::None ? s.n : 1}), plainDescOf({s.n}), dx};
    plan.custom = [s](const std::vector<void*>& buffers, const std::vector<double>&) {
      const float* gy = static_cast<const float*>(buffers[0]);
      const float* target = static_cast<const float*>(buffers[1]);
      float* d = static_cast<float*>(buffers[2]);
      for (int64_t i = 0; i < s.n; i++) {
        double g = s.reduction == Reduction::None   ? gy[i]
                   : s.reduction == Reduction::Mean ? gy[0] / static_cast<double>(s.n)
                                                    : gy[0];
        float* row = d + i * s.c;
        float spread = static_cast<float>(s.eps > 0 ? -g * s.eps / s.c : 0.0);
        for (int64_t j = 0; j < s.c; j++) row[j] = spread;
        int64_t t = static_cast<int64_t>(target[i]);
        row[t] = static_cast<float>(row[t] - g * (1 - s.eps));
      }
    };
    return planResult(info.Env(), registerPlan(std::move(plan)), {{"dx", internDesc(dx)}});
  });
}
CONVKIT_EXPORT(nllLossBackwardPlan, NllLossBackwardPlan);

}  // namespace convkit
