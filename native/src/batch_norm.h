#pragma once
#include <napi.h>
namespace convkit {
Napi::Value BatchNormForward(const Napi::CallbackInfo& info);
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info);
}  // namespace convkit
