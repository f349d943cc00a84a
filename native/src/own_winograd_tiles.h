// What convkit's Winograd kernels for AVX2 builds share (own_winograd.cc, the forward, F(2x2, 3x3)
// or F(4x4, 3x3); own_winograd_weights.cc, the backward weights, of the same two): sizes, the
// F(2x2, 3x3) input tile transform, and one set of work buffers.
#pragma once

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>

#include <vector>

#include "conv_common.h"
#include "finite_memo.h"

namespace convkit::winograd {

using convplan::ConvGeometry;

struct Sizes {
  int64_t N, C, O, H, W;
  int64_t CB, OB, Cp, O16;  // blocks of `lanes` channels in and out, input channels padded, 16-output groups
  int64_t m, r, P;          // outputs per tile side (2 or 4), kernel side (3 or 5), positions ((m + r - 1)^2)
  int64_t TH, TW, T;        // tiles down, across, in all
  bool fused;               // each thread runs all steps on its own groups (U fits its L2)
  int64_t group;            // tiles per group
  size_t uFloats() const { return static_cast<size_t>(P * O16 * Cp * 16); }
  size_t vFloats() const { return static_cast<size_t>(P * group * Cp); }
  size_t mFloats() const { return static_cast<size_t>(P * group * O16 * 16); }
};

inline int64_t l2Bytes() {
  const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return bytes > 0 ? bytes : 512 * 1024;
}

// The sizes of F(m x m, 3x3) on `g` (m: 2 or 4) over blocks of `lanes` channels (8, or 16 in own_winograd16.cc).
inline Sizes sizesOf(const ConvGeometry& g, int64_t m = 2, int64_t lanes = 8) {
  Sizes s{};
  s.N = g.N, s.C = g.C, s.O = g.O, s.H = g.H, s.W = g.W;
  s.CB = (g.C + lanes - 1) / lanes, s.OB = (g.O + lanes - 1) / lanes, s.Cp = s.CB * lanes, s.O16 = (g.O + 15) / 16;
  s.m = m, s.r = g.KH, s.P = (m + s.r - 1) * (m + s.r - 1);
  s.TH = (g.H + m - 1) / m, s.TW = (g.W + m - 1) / m, s.T = g.N * s.TH * s.TW;
  const int64_t roundedT = (s.T + 5) / 6 * 6;
  // F(4x4, 3x3) (and F(2x2, 5x5)) runs fused up to a U of 6 L2s: its shared schedule's groups (36 positions) spill
  // V and M to L3 and wait at three barriers each, which cost more than U streaming from L3 once
  // per fused group (measured on Zen 3, L2 512 KiB: 64 -> 64 and 128 -> 32 channels at 56x56, U
  // 576 KiB, and 128 -> 128 at 28x28, U 2.3 MiB, ran 10-20 % faster fused; 256 -> 256, U 9 MiB,
  // no faster).
  s.fused = static_cast<int64_t>(s.uFloats() * sizeof(float)) <= (s.P == 36 ? 6 : 1) * l2Bytes();
  // Measured on Zen 5 at 16-512 channels (F(2x2, 3x3)): a fused group's V and M in about 120 KiB;
  // a shared group's V and M at most 256 KiB per position. Groups are whole micro-kernel rows (6
  // tiles).
  const int64_t perTile = s.fused ? 4 * s.P * (s.Cp + s.O16 * 16) : 4 * std::max(s.Cp, s.O16 * 16);
  const int64_t budget = s.fused ? 120 * 1024 : 256 * 1024;
  s.group =
      std::min(roundedT, std::max<int64_t>(6, std::min<int64_t>(budget / perTile, s.fused ? 120 : 1 << 20) / 6 * 6));
  return s;
}

// What follows a forward's sum, as oneDNN's post-ops order it: y + bias, + addend (a residual sum,
// laid out as y), then ReLU (keeping NaN). Null pointers: absent.
struct Epilogue {
  const float* bias = nullptr;
  const float* addend = nullptr;
  bool relu = false;
};

// A forward plan's epilogue from its buffers [src, weights, (bias), dst, (addend)], dst at `dstAt`.
inline Epilogue epilogueOf(const std::vector<void*>& buffers, bool bias, bool sum, bool relu, size_t dstAt) {
  Epilogue e;
  e.bias = bias ? static_cast<const float*>(buffers[2]) : nullptr;
  e.addend = sum ? static_cast<const float*>(buffers[dstAt + 1]) : nullptr;
  e.relu = relu;
  return e;
}
// Whether its bias (of `outputs` floats) or its addend (of `dstFloats`) holds a NaN or an infinity.
inline bool nonFiniteIn(FiniteMemo* memo, const Epilogue& e, int64_t outputs, int64_t dstFloats) {
  return (e.bias && nonFiniteIn(memo, e.bias, outputs)) || (e.addend && nonFiniteIn(memo, e.addend, dstFloats));
}

struct Tile {
  int64_t n, th, tw;
};
inline Tile tileAt(const Sizes& s, int64_t t) {
  const int64_t perImage = s.TH * s.TW, r = t % perImage;
  return {t / perImage, r / s.TW, r % s.TW};
}

// V[p][i][cb * 8 ..] of tile t (the i-th of its group) for one 8-channel block.
inline void inputTile(const float* x, float* V, const Sizes& s, int64_t t, int64_t i, int64_t cb) {
  const Tile at = tileAt(s, t);
  const float* map = x + (at.n * s.CB + cb) * s.H * s.W * 8;
  const int64_t h0 = 2 * at.th - 1, w0 = 2 * at.tw - 1;
  __m256 d[4][4];
  if (h0 >= 0 && h0 + 4 <= s.H && w0 >= 0 && w0 + 4 <= s.W) {
    const float* q = map + (h0 * s.W + w0) * 8;
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++) d[a][b] = _mm256_loadu_ps(q + (a * s.W + b) * 8);
  } else {
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++) {
        const int64_t h = h0 + a, c = w0 + b;
        const bool inside = h >= 0 && h < s.H && c >= 0 && c < s.W;
        d[a][b] = inside ? _mm256_loadu_ps(map + (h * s.W + c) * 8) : _mm256_setzero_ps();
      }
  }
  __m256 e[4][4];
  for (int b = 0; b < 4; b++) {
    e[0][b] = _mm256_sub_ps(d[0][b], d[2][b]);
    e[1][b] = _mm256_add_ps(d[1][b], d[2][b]);
    e[2][b] = _mm256_sub_ps(d[2][b], d[1][b]);
    e[3][b] = _mm256_sub_ps(d[1][b], d[3][b]);
  }
  const size_t plane = s.vFloats() / 16;
  float* v = V + i * s.Cp + cb * 8;
  for (int a = 0; a < 4; a++) {
    _mm256_storeu_ps(v + (a * 4 + 0) * plane, _mm256_sub_ps(e[a][0], e[a][2]));
    _mm256_storeu_ps(v + (a * 4 + 1) * plane, _mm256_add_ps(e[a][1], e[a][2]));
    _mm256_storeu_ps(v + (a * 4 + 2) * plane, _mm256_sub_ps(e[a][2], e[a][1]));
    _mm256_storeu_ps(v + (a * 4 + 3) * plane, _mm256_sub_ps(e[a][1], e[a][3]));
  }
}

