// Entry point of the convkit native addon: plans of oneDNN primitives (and a few C++ loops) over
// Float32Arrays owned by JavaScript, executed in order on the addon's worker thread (plan.h).
// Every export registers itself with CONVKIT_EXPORT beside its definition (plan.h).
#include <napi.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "plan.h"

namespace convkit {

void initQueue(Napi::Env env);  // queue.cc: the worker thread of this environment (queue.h)

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

// evictFromCache(array) -> whether it could: writes back and drops the array's cache lines from
// every cache level, so that the next kernel reads it from memory. Conv tuning does this to the
// weights before each timed run: in a model each weight is read once per pass with everything
// else in between, and Winograd's larger transformed weights lose at batch 1 where timing them
// hot said they win (ResNet's 512-channel 7x7 convs: 1.5 ms in the model, 0.5 ms measured hot).
Napi::Value EvictFromCache(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsTypedArray())
    throw Napi::TypeError::New(info.Env(), "evictFromCache: argument 'array' must be a typed array");
#if defined(__x86_64__) || defined(__i386__)
  auto array = info[0].As<Napi::TypedArray>();
  const char* begin = static_cast<const char*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  for (size_t offset = 0; offset < array.ByteLength(); offset += 64) _mm_clflush(begin + offset);
  _mm_mfence();
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}
CONVKIT_EXPORT(evictFromCache, EvictFromCache);

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
