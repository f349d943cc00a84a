// Interned memory descriptors, the plan registry and the argument checks shared by every plan
// function (descs.cc exports the descriptors and the reorder plans). Plans and descs are made on
// the main thread; the worker only sees plans through shared pointers held by queued commands
// (see queue.h).
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "plan.h"
#include "spin_throttle.h"

namespace convkit {

// command.cc reads plans through this (the registry may grow while the worker runs).
std::shared_ptr<const Plan> sharedPlanOf(int id);

namespace {

// Registries are shared by every Node environment (worker_threads) of the process.
std::mutex registryMutex;
std::deque<dnnl::memory::desc> descs;                        // id = index + 1; a deque keeps references valid on growth
std::unordered_multimap<size_t, int> descIndex;              // hash of a desc -> its ids (interning without a scan)
std::unordered_map<int, std::shared_ptr<const Plan>> plans;  // live plans by id
int lastPlanId = 0;
std::atomic<int64_t> plansAlive{0};

// Hash of what tells descs apart cheaply (dims, data type, size, strides of plain layouts);
// equal descs hash equal, and the rare collision is settled with ==.
size_t hashOf(const dnnl::memory::desc& md) {
  size_t h = std::hash<size_t>()(md.get_size()) ^ (static_cast<size_t>(md.data.data_type) << 7) ^
             (static_cast<size_t>(md.data.format_kind) << 13);
  for (int i = 0; i < md.data.ndims; i++) h = h * 1000003u ^ std::hash<int64_t>()(md.data.dims[i]);
  if (md.data.format_kind == dnnl_blocked) {
    for (int i = 0; i < md.data.ndims; i++) h = h * 31u ^ std::hash<int64_t>()(md.data.format_desc.blocking.strides[i]);
    h = h * 31u ^ static_cast<size_t>(md.data.format_desc.blocking.inner_nblks);
  }
  return h;
}

std::string where(const char* op, const char* name) {
  return std::string(op) + ": argument '" + name + "' ";
}

bool isCount(double d) {
  return d >= 0 && d <= 1e12 && d == static_cast<double>(static_cast<int64_t>(d));
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "nothing (the field is missing)";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    char text[32];
    std::snprintf(text, sizeof text, "%.15g", d);
    return text;
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsNull()) return "null";
  return "an object";
}

// The elements of a JS array as non-negative integers; `prefix` starts the error message.
std::vector<int64_t> countsOf(const Napi::Env& env, const Napi::Array& array, const std::string& prefix) {
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value e = array[i];
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!isCount(d)) {
      throw Napi::TypeError::New(
          env, prefix + "element " + std::to_string(i) + " must be a non-negative integer, got " + describe(e));
    }
    out[i] = static_cast<int64_t>(d);
  }
  return out;
}

Napi::Value ValueAt(const Napi::CallbackInfo& info, size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

}  // namespace

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

int internDesc(const dnnl::memory::desc& md) {
  std::lock_guard<std::mutex> lock(registryMutex);
  size_t h = hashOf(md);
  auto [first, last] = descIndex.equal_range(h);
  for (auto it = first; it != last; ++it) {
    if (descs[it->second - 1] == md) return it->second;
  }
  descs.push_back(md);
  int id = static_cast<int>(descs.size());
  descIndex.emplace(h, id);
  return id;
}

const dnnl::memory::desc& descOf(int id, const char* what) {
  std::lock_guard<std::mutex> lock(registryMutex);
  if (id < 1 || static_cast<size_t>(id) > descs.size())
    throw std::invalid_argument(std::string(what) + ": unknown desc id " + std::to_string(id));
  return descs[id - 1];
}

dnnl::memory::desc plainDescOf(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<int64_t>(dims[i], 1);
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

Plan customPlan(const char* name, int64_t size, size_t buffers, const std::vector<ScalarField>& scalars) {
  Plan plan;
  plan.name = name;
  for (size_t i = 0; i < buffers; i++) {
    plan.args.push_back(static_cast<int>(i));
    plan.descs.push_back(plainDescOf({size}));
  }
  plan.scalars = scalars;
  return plan;
}

Plan::Alive::Alive() {
  plansAlive++;
}
Plan::Alive::Alive(const Alive&) {
  plansAlive++;
}
Plan::Alive::~Alive() {
  plansAlive--;
}

int64_t alivePlans() {
  return plansAlive.load();
}

int registerPlan(Plan plan) {
  throttleSpin();  // JavaScript is building a pass that makes plans: a cold one
  auto shared = std::make_shared<const Plan>(std::move(plan));
  std::lock_guard<std::mutex> lock(registryMutex);
  int id = ++lastPlanId;
  plans.emplace(id, std::move(shared));
  return id;
}

std::shared_ptr<const Plan> sharedPlanOf(int id) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = plans.find(id);
  if (it == plans.end()) throw std::invalid_argument("exec: unknown plan id " + std::to_string(id));
  return it->second;
}

const Plan& planOf(int id) {
  return *sharedPlanOf(id);
}

dnnl::primitive_attr planAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// ---- argument checks ------------------------------------------------------------------------

std::vector<int64_t> intArray(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  Napi::Value v = ValueAt(info, index);
  if (!v.IsArray())
    throw Napi::TypeError::New(info.Env(), where(op, name) + "must be an array of non-negative integers");
  return countsOf(info.Env(), v.As<Napi::Array>(), where(op, name));
}

int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  Napi::Value v = ValueAt(info, index);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!isCount(d)) throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a non-negative integer");
  return static_cast<int64_t>(d);
}

