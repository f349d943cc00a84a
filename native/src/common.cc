#include "common.h"

#include <sstream>
#include <unordered_map>

namespace convkit {

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpuStream() {
  static dnnl::stream stream(cpuEngine());
  return stream;
}

const CachedPrimitive& cached(const std::string& key, const std::function<CachedPrimitive()>& make) {
  static std::unordered_map<std::string, CachedPrimitive> cache;
  auto found = cache.find(key);
  if (found != cache.end()) return found->second;
  return cache.emplace(key, make()).first->second;
}

dnnl::primitive_attr userScratchpadAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::memory scratchpadFor(const CachedPrimitive& p) {
  // 64-byte aligned, grown on demand and kept: every call runs synchronously on one thread.
  static std::vector<uint8_t> buffer;
  size_t size = p.scratchpad.get_size();
  if (buffer.size() < size + 64) buffer.resize(size + 64);
  auto address = reinterpret_cast<uintptr_t>(buffer.data());
  void* aligned = buffer.data() + ((64 - address % 64) % 64);
  return dnnl::memory(p.scratchpad, cpuEngine(), aligned);
}

void execute(const CachedPrimitive& p, std::unordered_map<int, dnnl::memory> args) {
  args.insert({DNNL_ARG_SCRATCHPAD, scratchpadFor(p)});
  p.primitive.execute(cpuStream(), args);
  cpuStream().wait();
}

static std::string where(const char* op, const char* name) { return std::string(op) + ": argument '" + name + "' "; }

float* floats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a Float32Array");
  }
  auto array = v.As<Napi::Float32Array>();
  if (array.ElementLength() != expected) {
    throw Napi::RangeError::New(info.Env(), where(op, name) + "has " + std::to_string(array.ElementLength()) +
                                                " elements, expected " + std::to_string(expected));
  }
  return array.Data();
}

float* optionalFloats(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name) {
  if (info[index].IsNull() || info[index].IsUndefined()) return nullptr;
  return floats(info, index, expected, op, name);
}

uint8_t* bytes(const Napi::CallbackInfo& info, size_t index, size_t expected, const char* op, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a Uint8Array");
  }
  auto array = v.As<Napi::Uint8Array>();
  if (array.ElementLength() != expected) {
    throw Napi::RangeError::New(info.Env(), where(op, name) + "has " + std::to_string(array.ElementLength()) +
                                                " bytes, expected " + std::to_string(expected));
  }
  return array.Data();
}

std::vector<int64_t> ints(const Napi::CallbackInfo& info, size_t index, size_t count, const char* op, const char* name) {
  Napi::Value v = info[index];
  if (!v.IsArray() || v.As<Napi::Array>().Length() != count) {
    throw Napi::TypeError::New(info.Env(), where(op, name) + "must be an array of " + std::to_string(count) + " integers");
  }
  auto array = v.As<Napi::Array>();
  std::vector<int64_t> out(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value e = array[i];
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 1e12) || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::TypeError::New(info.Env(), where(op, name) + "element " + std::to_string(i) + " must be a non-negative integer");
    }
    out[i] = static_cast<int64_t>(d);
  }
  return out;
}

bool flag(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  if (!info[index].IsBoolean()) throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  double d = info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 1e12) || d != static_cast<double>(static_cast<int64_t>(d))) {
    throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a non-negative integer");
  }
  return static_cast<int64_t>(d);
}

std::string text(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  if (!info[index].IsString()) throw Napi::TypeError::New(info.Env(), where(op, name) + "must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

dnnl::memory::desc plainDesc(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag);
}

dnnl::memory plain(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag, void* data) {
  return dnnl::memory(plainDesc(dims, tag), cpuEngine(), data);
}

std::string keyOf(const char* op, const std::vector<int64_t>& values) {
  std::ostringstream s;
  s << op;
  for (auto v : values) s << ',' << v;
  return s.str();
}

Napi::Value guarded(const Napi::CallbackInfo& info, const char* op, const std::function<void()>& body) {
  return guardedValue(info, op, [&] {
    body();
    return info.Env().Undefined();
  });
}

Napi::Value guardedValue(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": oneDNN failed: " + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(op) + ": native error: " + e.what());
  }
}

}  // namespace convkit
