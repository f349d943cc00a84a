#pragma once
#include <napi.h>
namespace convkit {
Napi::Value PoolForward(const Napi::CallbackInfo& info);
Napi::Value PoolBackward(const Napi::CallbackInfo& info);
}  // namespace convkit
