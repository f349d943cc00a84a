// Entry point of the convkit native addon: plans of oneDNN primitives (and a few C++ loops) over
// Float32Arrays owned by JavaScript, executed in order on the addon's worker thread (plan.h).
// Every export registers itself with CONVKIT_EXPORT beside its definition (plan.h).
#include <napi.h>

#include "plan.h"

namespace convkit {

void initQueue(Napi::Env env);  // queue.cc: the worker thread of this environment

std::vector<AddonExport>& addonExports() {
  static std::vector<AddonExport> registered;  // built before first use, whatever the file order
  return registered;
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  return Napi::String::New(info.Env(),
                           std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}
CONVKIT_EXPORT(version, Version);

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  initQueue(env);
  for (const AddonExport& e : addonExports()) {
    if (exports.Has(e.jsName))
      throw Napi::Error::New(env, std::string("convkit addon: '") + e.jsName + "' is registered twice");
    exports.Set(e.jsName, Napi::Function::New(env, e.function, e.jsName));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(convkit_native, Init)

}  // namespace convkit
