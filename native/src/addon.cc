// Entry point of the convkit native addon: plans of oneDNN primitives (and a few C++ loops) over
// Float32Arrays owned by JavaScript, executed in order on the addon's worker thread (plan.h).
// Every export comes from exports.def.
#include <napi.h>

#include "plan.h"

namespace convkit {

void initQueue(Napi::Env env);  // queue.cc: the worker thread of this environment

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  return Napi::String::New(info.Env(),
                           std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initQueue(env);
#define CONVKIT_EXPORT(jsName, cppFunction, file) exports.Set(#jsName, Napi::Function::New(env, cppFunction));
#include "exports.def"
#undef CONVKIT_EXPORT
  return exports;
}

}  // namespace

NODE_API_MODULE(convkit_native, Init)

}  // namespace convkit
