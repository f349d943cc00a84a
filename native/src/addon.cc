// Entry point of the convkit native addon: plans of oneDNN primitives (and a few C++ loops) over
// Float32Arrays owned by JavaScript, executed in order on the addon's worker thread (plan.h).
#include <napi.h>

#include "plan.h"

namespace convkit {

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  return Napi::String::New(info.Env(),
                           std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  initRuntime(env, exports);
  initConv(env, exports);
  initMatmul(env, exports);
  initOptim(env, exports);
  initEltwise(env, exports);
  initBinary(env, exports);
  initPool(env, exports);
  initBatchNorm(env, exports);
  initLrn(env, exports);
  initSoftmax(env, exports);
  initConcat(env, exports);
  initWindow(env, exports);
  initReduce(env, exports);
  initSpaceToDepth(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(convkit_native, Init)

}  // namespace convkit
