// The addon's execution model: JavaScript first asks for a *plan* (a oneDNN
// primitive, or a small C++ loop, plus the memory descriptors of its arguments), then *executes*
// the plan on buffers it owns. Execution is queued in order and runs on one dedicated worker
// thread (one OpenMP team, one stream, one scratchpad), so the JS main thread stays free;
// `flushSync` waits for the queue, `flushAsync` returns a Promise.
//
// Memory descriptors (plain or oneDNN-blocked) are interned: JavaScript refers to them by small
// integer ids and learns their dims and physical size with `descInfo`.
#pragma once

#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "finite_memo.h"

namespace convkit {

dnnl::engine& cpuEngine();

// ---- memory descriptors -------------------------------------------------------------------
// Returns the id of an equal descriptor if one was interned before (ids start at 1).
int internDesc(const dnnl::memory::desc& md);
// Throws a std::invalid_argument naming `what` for an unknown id.
const dnnl::memory::desc& descOf(int id, const char* what);
// Row-major float32 descriptor over dims (format abcd... of the rank).
dnnl::memory::desc plainDescOf(const dnnl::memory::dims& dims);

// ---- plans --------------------------------------------------------------------------------
// A primitive made on its first use (by the worker thread, the only caller), or one made already:
// a guard's alternate is JIT-compiled only for a plan that meets a NaN or an infinity, and conv
// and reorder plans compile at their first run, beside JavaScript making the next plans of a
// first pass instead of before it.
class LazyPrimitive {
 public:
  LazyPrimitive() = default;
  explicit LazyPrimitive(std::function<dnnl::primitive()> make) : make_(std::move(make)) {}
  explicit LazyPrimitive(dnnl::primitive made) : made_(std::move(made)) {}
  explicit operator bool() const { return static_cast<bool>(make_) || static_cast<bool>(made_); }
  const dnnl::primitive& get() const {
    if (!made_) made_ = make_();
    return made_;
  }

