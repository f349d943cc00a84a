#pragma once
#include <napi.h>
namespace convkit {
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info);
}  // namespace convkit
