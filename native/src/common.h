// Shared pieces of the addon: the one CPU engine and stream, the primitive cache, the
// user-managed scratchpad, and checked access to the Float32Arrays JavaScript hands over.
#pragma once

#include <napi.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace convkit {

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

// Primitives are made with a user-managed scratchpad (a primitive made on one thread and run on
// another crashes otherwise); every cached primitive remembers what it needs.
struct CachedPrimitive {
  dnnl::primitive primitive;
  dnnl::memory::desc scratchpad;
  dnnl::memory::desc workspace;  // empty unless the primitive has one (max pooling)
};

// Looks a primitive up by a key of shapes and attributes; builds it with `make` on a miss.
const CachedPrimitive& cached(const std::string& key, const std::function<CachedPrimitive()>& make);

// Attributes every primitive is created with.
dnnl::primitive_attr userScratchpadAttr();

// Memory for the scratchpad a primitive asks for (one growing buffer: calls are synchronous).
dnnl::memory scratchpadFor(const CachedPrimitive& p);

// Runs a primitive on the stream and waits for it.
void execute(const CachedPrimitive& p, std::unordered_map<int, dnnl::memory> args);

// The float data of argument `index`, which must be a Float32Array of exactly `expected`
// elements; throws a JS error naming `op` otherwise (so a bad call can never read out of bounds).
float* floats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name);
// Same, but the argument may be null (returns nullptr).
float* optionalFloats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name);
// Bytes of a Uint8Array argument of exactly `expected` bytes.
uint8_t* bytes(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name);
// `count` non-negative integers from an array argument.
std::vector<int64_t> ints(const Napi::CallbackInfo& info, size_t index, size_t count, const char* op, const char* name);
bool flag(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);
std::string text(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name);

// A plain (row-major) memory over caller-owned floats: zero copy.
dnnl::memory plain(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag, void* data);
dnnl::memory::desc plainDesc(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag);

std::string keyOf(const char* op, const std::vector<int64_t>& values);

// Runs body, turning oneDNN and C++ exceptions into JS errors that name the op.
Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, const std::function<void()>& body);
Napi::Value guardedValue(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body);

}  // namespace convkit
