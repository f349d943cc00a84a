// One queued command: a plan and its buffers and scalars, built from JavaScript values and checked
// against the plan (exec, programCreate), or a control function for the worker (setThreads).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "plan.h"

namespace convkit {

struct Command {
  std::shared_ptr<const Plan> plan;  // null for a control command
  std::vector<void*> buffers;
  std::vector<double> scalars;
  std::function<void()> control;  // runs on the worker (setThreads)
};

// Fills `command` from (plan id, buffers, scalars): every buffer checked against the plan's
// descriptors, the scalars read by the names the plan declares; errors name the op and the
// argument. Its arrays go into `keep` from index `keepAt` on (returns the next free index).
uint32_t commandOf(Napi::Env env, Napi::Value planId, Napi::Value buffersValue, Napi::Value scalarsValue,
                   Command& command, Napi::Array keep, uint32_t keepAt);

}  // namespace convkit
