#pragma once
#include <napi.h>
namespace convkit {
Napi::Value SoftmaxForward(const Napi::CallbackInfo& info);
Napi::Value SoftmaxBackward(const Napi::CallbackInfo& info);
}  // namespace convkit