 private:
  std::function<dnnl::primitive()> make_;
  mutable dnnl::primitive made_;
};

// NaN/Inf handling around a oneDNN primitive (docs/numerics.md). oneDNN's max-based kernels (the
// ReLU eltwise and post-op, max pooling, softmax's row maximum) drop a NaN, and PyTorch keeps it.
// The worker first asks `check` (a cheap scan of the inputs, through the memo of a program's run
// when there is one: finite_memo.h); only when it says yes does it run `alternate` instead of
// `primitive` when one is set (same arguments; e.g. the conv without its fused ReLU) and then
// `fix` on the buffers. Finite data pays the scan alone (a plan whose scan would cost more than
// the alternate path's extra work answers yes without scanning).
struct NonFiniteGuard {
  std::function<bool(const std::vector<void*>& buffers, FiniteMemo* memo)> check;
  LazyPrimitive alternate;
  // Run instead of `primitive` when `check` says no, when set: for a plan whose `primitive` is
  // the unfused path (its scan usually costs more), the fused one for runs whose memo knows enough.
  LazyPrimitive whenFinite;
  // The DNNL_ARG_* per buffer for `alternate` where they differ from the plan's (empty: the same),
  // e.g. a Winograd conv whose direct alternate reads its weights from another buffer.
  std::vector<int> alternateArgs;
  std::function<void(const std::vector<void*>& buffers)> fix;
};

// A value exec() passes to a custom plan on every call (an optimiser's lr, an affine map's
// coefficients), read by name from exec's `scalars` object; a flag arrives as 0 or 1.
struct ScalarField {
  const char* name;
  bool isFlag = false;
};

// How exec() binds buffers: argument i of the plan gets buffer i (null allowed only where the
// plan's desc is empty, size 0). Scalars come by name (see ScalarField).
struct Plan {
  std::string name;                       // for errors: "conv2d", "reorder", "sgd" ...
  std::vector<int> args;                  // DNNL_ARG_* per buffer (custom plans: their own order)
  std::vector<dnnl::memory::desc> descs;  // what each buffer must hold (byte size is checked)
  dnnl::memory::desc scratchpad;          // empty when not needed
  // oneDNN plans set `primitive`; custom loops set `custom`, or `customChecked` or `customScanned` instead.
  LazyPrimitive primitive;
  std::function<void(const std::vector<void*>& buffers, const std::vector<double>& scalars)> custom;
  // A loop that sees every value it writes to buffer `checkedOutput` returns whether all were
  // finite: a program's memo notes it (finite_memo.h), so the guard of the next op needs no scan.
  std::function<bool(const std::vector<void*>& buffers, const std::vector<double>& scalars)> customChecked;
  size_t checkedOutput = 0;
  // A loop that scans its inputs for NaN and infinities through a program's memo (null outside
  // one): a recorded pass's steady weights are then scanned once, not at every run (own_winograd.cc).
  std::function<void(const std::vector<void*>& buffers, FiniteMemo* memo)> customScanned;
  bool isCustom() const { return custom || customChecked || customScanned; }
  std::vector<ScalarField> scalars;  // what exec reads from its `scalars` object, passed to custom in this order
  // Custom plans: true for each buffer the loop only reads (empty: it may write any). oneDNN
  // plans say it by their argument ids. A program's memo of finite ranges relies on it.
  std::vector<bool> customReads;
  std::shared_ptr<const NonFiniteGuard> guard;  // optional (oneDNN plans only)
  // Counts Plan objects alive in the process (the registry's and those held by queued commands).
  struct Alive {
    Alive();
    Alive(const Alive&);
    ~Alive();
    Alive& operator=(const Alive&) = default;
  } alive;
};

// Plans alive in the process: registered, or released but still held by a queued command.
int64_t alivePlans();

// Registers a plan; returns its id (ids start at 1, never reused). JavaScript owns the plan's
// lifetime: releasePlan(id) drops it from the registry; a command already queued keeps its own
// reference, so the primitive is destroyed once the last such command has run.
int registerPlan(Plan plan);
// A plan for a loop of ours (the caller sets plan.custom): `buffers` plain 1-D buffers of `size`
// floats, bound in order, and the scalars its exec reads.
Plan customPlan(const char* name, int64_t size, size_t buffers, const std::vector<ScalarField>& scalars = {});
const Plan& planOf(int id);

// The attributes every primitive is made with: a user-managed scratchpad, so a primitive made on
// the main thread can run on the worker (docs/architecture.md#the-native-addon).
dnnl::primitive_attr planAttr();

// ---- argument checks (for plan functions exported to JS) -----------------------------------
std::vector<int64_t> intArray(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
std::string text(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
// A named argument: a JS object read by key. Each getter checks its field (present, the right
// type, in range) and names it in the error, e.g. "conv2d: argument 'geometry': field 'padTop'
// must be an integer from 0 to 1000000, got -1". Geometry crosses the boundary this way, never
// as positional integers.
class Fields {
 public:
  Fields(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
  Fields(Napi::Env env, Napi::Value value, const char* op, const char* name);
  // An integer in [min, max] (the default: a non-negative size up to 1e12).
  int64_t integer(const char* key, int64_t min = 0, int64_t max = 1000000000000);
  bool flag(const char* key);
  double number(const char* key);  // finite
  // Any number, Infinity and NaN included: data passed on as the reference kernel would take it
  // (exec's scalars, e.g. an optimiser's lr).
  double value(const char* key);
  std::vector<int64_t> ints(const char* key, size_t count);  // non-negative integers, exactly count
  std::string text(const char* key);

 private:
  Napi::Value get(const char* key) const;
  Napi::Env env_;
  Napi::Object object_;
  std::string where_;
};

// Throws a RangeError unless the output size given (outH x outW) is the one the geometry gives.
void checkOutputSize(const Napi::Env& env, const char* op, int64_t givenH, int64_t givenW, int64_t h, int64_t w);

// A desc id argument (checked).
const dnnl::memory::desc& descArg(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);

// Runs body, turning oneDNN and C++ exceptions into JS errors that name the op.
Napi::Value guardedValue(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body);

// The JS result of a plan function: { plan: id, <name>: descId, ... } in the order given.
Napi::Object planResult(Napi::Env env, int planId, const std::vector<std::pair<std::string, int>>& descs);

// Builds a oneDNN plan: buffers in exec order, each reported to JavaScript under a name.
class PlanBuilder {
 public:
  explicit PlanBuilder(const char* name) { plan_.name = name; }
  // Buffer for `dnnlArg`, holding `md`; JavaScript sees its desc id as `jsName` (null: not reported).
  PlanBuilder& arg(int dnnlArg, const dnnl::memory::desc& md, const char* jsName);
  // The workspace buffer, only when the primitive has one (max pooling, LRN in training).
  PlanBuilder& workspace(const dnnl::memory::desc& md);
  // A NaN/Inf guard (see NonFiniteGuard); the scratchpad given to finish must fit `alternate` too.
  PlanBuilder& guard(NonFiniteGuard g) {
    plan_.guard = std::make_shared<const NonFiniteGuard>(std::move(g));
    return *this;
  }
  // Registers the plan and returns { plan, <names>: descIds }.
  Napi::Object finish(Napi::Env env, dnnl::primitive primitive, const dnnl::memory::desc& scratchpad) {
    return finish(env, LazyPrimitive(std::move(primitive)), scratchpad);
  }
  Napi::Object finish(Napi::Env env, LazyPrimitive primitive, const dnnl::memory::desc& scratchpad);

 private:
  Plan plan_;
  std::vector<std::pair<std::string, int>> named_;
};

// ---- exports ------------------------------------------------------------------------------
// A function the addon exports registers itself in its own file, on the line after its body:
//   Napi::Value ConcatPlan(const Napi::CallbackInfo& info) { ... }
//   CONVKIT_EXPORT(concatPlan, ConcatPlan);
// addon.cc exports every registered function under its JavaScript name, and
// scripts/gen-addon-exports.ts reads these lines (whole lines, in this form) for TypeScript.
using ExportedFunction = Napi::Value (*)(const Napi::CallbackInfo&);
struct AddonExport {
  const char* jsName;
  ExportedFunction function;
};
// Every registered export; filled while the addon loads (static initialisation), read by addon.cc.
std::vector<AddonExport>& addonExports();
struct ExportRegistrar {
  ExportRegistrar(const char* jsName, ExportedFunction function) { addonExports().push_back({jsName, function}); }
};
#define CONVKIT_EXPORT(jsName, cppFunction) const ExportRegistrar cppFunction##Export(#jsName, cppFunction)

}  // namespace convkit
