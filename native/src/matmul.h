#pragma once
#include <napi.h>
namespace convkit {
Napi::Value Matmul(const Napi::CallbackInfo& info);
}  // namespace convkit
