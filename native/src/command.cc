// Commands built from JavaScript values and checked against their plans, and how the worker runs
// one (command.h).
#include "command.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace convkit {

std::shared_ptr<const Plan> sharedPlanOf(int id);  // plan.cc

namespace {

const char* argName(int arg) {
  switch (arg) {
    case DNNL_ARG_SRC:
      return "src";  // also DNNL_ARG_FROM
    case DNNL_ARG_SRC_1:
      return "src_1";
    case DNNL_ARG_DST:
      return "dst";  // also DNNL_ARG_TO
    case DNNL_ARG_WEIGHTS:
      return "weights";
    case DNNL_ARG_BIAS:
      return "bias";
    case DNNL_ARG_MEAN:
      return "mean";
    case DNNL_ARG_VARIANCE:
      return "variance";
    case DNNL_ARG_SCALE:
      return "scale";
    case DNNL_ARG_SHIFT:
      return "shift";
    case DNNL_ARG_WORKSPACE:
      return "workspace";
    case DNNL_ARG_DIFF_SRC:
      return "diff_src";
    case DNNL_ARG_DIFF_DST:
      return "diff_dst";
    case DNNL_ARG_DIFF_WEIGHTS:
      return "diff_weights";
    case DNNL_ARG_DIFF_BIAS:
      return "diff_bias";
    case DNNL_ARG_DIFF_SCALE:
      return "diff_scale";
    case DNNL_ARG_DIFF_SHIFT:
      return "diff_shift";
    default:
      return nullptr;
  }
}

// Whether a oneDNN primitive only reads the buffer it takes under `arg` (a binary post-op's
// operand included). Unlisted ids count as written, as the statistics (training writes them).
bool onlyRead(int arg) {
  if (arg >= DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE)
    return (arg & (DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE - 1)) == DNNL_ARG_SRC_1;
  switch (arg) {
    case DNNL_ARG_SRC_0:
    case DNNL_ARG_SRC_1:
    case DNNL_ARG_SRC_2:
    case DNNL_ARG_WEIGHTS_0:
    case DNNL_ARG_WEIGHTS_1:
    case DNNL_ARG_WEIGHTS_2:
    case DNNL_ARG_WEIGHTS_3:
    case DNNL_ARG_BIAS:
    case DNNL_ARG_DIFF_DST:
    case DNNL_ARG_SCALE:
    case DNNL_ARG_SHIFT:
      return true;
    default:
      return false;
  }
}

// Whether running the plan may write buffer i (under its own argument ids or its guard's).
bool mayWrite(const Plan& plan, size_t i) {
  if (plan.isCustom()) return i >= plan.customReads.size() || !plan.customReads[i];
  const std::vector<int>* alternate = plan.guard ? &plan.guard->alternateArgs : nullptr;
  return !onlyRead(plan.args[i]) || (alternate != nullptr && !alternate->empty() && !onlyRead((*alternate)[i]));
}

// "conv2d: buffer 3 (dst) " or, for custom plans, "sgd: buffer 1 "
std::string bufferName(const Plan& plan, size_t i) {
  const char* name = plan.isCustom() ? nullptr : argName(plan.args[i]);
  return plan.name + ": buffer " + std::to_string(i) + (name ? std::string(" (") + name + ")" : "") + " ";
}

}  // namespace