std::string text(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  Napi::Value v = ValueAt(info, index);
  if (!v.IsString()) throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Fields::Fields(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name)
    : Fields(info.Env(), ValueAt(info, index), op, name) {}

Fields::Fields(Napi::Env env, Napi::Value v, const char* op, const char* name) : env_(env), where_(where(op, name)) {
  if (!v.IsObject() || v.IsArray())
    throw Napi::TypeError::New(env_, where_ + "must be an object with named fields, got " + describe(v));
  object_ = v.As<Napi::Object>();
}

Napi::Value Fields::get(const char* key) const {
  return object_.Get(key);
}

int64_t Fields::integer(const char* key, int64_t min, int64_t max) {
  Napi::Value v = get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) || d != std::floor(d)) {
    throw Napi::TypeError::New(env_, where_ + "field '" + key + "' must be an integer from " + std::to_string(min) +
                                         " to " + std::to_string(max) + ", got " + describe(v));
  }
  return static_cast<int64_t>(d);
}

bool Fields::flag(const char* key) {
  Napi::Value v = get(key);
  if (!v.IsBoolean())
    throw Napi::TypeError::New(env_, where_ + "field '" + key + "' must be a boolean, got " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

double Fields::number(const char* key) {
  Napi::Value v = get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d))
    throw Napi::TypeError::New(env_, where_ + "field '" + key + "' must be a finite number, got " + describe(v));
  return d;
}

double Fields::value(const char* key) {
  Napi::Value v = get(key);
  if (!v.IsNumber())
    throw Napi::TypeError::New(env_, where_ + "field '" + key + "' must be a number, got " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

std::string Fields::text(const char* key) {
  Napi::Value v = get(key);
  if (!v.IsString())
    throw Napi::TypeError::New(env_, where_ + "field '" + key + "' must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int64_t> Fields::ints(const char* key, size_t count) {
  Napi::Value v = get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != count) {
    throw Napi::TypeError::New(
        env_, where_ + "field '" + key + "' must be an array of " + std::to_string(count) +
                  " non-negative integers, got " +
                  (v.IsArray() ? std::to_string(v.As<Napi::Array>().Length()) + " entries" : describe(v)));
  }
  return countsOf(env_, v.As<Napi::Array>(), where_ + "field '" + key + "' ");
}

void checkOutputSize(const Napi::Env& env, const char* op, int64_t givenH, int64_t givenW, int64_t h, int64_t w) {
  if (givenH == h && givenW == w) return;
  throw Napi::RangeError::New(env, std::string(op) + ": argument 'geometry': output size " + std::to_string(givenH) +
                                       "x" + std::to_string(givenW) + " does not match the geometry (" +
                                       std::to_string(h) + "x" + std::to_string(w) + ")");
}

const dnnl::memory::desc& descArg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  int64_t id = integer(info, index, op, name);
  std::lock_guard<std::mutex> lock(registryMutex);
  if (id < 1 || static_cast<size_t>(id) > descs.size()) {
    throw Napi::RangeError::New(info.Env(), where(op, name) + "is an unknown desc id (" + std::to_string(id) + ")");
  }
  return descs[id - 1];
}

Napi::Value guardedValue(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(
        info.Env(), std::string(op) + ": oneDNN failed: " + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": " + e.what());
  }
}

Napi::Object planResult(Napi::Env env, int planId, const std::vector<std::pair<std::string, int>>& named) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("plan", Napi::Number::New(env, planId));
  for (const auto& [name, id] : named) out.Set(name, Napi::Number::New(env, id));
  return out;
}

PlanBuilder& PlanBuilder::arg(int dnnlArg, const dnnl::memory::desc& md, const char* jsName) {
  plan_.args.push_back(dnnlArg);
  plan_.descs.push_back(md);
  if (jsName) named_.emplace_back(jsName, internDesc(md));
  return *this;
}

PlanBuilder& PlanBuilder::workspace(const dnnl::memory::desc& md) {
  return md.get_size() > 0 ? arg(DNNL_ARG_WORKSPACE, md, "workspace") : *this;
}

Napi::Object PlanBuilder::finish(Napi::Env env, LazyPrimitive primitive, const dnnl::memory::desc& scratchpad) {
  plan_.primitive = std::move(primitive);
  plan_.scratchpad = scratchpad;
  return planResult(env, registerPlan(std::move(plan_)), named_);
}

// releasePlan(id) -> whether the id was registered: drops the plan from the registry (its
// primitive is freed at once, or after the queued commands that use it have run).
Napi::Value ReleasePlan(const Napi::CallbackInfo& info) {
  return guardedValue(info, "releasePlan", [&]() -> Napi::Value {
    int64_t id = integer(info, 0, "releasePlan", "plan");
    std::shared_ptr<const Plan> plan;  // destroyed after the lock is released
    {
      std::lock_guard<std::mutex> lock(registryMutex);
      auto it = plans.find(static_cast<int>(std::min<int64_t>(id, INT32_MAX)));
      if (it == plans.end()) return Napi::Boolean::New(info.Env(), false);
      plan = std::move(it->second);
      plans.erase(it);
    }
    return Napi::Boolean::New(info.Env(), true);
  });
}
CONVKIT_EXPORT(releasePlan, ReleasePlan);

// planStats() -> { plans: registered, alive: Plan objects alive (registered or held by queued
// commands), descs: interned memory descriptors }
Napi::Value PlanStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  size_t registered, interned;
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    registered = plans.size();
    interned = descs.size();
  }
  out.Set("plans", Napi::Number::New(info.Env(), static_cast<double>(registered)));
  out.Set("alive", Napi::Number::New(info.Env(), static_cast<double>(alivePlans())));
  out.Set("descs", Napi::Number::New(info.Env(), static_cast<double>(interned)));
  return out;
}
CONVKIT_EXPORT(planStats, PlanStats);

}  // namespace convkit