// The cache lines of `rows` map rows from row m th + `first` of each tile row th that tiles [t0, t0 + count)
// touch, in every block of `lanes` channels (16: a pixel a line), handed out to the prefetcher in s.P
// shares. Without them the Winograd kernels' products waited on memory in training steps, whose maps
// come from memory (own_winograd16.cc).
class RowLines {
 public:
  RowLines(const float* map, const Sizes& s, int64_t t0, int64_t count, int64_t blocks, int64_t first, int64_t rows,
           int64_t lanes = 16)
      : map_(reinterpret_cast<const char*>(map)),
        s_(s),
        blocks_(blocks),
        first_(first),
        rows_(rows),
        rowBytes_(s.W * lanes * 4),
        rowLines_((rowBytes_ + 63) / 64) {
    if (count <= 0) return;
    const Tile a = tileAt(s, t0), b = tileAt(s, t0 + count - 1);
    n_ = a.n, th_ = a.th, tileRowsLeft_ = (b.n - a.n) * s.TH + b.th - a.th + 1;
    share_ = (tileRowsLeft_ * blocks * rows * rowLines_ + s.P - 1) / s.P;
    startRow();
  }
  // The next of its s.P shares (one before each position's products), for reading or for writing.
  void prefetchShare(bool write) {
    for (int64_t lines = share_; lines > 0 && tileRowsLeft_ > 0; lines--) {
      if (row_ != nullptr) {
        const char* line = row_ + j_ * 64;
        if (write)
          _m_prefetchw(const_cast<char*>(line));
        else
          _mm_prefetch(line, _MM_HINT_T1);
      }
      if (++j_ < rowLines_) continue;
      j_ = 0;
      if (++k_ == rows_) {
        k_ = 0;
        if (++cb_ == blocks_) {
          cb_ = 0, tileRowsLeft_--;
          if (++th_ == s_.TH) th_ = 0, n_++;
        }
      }
      startRow();
    }
  }

 private:
  // row_: the current map row's first line, or null where the row lies in the padding.
  void startRow() {
    const int64_t h = s_.m * th_ + first_ + k_;
    row_ = h >= 0 && h < s_.H ? map_ + ((n_ * blocks_ + cb_) * s_.H + h) * rowBytes_ : nullptr;
  }
  const char* map_;
  const Sizes& s_;
  int64_t blocks_, first_, rows_, rowBytes_, rowLines_, share_ = 0;
  int64_t n_ = 0, th_ = 0, tileRowsLeft_ = 0, cb_ = 0, k_ = 0, j_ = 0;
  const char* row_ = nullptr;
};

// 64-byte aligned floats that only grow: one set for all plans (they run one at a time).
struct Floats {
  std::unique_ptr<float, decltype(&std::free)> data{nullptr, &std::free};
  size_t size = 0;
  float* atLeast(size_t n) {
    if (n > size) {
      data.reset(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)));
      if (!data) throw std::bad_alloc();
      size = n;
    }
    return data.get();
  }
};
struct Scratch {
  std::mutex lock;
  Floats u, v, m;
};
inline Scratch& scratch() {
  static Scratch s;
  return s;
}

}  // namespace convkit::winograd
#endif
