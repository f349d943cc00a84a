// Channel copies between padded blocked maps (blocked_channels.h).
#include "blocked_channels.h"

#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace convkit {

namespace {

bool extends(const LaneRun& run, const LaneRun& next) {
  if (run.source != next.source || run.lane + run.lanes != next.lane) return false;
  if (next.source < 0) return run.fill == next.fill;
  return run.sourceBlock == next.sourceBlock && run.sourceLane + run.lanes == next.sourceLane;
}

// `lanes` lanes from lane `from` of each source pixel to lane `to` of each destination pixel:
// written over dst's, or (Add) added to them.
template <bool Add>
void moveLanes(const float* src, int64_t from, float* dst, int64_t to, int64_t lanes, int64_t spatial, int64_t block) {
#if defined(__AVX512F__)
  if (block == 16) {
    // One masked load and store per pixel: a vector read `to - from` lanes before the source lanes
    // holds them in the destination lanes (the masked-off lanes are never read).
    const auto mask = static_cast<__mmask16>(((1u << lanes) - 1u) << to);
    const auto shift = static_cast<intptr_t>(from - to) * static_cast<intptr_t>(sizeof(float));
    const auto base = reinterpret_cast<uintptr_t>(src) + shift;
    for (int64_t p = 0; p < spatial; p++) {
      __m512 v = _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(base + p * 16 * sizeof(float)));
      if constexpr (Add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst + p * 16), v);
      _mm512_mask_storeu_ps(dst + p * 16, mask, v);
    }
    return;
  }
#endif
  for (int64_t p = 0; p < spatial; p++) {
    for (int64_t j = 0; j < lanes; j++) {
      if constexpr (Add) {
        dst[p * block + to + j] += src[p * block + from + j];
      } else {
        dst[p * block + to + j] = src[p * block + from + j];
      }
    }
  }
}

void fillLanes(float* dst, int64_t to, int64_t lanes, float value, int64_t spatial, int64_t block) {
  for (int64_t p = 0; p < spatial; p++)
    for (int64_t j = 0; j < lanes; j++) dst[p * block + to + j] = value;
}

// One destination block of one image: copy's runs written (add: added, fills skipped).
void blockRuns(const BlockedCopy& copy, const float* const* sources, int64_t n, int64_t b, float* out, bool add) {
  const int64_t block = copy.block, spatial = copy.spatial, plane = block * spatial;
  for (const LaneRun& run : copy.runs[b]) {
    if (run.source < 0) {
      if (!add) fillLanes(out, run.lane, run.lanes, run.fill, spatial, block);
      continue;
    }
    const float* in = sources[run.source] + (n * copy.sourceBlocks[run.source] + run.sourceBlock) * plane;
    if (add) {
      moveLanes<true>(in, run.sourceLane, out, run.lane, run.lanes, spatial, block);
    } else if (run.lanes == block) {
      std::memcpy(out, in, plane * sizeof(float));  // a whole block (both offsets 0)
    } else {
      moveLanes<false>(in, run.sourceLane, out, run.lane, run.lanes, spatial, block);
    }
  }
}

}  // namespace

BlockedCopy planBlockedCopy(int64_t block, int64_t images, int64_t spatial, int64_t channels,
                            const std::vector<int64_t>& sourceChannels,
                            const std::function<ChannelOrigin(int64_t)>& origin) {
  BlockedCopy copy;
  copy.block = block;
  copy.images = images;
  copy.spatial = spatial;
  copy.blocks = (channels + block - 1) / block;
  for (int64_t c : sourceChannels) copy.sourceBlocks.push_back((c + block - 1) / block);
  copy.runs.resize(copy.blocks);
  for (int64_t b = 0; b < copy.blocks; b++) {
    std::vector<LaneRun>& runs = copy.runs[b];
    for (int64_t lane = 0; lane < block; lane++) {
      const int64_t c = b * block + lane;
      const ChannelOrigin o = c < channels ? origin(c) : ChannelOrigin{-1, 0, 0.0f};  // padding stays zero
      const LaneRun next = o.source < 0 ? LaneRun{-1, 0, 0, lane, 1, o.fill}
                                        : LaneRun{o.source, o.channel / block, o.channel % block, lane, 1, 0.0f};
      if (!runs.empty() && extends(runs.back(), next)) {
        runs.back().lanes++;
      } else {
        runs.push_back(next);
      }
    }
  }
  return copy;
}

void runBlockedCopy(const BlockedCopy& copy, const std::vector<const float*>& sources, float* dst) {
  const int64_t plane = copy.block * copy.spatial;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < copy.images; n++) {
    for (int64_t b = 0; b < copy.blocks; b++)
      blockRuns(copy, sources.data(), n, b, dst + (n * copy.blocks + b) * plane, false);
  }
}

void runBlockedSum(const std::vector<BlockedCopy>& copies, const std::vector<const float*>& sources, float* dst) {
  const BlockedCopy& first = copies[0];
  const int64_t plane = first.block * first.spatial;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < first.images; n++) {
    for (int64_t b = 0; b < first.blocks; b++) {
      float* out = dst + (n * first.blocks + b) * plane;
      for (size_t k = 0; k < copies.size(); k++) blockRuns(copies[k], &sources[k], n, b, out, k > 0);
    }
  }
}

}  // namespace convkit
