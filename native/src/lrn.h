#pragma once
#include <napi.h>
namespace convkit {
Napi::Value LrnForward(const Napi::CallbackInfo& info);
Napi::Value LrnBackward(const Napi::CallbackInfo& info);
}  // namespace convkit
