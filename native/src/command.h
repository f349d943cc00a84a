// One queued command: a plan and its buffers and scalars, built from JavaScript values and checked
// against the plan (exec, programCreate), or a control function for the worker (setThreads);
// and how the worker runs one (executeCommand: the NaN/Inf guards, the cached oneDNN arguments).
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "plan.h"

namespace convkit {

// A recorded program's command keeps its oneDNN argument maps from its first run on: its buffers
// never change, and building the maps cost 2-3 us per command (0.2 ms of a 10 ms GoogLeNet
// batch-1 pass). Only the worker touches them.
struct ArgsCache {
  std::unordered_map<int, dnnl::memory> main, alternate;  // alternate: under the guard's own argument ids
};

// 64-byte aligned memory that grows on demand and is kept (only the worker uses it).
struct Scratchpad {
  std::vector<char> bytes;
  void* reserve(size_t size) {
    if (bytes.size() < size + 64) bytes.resize(size + 64);
    auto address = reinterpret_cast<uintptr_t>(bytes.data());
    return bytes.data() + (64 - address % 64) % 64;
  }
};

struct Command {
  std::shared_ptr<const Plan> plan;  // null for a control command
  std::vector<void*> buffers;
  std::vector<double> scalars;
  std::function<void()> control;      // runs on the worker (setThreads)
  std::shared_ptr<ArgsCache> cached;  // recorded programs only
  std::vector<ByteRange> writes;      // recorded programs only: what the command may write (finite_memo.h)
};

// Fills `command` from (plan id, buffers, scalars): every buffer checked against the plan's
// descriptors, the scalars read by the names the plan declares; errors name the op and the
// argument. Its arrays go into `keep` from index `keepAt` on (returns the next free index).
// With `withWrites`, command.writes gets the whole array of each buffer the plan may write.
uint32_t commandOf(Napi::Env env, Napi::Value planId, Napi::Value buffersValue, Napi::Value scalarsValue,
                   Command& command, Napi::Array keep, uint32_t keepAt, bool withWrites = false);

// The scalars `plan` reads, from an object keyed by their names (none: value must be undefined).
std::vector<double> scalarsOf(Napi::Env env, const Plan& plan, Napi::Value value);

// A program run's scalars for some of its commands: (command index, values), by increasing index.
using Patches = std::vector<std::pair<size_t, std::vector<double>>>;

// programRun's `patches` ([index, scalars][], undefined: none), checked against the program's commands.
Patches patchesOf(Napi::Env env, const std::vector<Command>& commands, Napi::Value value);

// Runs `command` on the worker's stream; returns "" or the error, naming the op. `memo`: the
// finite ranges of a program's run (null for a command queued alone).
std::string executeCommand(const Command& command, dnnl::stream& stream, Scratchpad& scratchpad, FiniteMemo* memo);

// The ranges of the arrays in `steadyValue` (programCreate's `steady`, undefined: none), less any a
// command of the program writes; each kept goes into `keep` from `keepAt` on.
std::vector<ByteRange> steadyRanges(Napi::Env env, Napi::Value steadyValue, const std::vector<Command>& commands,
                                    Napi::Array keep, uint32_t keepAt);

}  // namespace convkit
