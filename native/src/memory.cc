// Large and mid-sized buffers in transparent huge pages. A fresh 4 KiB page costs a fault on
// first touch, and under a hypervisor that fault is slow: 64 MiB first-touched took 35-38 ms on
// one host with 4 KiB pages and 10-20 ms with 2 MiB ones; another paid 2.9 ms per MiB against
// 0.1-0.3. A model's first pass writes tens of MiB of fresh buffers (weights converted to blocked
// layouts, activations), so the JS side asks for its arrays of 64 KiB and more here.
#include <napi.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

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

// Maps `length` bytes (a multiple of 4 KiB) starting on a 2 MiB boundary, its whole 2 MiB
// stretches advised as huge pages (a hint: no THP is fine); 0 when the kernel refuses.
uintptr_t mapAligned(uintptr_t length) {
  const uintptr_t mapped = length + kHugePage;  // room to start on a 2 MiB boundary
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return 0;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = roundUp(begin, kHugePage);
  const uintptr_t end = start + length;
  // Only [start, end) is kept: the slack before and after goes back at once.
  if (start > begin) munmap(raw, start - begin);
  if (begin + mapped > end) munmap(reinterpret_cast<void*>(end), begin + mapped - end);
  const uintptr_t whole = length / kHugePage * kHugePage;
  if (whole > 0) madvise(reinterpret_cast<void*>(start), whole, MADV_HUGEPAGE);
  return start;
}

// Buffers of 64 KiB up to 2 MiB, each its own ArrayBuffer, carved from 8 MiB chunks in huge pages.
// Most of a model's weights, their blocked and folded copies and its batch-1 activations are this
// size, and as separate 4 KiB-page allocations each page faulted on first touch: 2.9 ms per MiB
// on one hypervisor (0.3 in huge pages), 150 ms of GoogLeNet's 220 ms first pass. A collected
// buffer's region goes on a free list of its size class (sizes rounded up by at most an eighth)
// and is zeroed when handed out again; a chunk whose regions are all free is unmapped.
class Arena {
 public:
  static constexpr uintptr_t kChunk = uintptr_t{8} << 20;
  static constexpr uintptr_t kSmallest = uintptr_t{64} << 10;

  struct Region {
    Arena* arena;
    uintptr_t chunk;  // its chunk's start
    uintptr_t size;   // its size class
  };

  // A size class: `bytes` rounded up to a multiple of an eighth of its power of two (at least 4 KiB).
  static uintptr_t sizeClass(uintptr_t bytes) {
    uintptr_t power = kSmallest;
    while (power * 2 <= bytes) power *= 2;
    return roundUp(bytes, std::max(kPage, power / 8));
  }

  // A zeroed region of at least `bytes` (kSmallest <= bytes < kHugePage), or null if no chunk can be mapped.
  Region* take(uintptr_t bytes, void** data) {
    const uintptr_t size = sizeClass(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto& spare = free_[size];
    uintptr_t at = 0, chunk = 0;
    if (!spare.empty()) {
      at = spare.back();
      spare.pop_back();
      chunk = chunkOf(at);
      std::memset(reinterpret_cast<void*>(at), 0, size);
    } else {
      if (current_ == 0 || used_ + size > kChunk) {
        uintptr_t fresh = mapAligned(kChunk);
        if (fresh == 0) return nullptr;
        const uintptr_t previous = current_;
        current_ = fresh;
        used_ = 0;
        live_[fresh] = 0;
        if (previous != 0 && live_[previous] == 0) release(previous);
      }
      at = current_ + used_;
      used_ += size;
      chunk = current_;
    }
    live_[chunk]++;
    liveBytes_ += size;
    *data = reinterpret_cast<void*>(at);
    return new Region{this, chunk, size};
  }

  void give(void* data, Region* region) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[region->size].push_back(reinterpret_cast<uintptr_t>(data));
    liveBytes_ -= region->size;
    if (--live_[region->chunk] == 0 && region->chunk != current_) release(region->chunk);
    delete region;
  }

  // Chunks mapped, and the bytes handed out and not yet collected (tests read these).
  std::pair<size_t, size_t> stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {live_.size(), liveBytes_};
  }

 private:
  uintptr_t chunkOf(uintptr_t at) const {
    auto it = live_.upper_bound(at);
    return std::prev(it)->first;
  }

  // Unmaps a chunk with no live region, dropping its free regions from the lists.
  void release(uintptr_t chunk) {
    for (auto& [size, list] : free_)
      list.erase(std::remove_if(list.begin(), list.end(), [&](uintptr_t at) { return at - chunk < kChunk; }),
                 list.end());
    live_.erase(chunk);
    munmap(reinterpret_cast<void*>(chunk), kChunk);
  }

  std::mutex mutex_;                  // finalizers of several Node environments (worker threads) may meet here
  std::map<uintptr_t, size_t> live_;  // chunk start -> regions handed out
  std::map<uintptr_t, std::vector<uintptr_t>> free_;  // size class -> free regions
  uintptr_t current_ = 0, used_ = 0;                  // the chunk being carved, and how far
  size_t liveBytes_ = 0;
};

Arena& arena() {
  static Arena* instance = new Arena();  // never destroyed: buffers may be collected at exit
  return *instance;
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
  const uintptr_t start = mapAligned(roundUp(length, kPage));
  if (start == 0)
    throw Napi::Error::New(env,
                           "hugeBuffer: cannot map " + std::to_string(bytes) + " bytes (" + std::strerror(errno) + ")");
  auto* kept = new uintptr_t(roundUp(length, kPage));
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

// arenaBuffer(bytes) -> a zeroed ArrayBuffer of `bytes` (64 KiB up to 2 MiB) from the huge-page
// arena above, its region reused when the GC collects it; or null where this is not Linux or no
// chunk could be mapped (the caller allocates as usual).
Napi::Value ArenaBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes = integer(info, 0, "arenaBuffer", "bytes");
#if defined(__linux__)
  if (bytes < static_cast<int64_t>(Arena::kSmallest) || bytes >= static_cast<int64_t>(kHugePage))
    throw Napi::RangeError::New(
        env, "arenaBuffer: argument 'bytes' must be at least 65536 and below 2097152, got " + std::to_string(bytes));
  void* data = nullptr;
  Arena::Region* region = arena().take(static_cast<uintptr_t>(bytes), &data);
  if (region == nullptr) return env.Null();
  return Napi::ArrayBuffer::New(
      env, data, static_cast<size_t>(bytes), [](Napi::Env, void* at, Arena::Region* r) { r->arena->give(at, r); },
      region);
#else
  (void)bytes;
  return env.Null();
#endif
}
CONVKIT_EXPORT(arenaBuffer, ArenaBuffer);

// arenaStats() -> { chunks, liveBytes }: the arena's mapped chunks and the bytes of its regions
// handed out and not yet collected (size classes included).
Napi::Value ArenaStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
#if defined(__linux__)
  auto [chunks, live] = arena().stats();
#else
  size_t chunks = 0, live = 0;
#endif
  out.Set("chunks", static_cast<double>(chunks));
  out.Set("liveBytes", static_cast<double>(live));
  return out;
}
CONVKIT_EXPORT(arenaStats, ArenaStats);

}  // namespace convkit
