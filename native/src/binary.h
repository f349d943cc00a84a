#pragma once
#include <napi.h>
namespace convkit {
Napi::Value Binary(const Napi::CallbackInfo& info);
}  // namespace convkit