uint32_t commandOf(Napi::Env env, Napi::Value planId, Napi::Value buffersValue, Napi::Value scalarsValue,
                   Command& command, Napi::Array keep, uint32_t keepAt, bool withWrites) {
  double number = planId.IsNumber() ? planId.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 0 && number <= 9007199254740991.0) || number != std::floor(number))
    throw Napi::TypeError::New(env, "exec: argument 'plan' must be a non-negative integer");
  auto id = static_cast<int64_t>(number);
  std::shared_ptr<const Plan> plan;
  try {
    plan = sharedPlanOf(static_cast<int>(std::clamp<int64_t>(id, INT32_MIN, INT32_MAX)));
  } catch (const std::invalid_argument&) {
    throw Napi::RangeError::New(env, "exec: argument 'plan' is an unknown plan id (" + std::to_string(id) + ")");
  }
  const std::string& op = plan->name;
  size_t count = plan->descs.size();
  if (!buffersValue.IsArray() || buffersValue.As<Napi::Array>().Length() != count) {
    throw Napi::TypeError::New(env,
                               op + ": argument 'buffers' must be an array of " + std::to_string(count) + " buffers");
  }
  Napi::Array buffers = buffersValue.As<Napi::Array>();
  command.plan = plan;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = buffers[i];
    size_t bytes = plan->descs[i].get_size();
    if (v.IsNull() || v.IsUndefined()) {
      if (bytes != 0)
        throw Napi::TypeError::New(env, bufferName(*plan, i) + "is null but needs " + std::to_string(bytes) + " bytes");
      command.buffers.push_back(nullptr);
      continue;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(env, bufferName(*plan, i) + "must be a Float32Array");
    }
    auto array = v.As<Napi::Float32Array>();
    if (array.ByteLength() < bytes) {
      throw Napi::RangeError::New(env, bufferName(*plan, i) + "has " + std::to_string(array.ByteLength()) +
                                           " bytes, expected at least " + std::to_string(bytes));
    }
    command.buffers.push_back(array.Data());
    if (withWrites && mayWrite(*plan, i)) {
      auto at = reinterpret_cast<uintptr_t>(array.Data());
      command.writes.push_back({at, at + array.ByteLength()});
    }
    keep.Set(keepAt++, v);
  }
  command.scalars = scalarsOf(env, *plan, scalarsValue);
  return keepAt;
}

std::vector<double> scalarsOf(Napi::Env env, const Plan& plan, Napi::Value value) {
  std::vector<double> out;
  // Scalars come as an object read by the names the plan declares (Fields names a bad one).
  if (!plan.scalars.empty()) {
    Fields scalars(env, value, plan.name.c_str(), "scalars");
    for (const ScalarField& f : plan.scalars) out.push_back(f.isFlag ? scalars.flag(f.name) : scalars.value(f.name));
  } else if (!value.IsUndefined()) {
    throw Napi::TypeError::New(env, plan.name + ": argument 'scalars' is not taken by this plan");
  }
  return out;
}

Patches patchesOf(Napi::Env env, const std::vector<Command>& commands, Napi::Value value) {
  Patches patches;
  if (value.IsUndefined()) return patches;
  if (!value.IsArray())
    throw Napi::TypeError::New(env, "programRun: argument 'patches' must be an array of [index, scalars]");
  Napi::Array list = value.As<Napi::Array>();
  for (uint32_t k = 0; k < list.Length(); k++) {
    Napi::Value item = list[k];
    std::string where = "programRun: patch " + std::to_string(k);
    if (!item.IsArray() || item.As<Napi::Array>().Length() != 2)
      throw Napi::TypeError::New(env, where + " must be [index, scalars]");
    Napi::Array pair = item.As<Napi::Array>();
    Napi::Value at = pair[0u];
    double index = at.IsNumber() ? at.As<Napi::Number>().DoubleValue() : -1;
    double after = patches.empty() ? -1 : static_cast<double>(patches.back().first);
    if (!(index > after && index < static_cast<double>(commands.size())) || index != std::floor(index))
      throw Napi::RangeError::New(env, where + ": index must be an integer above the last patch's and below " +
                                           std::to_string(commands.size()));
    const Plan& plan = *commands[static_cast<size_t>(index)].plan;
    if (plan.scalars.empty())
      throw Napi::TypeError::New(env, where + ": command " + std::to_string(static_cast<size_t>(index)) + " (" +
                                          plan.name + ") takes no scalars");
    patches.emplace_back(static_cast<size_t>(index), scalarsOf(env, plan, pair[1u]));
  }
  return patches;
}

