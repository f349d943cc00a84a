// The guards of oneDNN's Winograd convolution plans (conv.cc; docs/native-backend.md#algorithm-choice):
// Winograd's transforms mix whole tiles, so a NaN or an infinity would reach outputs the direct
// sum keeps it from, and its JIT code crashed on buffers off the 64-byte grid. A guarded call with
// such inputs runs a direct alternate instead.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "finite.h"
#include "plan.h"

namespace convkit {

inline bool isWinograd(const char* impl) {
  return std::string(impl).find("wino") != std::string::npos;
}

// Whether a buffer starts off a 64-byte boundary. oneDNN's Winograd kernels then crash (their JIT
// code loads aligned: a 2x16x8x8 backward-weights conv crashed in 7 of 10 runs on glibc-placed
// arrays here), so their guards run the direct alternate on such buffers. The JavaScript side
// allocates aligned (runtime.ts allocate) and copies a bias that is not (alignedInput: weights
// loaded from a file are views into it); until it did, AlexNet's 3x3 convs ran direct this way.
inline bool anyMisaligned(const std::vector<void*>& buffers, size_t count) {
  for (size_t i = 0; i < count && i < buffers.size(); i++)
    if (reinterpret_cast<uintptr_t>(buffers[i]) % 64 != 0) return true;
  return false;
}

// A Winograd guard's check: one of the first `used` buffers (those the Winograd primitive reads
// or writes; a forward plan's last, the direct kernel's weights, is the alternate's alone) off the
// 64-byte grid, or a NaN or an infinity in one of `inputs` (buffer index, floats).
inline std::function<bool(const std::vector<void*>&, FiniteMemo*)> winogradCheck(
    std::vector<std::pair<size_t, int64_t>> inputs, size_t used = SIZE_MAX) {
  return [inputs, used](const std::vector<void*>& buffers, FiniteMemo* memo) {
    if (anyMisaligned(buffers, used)) return true;
    for (auto [i, n] : inputs)
      if (nonFiniteIn(memo, static_cast<const float*>(buffers[i]), n)) return true;
    return false;
  };
}

// The guard of a Winograd backward plan. As in the forward (winogradGuard), the transforms mix a
// whole tile, so a NaN or an infinity in one of `inputs` (buffer index, floats) would spread to
// gradients the direct sum keeps it from; such a call, or one with a misaligned buffer, runs
// `direct` instead: the direct algorithm on the same layouts and buffers (`scratchpad` grows to
// fit it). Finite data pays the scan.
template <typename Primitive, typename Pd>
NonFiniteGuard directIfNonFinite(std::vector<std::pair<size_t, int64_t>> inputs, const Pd& direct,
                                 dnnl::memory::desc& scratchpad) {
  if (direct.scratchpad_desc().get_size() > scratchpad.get_size()) scratchpad = direct.scratchpad_desc();
  NonFiniteGuard guard;
  guard.check = winogradCheck(std::move(inputs));
  guard.alternate = LazyPrimitive([direct] { return Primitive(direct); });
  return guard;
}

}  // namespace convkit
