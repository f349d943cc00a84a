// Entry point of the convkit native addon: oneDNN primitives over Float32Arrays owned by
// JavaScript, run synchronously on the calling (main) thread.
#include <napi.h>

#include "common.h"
#include "conv.h"
#include "eltwise.h"
#include "matmul.h"
#include "pool.h"
#include "softmax.h"
#include "batch_norm.h"
#include "lrn.h"
#include "binary.h"

namespace convkit {

Napi::Value Version(const Napi::CallbackInfo& info) {
  const dnnl_version_t* v = dnnl_version();
  return Napi::String::New(info.Env(), std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights));
  exports.Set("matmul", Napi::Function::New(env, Matmul));
  exports.Set("eltwiseForward", Napi::Function::New(env, EltwiseForward));
  exports.Set("eltwiseBackward", Napi::Function::New(env, EltwiseBackward));
  exports.Set("poolForward", Napi::Function::New(env, PoolForward));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBackward));
  exports.Set("softmaxForward", Napi::Function::New(env, SoftmaxForward));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("lrnForward", Napi::Function::New(env, LrnForward));
  exports.Set("lrnBackward", Napi::Function::New(env, LrnBackward));
  exports.Set("binary", Napi::Function::New(env, Binary));
  return exports;
}

NODE_API_MODULE(convkit_native, Init)

}  // namespace convkit
