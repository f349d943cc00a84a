// What the pooling plans share: pool.cc (the plans, the forward loops) and max_pool_backward.cc.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <vector>

namespace convkit::pooling {

// Ceil mode arrives as a larger bottom/right padding (pB, pR), as PyTorch hands it to oneDNN.
struct PoolGeometry {
  int64_t N, C, H, W, KH, KW, sH, sW, pT, pL, pB, pR, OH, OW;
  dnnl::memory::dims src() const { return {N, C, H, W}; }
  dnnl::memory::dims dst() const { return {N, C, OH, OW}; }
};

// A channel block as one GCC vector (the size must be a literal: a dependent one is ignored).
template <int B>
struct Lanes;
template <>
struct Lanes<8> {
  typedef float Floats __attribute__((vector_size(32)));
  typedef int32_t Ints __attribute__((vector_size(32)));
  typedef uint8_t Bytes __attribute__((vector_size(8)));
};
template <>
struct Lanes<16> {
  typedef float Floats __attribute__((vector_size(64)));
  typedef int32_t Ints __attribute__((vector_size(64)));
  typedef uint8_t Bytes __attribute__((vector_size(16)));
};

using Loop = std::function<void(const std::vector<void*>&, const std::vector<double>&)>;

// Max pooling of our own on nChw8c / nChw16c (buffers [src, dst, (workspace)], as oneDNN's) and,
// in inference, on nhwc (buffers [src, dst]): max_pool_forward.cc. Null for other layouts, or where
// a window could see no pixel (oneDNN's kernel runs them).
Loop blockedMaxPoolLoop(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                        const dnnl::memory::desc& ws);
Loop nhwcMaxPoolLoop(const PoolGeometry& g, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                     const dnnl::memory::desc& ws);

// Max pooling's backward of our own on nChw8c / nChw16c with oneDNN's workspace (buffers
// [diffDst, workspace, diffSrc]), or null for other layouts (oneDNN's kernel runs them).
Loop blockedMaxPoolBackwardLoop(const PoolGeometry& g, const dnnl::memory::desc& diffDst, const dnnl::memory::desc& ws,
                                const dnnl::memory::desc& diffSrc);

}  // namespace convkit::pooling
