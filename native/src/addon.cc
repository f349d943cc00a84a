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

// alignmentGap(arrayBuffer) -> the bytes from its start to the next 64-byte boundary (0-63). The
// JS side starts its Float32Arrays there: oneDNN's AVX-512 kernels move whole cache lines, and
// buffers 16 bytes off (where glibc puts large blocks) made a 3x3 conv up to 24% slower here.
Napi::Value AlignmentGap(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArrayBuffer())
    throw Napi::TypeError::New(info.Env(), "alignmentGap: argument 'buffer' must be an ArrayBuffer");
  auto address = reinterpret_cast<uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(info.Env(), static_cast<double>((64 - address % 64) % 64));
}
CONVKIT_EXPORT(alignmentGap, AlignmentGap);

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
