// Channel copies between 4-D maps in oneDNN's blocked layouts (nChw8c, nChw16c) whose channel
// counts need not fill whole blocks: the last block of a map is padded with zero lanes, so a
// channel changes lane wherever source and destination offsets differ. DenseNet-BC's joins
// (24 + 12k channels) and the sums of their gradients' boxes run here, staying blocked, instead
// of going through plain NCHW and a reorder on each side.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace convkit {

// Where one destination channel comes from: channel `channel` of source `source`, or (source < 0)
// the constant `fill`.
struct ChannelOrigin {
  int source;
  int64_t channel;
  float fill;
};

// Consecutive lanes of one destination block that come from consecutive lanes of one source
// block, or are filled.
struct LaneRun {
  int source;  // < 0: fill
  int64_t sourceBlock, sourceLane, lane, lanes;
  float fill;
};

// A planned copy: for each destination block, its runs. Padding lanes are runs of zeros.
struct BlockedCopy {
  int64_t block = 0, images = 0, spatial = 0, blocks = 0;
  std::vector<int64_t> sourceBlocks;       // blocks per image of each source
  std::vector<std::vector<LaneRun>> runs;  // per destination block
};

// The runs of a destination of `channels` channels whose channel c comes from origin(c);
// sourceChannels[i] is source i's channel count.
BlockedCopy planBlockedCopy(int64_t block, int64_t images, int64_t spatial, int64_t channels,
                            const std::vector<int64_t>& sourceChannels,
                            const std::function<ChannelOrigin(int64_t)>& origin);

// Runs it (OpenMP over images and destination blocks).
void runBlockedCopy(const BlockedCopy& copy, const std::vector<const float*>& sources, float* dst);

// dst = the sum of the copies in order (each with one source, sources[k]; all with dst's geometry):
// the first writes its lanes and zero padding, the others add theirs, one destination block at a
// time, so each block is written once while it is in cache.
void runBlockedSum(const std::vector<BlockedCopy>& copies, const std::vector<const float*>& sources, float* dst);

}  // namespace convkit
