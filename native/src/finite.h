// Helpers for the NaN/Inf guards (NonFiniteGuard in plan.h, docs/numerics.md): scans that tell
// whether a buffer holds a NaN or a non-finite value (vectorised, threaded when large), a ReLU
// that keeps NaN, and the physical offset of a logical index in a plain or blocked descriptor.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>

namespace convkit {

// Floats in a buffer of `md` (padding lanes of blocked layouts included: they hold zeros).
inline int64_t floatsOf(const dnnl::memory::desc& md) {
  return static_cast<int64_t>(md.get_size() / sizeof(float));
}

// Whether p[0..n) holds a NaN.
inline bool anyNaN(const float* p, int64_t n) {
  int bad = 0;
#pragma omp parallel for simd if (n > 65536) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < n; i++) bad |= p[i] != p[i];
  return bad != 0;
}

// Whether p[0..n) holds a NaN or -inf (max pooling's guard).
inline bool anyNaNOrNegativeInfinity(const float* p, int64_t n) {
  int bad = 0;
#pragma omp parallel for simd if (n > 65536) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < n; i++) bad |= (p[i] != p[i]) | (p[i] < -3.4028234663852886e38f);
  return bad != 0;
}

// Whether p[0..n) holds a NaN or an infinity (x - x is 0 exactly for finite x, NaN otherwise).
inline bool anyNonFinite(const float* p, int64_t n) {
  int bad = 0;
#pragma omp parallel for simd if (n > 65536) schedule(static) reduction(| : bad)
  for (int64_t i = 0; i < n; i++) bad |= (p[i] - p[i]) != 0.f;
  return bad != 0;
}

// Whether n values `stride` apart from p hold a NaN or an infinity (short rows: no threads).
inline bool anyNonFiniteStrided(const float* p, int64_t n, int64_t stride) {
  for (int64_t i = 0; i < n; i++)
    if ((p[i * stride] - p[i * stride]) != 0.f) return true;
  return false;
}

// y = y < 0 ? 0 : y in place: PyTorch's ReLU, NaN stays NaN (oneDNN's max(y, 0) gives 0).
inline void reluKeepingNaN(float* y, int64_t n) {
#pragma omp parallel for simd if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = y[i] < 0.f ? 0.f : y[i];
}

// Offset in elements of the logical index idx[0..ndims) in a plain or blocked descriptor (as
// oneDNN's own memory_desc_wrapper::off_v).
inline int64_t physicalOffset(const dnnl::memory::desc& md, const int64_t* idx) {
  const dnnl_memory_desc_t& d = md.data;
  const auto& b = d.format_desc.blocking;
  int64_t pos[DNNL_MAX_NDIMS];
  for (int i = 0; i < d.ndims; i++) pos[i] = idx[i];
  int64_t offset = d.offset0, blockStride = 1;
  for (int k = b.inner_nblks - 1; k >= 0; k--) {
    const int dim = b.inner_idxs[k];
    offset += (pos[dim] % b.inner_blks[k]) * blockStride;
    pos[dim] /= b.inner_blks[k];
    blockStride *= b.inner_blks[k];
  }
  for (int i = 0; i < d.ndims; i++) offset += pos[i] * b.strides[i];
  return offset;
}

}  // namespace convkit
