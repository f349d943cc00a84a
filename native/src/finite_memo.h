// What the NaN/Inf guards of a recorded program already know
// (docs/numerics.md#what-the-guards-cost-in-a-recorded-pass).
// A guard scans its inputs before each run of its command; in a program, many of those scans
// repeat: a residual block's input is scanned by its first conv and again as its sum's addend, an
// inception module's input by three branches, and the weights on every run. The memo of one run
// skips a scan of a range inside one found finite earlier in the run and not written since (every
// command's writes are known: command.cc). The program's steady ranges (the model's weights and
// their converted copies, which no command of the program writes, and which stay as they are
// while the program does: nn.recordInference records again when one changes) keep what their
// first scan found from run to run.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "finite.h"

namespace convkit {

struct ByteRange {
  uintptr_t begin = 0, end = 0;
  bool contains(const ByteRange& r) const { return begin <= r.begin && r.end <= end; }
  bool overlaps(const ByteRange& r) const { return begin < r.end && r.begin < end; }
};

inline ByteRange floatRange(const float* p, int64_t n) {
  auto at = reinterpret_cast<uintptr_t>(p);
  return {at, at + static_cast<uintptr_t>(n) * sizeof(float)};
}

// What a program's steady ranges were found to hold: kept by the program, used by the worker alone.
struct SteadyVerdicts {
  std::vector<ByteRange> steady;             // fixed when the program is made
  std::vector<ByteRange> finite, nonFinite;  // scanned ranges inside them, by verdict
};

class FiniteMemo {
 public:
  explicit FiniteMemo(SteadyVerdicts* steady) : steady_(steady) {}

  // Whether [p, p + n) is known to hold only finite values (no scan).
  bool knownFinite(const float* p, int64_t n) const {
    const ByteRange r = floatRange(p, n);
    return within(finite_, r) || (steady_ != nullptr && within(steady_->finite, r));
  }

  // The floats a scan of [p, p + n) reads on an average run: none when its finite values are
  // known, nor for a steady range (scanned once for the program's life).
  int64_t scanCost(const float* p, int64_t n) const {
    const ByteRange r = floatRange(p, n);
    return within(finite_, r) || (steady_ != nullptr && within(steady_->steady, r)) ? 0 : n;
  }

  // Whether [p, p + n) holds a NaN or an infinity: from what is known, else by a scan it remembers.
  bool nonFinite(const float* p, int64_t n) {
    if (knownFinite(p, n)) return false;
    const ByteRange r = floatRange(p, n);
    const bool steady = steady_ != nullptr && within(steady_->steady, r);
    if (steady)
      for (const ByteRange& bad : steady_->nonFinite)
        if (bad.begin == r.begin && bad.end == r.end) return true;
    const bool bad = anyNonFinite(p, n);
    if (steady)
      (bad ? steady_->nonFinite : steady_->finite).push_back(r);
    else if (!bad)
      finite_.push_back(r);
    return bad;
  }

  // The running command wrote [p, p + n) and saw every value finite (Plan::customChecked).
  void noteFinite(const float* p, int64_t n) { written_.push_back(floatRange(p, n)); }

  // A command has run that may have written `writes`: what this run knew of ranges overlapping
  // them no longer holds, except what the command itself noted.
  void finished(const std::vector<ByteRange>& writes) {
    for (const ByteRange& w : writes)
      finite_.erase(std::remove_if(finite_.begin(), finite_.end(), [&](const ByteRange& r) { return r.overlaps(w); }),
                    finite_.end());
    finite_.insert(finite_.end(), written_.begin(), written_.end());
    written_.clear();
  }

 private:
  static bool within(const std::vector<ByteRange>& ranges, const ByteRange& r) {
    for (const ByteRange& known : ranges)
      if (known.contains(r)) return true;
    return false;
  }

  SteadyVerdicts* steady_;
  std::vector<ByteRange> finite_;   // found finite in this run
  std::vector<ByteRange> written_;  // noted by the running command
};

// A guard's scan: through the memo of a program's run, or a plain scan for a command queued alone.
inline bool nonFiniteIn(FiniteMemo* memo, const float* p, int64_t n) {
  return memo != nullptr ? memo->nonFinite(p, n) : anyNonFinite(p, n);
}

inline bool knownFiniteIn(const FiniteMemo* memo, const float* p, int64_t n) {
  return memo != nullptr && memo->knownFinite(p, n);
}

inline int64_t scanCostIn(const FiniteMemo* memo, const float* p, int64_t n) {
  return memo != nullptr ? memo->scanCost(p, n) : n;
}

}  // namespace convkit