std::string executeCommand(const Command& c, dnnl::stream& stream, Scratchpad& scratchpad, FiniteMemo* memo) {
  const char* op = c.plan ? c.plan->name.c_str() : "setThreads";
  try {
    if (c.control) {
      c.control();
    } else if (c.plan->custom) {
      c.plan->custom(c.buffers, c.scalars);
    } else if (c.plan->customScanned) {
      c.plan->customScanned(c.buffers, memo);
    } else if (c.plan->customChecked) {
      const size_t out = c.plan->checkedOutput;
      if (c.plan->customChecked(c.buffers, c.scalars) && memo != nullptr)
        memo->noteFinite(static_cast<const float*>(c.buffers[out]), floatsOf(c.plan->descs[out]));
    } else {
      const NonFiniteGuard* guard = c.plan->guard.get();
      const bool nonFinite = guard != nullptr && guard->check(c.buffers, memo);
      const bool ownIds = nonFinite && guard->alternate && !guard->alternateArgs.empty();
      const std::vector<int>& argIds = ownIds ? guard->alternateArgs : c.plan->args;
      std::unordered_map<int, dnnl::memory> fresh;
      std::unordered_map<int, dnnl::memory>& args = c.cached ? (ownIds ? c.cached->alternate : c.cached->main) : fresh;
      if (args.empty())
        for (size_t i = 0; i < c.buffers.size(); i++)
          args.insert({argIds[i], dnnl::memory(c.plan->descs[i], cpuEngine(), c.buffers[i])});
      size_t scratch = c.plan->scratchpad.get_size();
      if (scratch > 0) {
        void* at = scratchpad.reserve(scratch);  // moves when a larger scratchpad is needed
        auto it = args.find(DNNL_ARG_SCRATCHPAD);
        if (it == args.end())
          args.insert({DNNL_ARG_SCRATCHPAD, dnnl::memory(c.plan->scratchpad, cpuEngine(), at)});
        else if (it->second.get_data_handle() != at)
          it->second.set_data_handle(at);
      }
      const dnnl::primitive* primitive = &c.plan->primitive.get();
      if (nonFinite && guard->alternate)
        primitive = &guard->alternate.get();
      else if (!nonFinite && guard != nullptr && guard->whenFinite)
        primitive = &guard->whenFinite.get();
      primitive->execute(stream, args);
      stream.wait();
      if (nonFinite && guard->fix) guard->fix(c.buffers);
    }
    return "";
  } catch (const dnnl::error& e) {
    return std::string(op) + ": oneDNN failed: " + e.what() + " (status " + std::to_string(e.status) + ")";
  } catch (const std::exception& e) {
    return std::string(op) + ": " + e.what();
  } catch (...) {
    return std::string(op) + ": unknown native error";
  }
}

std::vector<ByteRange> steadyRanges(Napi::Env env, Napi::Value steadyValue, const std::vector<Command>& commands,
                                    Napi::Array keep, uint32_t keepAt) {
  std::vector<ByteRange> steady;
  if (steadyValue.IsUndefined()) return steady;
  const char* expected = "programCreate: argument 'steady' must be an array of Float32Arrays";
  if (!steadyValue.IsArray()) throw Napi::TypeError::New(env, expected);
  Napi::Array list = steadyValue.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, std::string(expected) + " (element " + std::to_string(i) + " is not)");
    auto array = v.As<Napi::Float32Array>();
    const ByteRange r = floatRange(array.Data(), static_cast<int64_t>(array.ElementLength()));
    bool written = false;
    for (const Command& c : commands)
      for (const ByteRange& w : c.writes) written = written || w.overlaps(r);
    if (written) continue;
    steady.push_back(r);
    keep.Set(keepAt++, v);
  }
  return steady;
}

}  // namespace convkit
