// libgomp's spinning, cut short while JavaScript builds a cold pass (spin_throttle.cc).
#pragma once

#include <cstdint>

namespace convkit {

// From a new plan on: JavaScript is building a pass op by op, beside the worker's team.
void throttleSpin();
// JavaScript waits for the queue: the team's threads may spin again.
void unthrottleSpin();

struct SpinThrottleStats {
  bool on;
  int64_t periods;  // times it was turned on
};
SpinThrottleStats spinThrottleStats();

}  // namespace convkit
