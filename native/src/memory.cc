// Large buffers in transparent huge pages. A fresh 4 KiB page costs a fault on first touch, and
// under a hypervisor that fault is slow: 64 MiB first-touched took 35-38 ms here with 4 KiB pages
// and 10-20 ms with 2 MiB ones. A model's first pass writes tens of MiB of fresh buffers (weights
// converted to blocked layouts, activations), so the JS side asks for its large arrays here.
#include <napi.h>

#include <cerrno>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "plan.h"

namespace convkit {

#if defined(__linux__)
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
constexpr uintptr_t kPage = 4096;

uintptr_t roundUp(uintptr_t x, uintptr_t to) {
  return (x + to - 1) / to * to;
}

}  // namespace
#endif

// hugeBuffer(bytes) -> a zeroed ArrayBuffer of `bytes` starting on a 2 MiB boundary, its whole
// 2 MiB stretches advised as huge pages (where the kernel has them: madvise mode, or always),
// unmapped when the GC collects it; or null where this is not Linux (the caller allocates as usual).
Napi::Value HugeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes = integer(info, 0, "hugeBuffer", "bytes");
  if (bytes <= 0) throw Napi::RangeError::New(env, "hugeBuffer: argument 'bytes' must be positive, got 0");
#if defined(__linux__)
  const uintptr_t length = static_cast<uintptr_t>(bytes);
  const uintptr_t mapped = length + kHugePage;  // room to start on a 2 MiB boundary
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    throw Napi::Error::New(env,
                           "hugeBuffer: cannot map " + std::to_string(bytes) + " bytes (" + std::strerror(errno) + ")");
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = roundUp(begin, kHugePage);
  const uintptr_t end = start + roundUp(length, kPage);
  // Only [start, end) is kept: the slack before and after goes back at once.
  if (start > begin) munmap(raw, start - begin);
  if (begin + mapped > end) munmap(reinterpret_cast<void*>(end), begin + mapped - end);
  const uintptr_t whole = length / kHugePage * kHugePage;
  if (whole > 0) madvise(reinterpret_cast<void*>(start), whole, MADV_HUGEPAGE);  // a hint: no THP is fine
  auto* kept = new uintptr_t(end - start);
  return Napi::ArrayBuffer::New(
      env, reinterpret_cast<void*>(start), length,
      [](Napi::Env, void* data, uintptr_t* size) {
        munmap(data, *size);
        delete size;
      },
      kept);
#else
  return env.Null();
#endif
}
CONVKIT_EXPORT(hugeBuffer, HugeBuffer);

}  // namespace convkit
