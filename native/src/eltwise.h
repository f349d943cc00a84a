#pragma once
#include <napi.h>
namespace convkit {
Napi::Value EltwiseForward(const Napi::CallbackInfo& info);
Napi::Value EltwiseBackward(const Napi::CallbackInfo& info);
}  // namespace convkit
