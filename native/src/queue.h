// The native command queue (queue.cc): one worker thread per Node environment runs the commands
// exec() and programRun() queue, in order, with one OpenMP team, one stream and one scratchpad
// (docs/architecture.md#the-native-addon). The JS arrays of a queued command stay referenced until
// it has run, so GC cannot free them.
#pragma once

#include <omp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "command.h"
#include "plan.h"
#include "spin_throttle.h"

namespace convkit {

// A recorded program as the worker runs it: its commands, and what its guards found in its
// steady ranges (finite_memo.h; only the worker touches those verdicts).
struct ProgramBody {
  std::vector<Command> commands;
  mutable SteadyVerdicts verdicts;
};

class Queue {
 public:
  explicit Queue(Napi::Env env) {
    notifier_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                              "convkit-queue", 0, 1);
    notifier_.Unref(env);  // an idle queue must not keep the process alive
    worker_ = std::thread([this] { run(); });
  }

  void push(Command command, Napi::Array keep) {
    uint64_t seq, finished;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Entry entry;
      entry.command = std::move(command);
      entries_.push_back(std::move(entry));
      seq = ++submitted_;
      finished = finished_;
    }
    wake_.notify_all();  // the worker, and its team's threads when parked (waitForWork)
    // Long runs without a flush must not pin every array they ever used.
    while (!kept_.empty() && kept_.front().first <= finished) kept_.pop_front();
    kept_.emplace_back(seq, Napi::Persistent(keep));
  }

  // Queues a recorded program as one entry: the worker runs its commands in order, each counted
  // (and timed) as if queued alone. Copying them into the queue took 35-53 us per GoogLeNet
  // pass, under the lock the worker needs to start. `keep` holds every array they use.
  // `patches`: (command index, scalars) in increasing order, this run's values for those commands.
  void pushProgram(std::shared_ptr<const ProgramBody> program, Napi::Array keep, Patches patches) {
    uint64_t seq, finished;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      submitted_ += program->commands.size();
      Entry entry;
      entry.program = std::move(program);
      entry.patches = std::move(patches);
      entries_.push_back(std::move(entry));
      seq = submitted_;
      finished = finished_;
    }
    wake_.notify_all();  // the worker, and its team's threads when parked (waitForWork)
    while (!kept_.empty() && kept_.front().first <= finished) kept_.pop_front();
    kept_.emplace_back(seq, Napi::Persistent(keep));
  }

  // Recorded programs (main thread only): id -> commands and the arrays they use.
  struct Program {
    std::shared_ptr<const ProgramBody> body;
    Napi::Reference<Napi::Array> keep;
  };
  std::unordered_map<int, Program> programs;
  int nextProgram = 1;

  // Waits for every queued command; returns (and clears) the first unreported error.
  std::string waitAll(Napi::Env env, bool takeError) {
    unthrottleSpin();  // JavaScript waits: the team may spin again
    std::string error;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return finished_ == submitted_; });
    }
    settle(env);
    if (takeError) {
      std::lock_guard<std::mutex> lock(mutex_);
      error.swap(error_);
    }
    return error;
  }

  Napi::Promise whenDone(Napi::Env env) {
    unthrottleSpin();
    auto deferred = Napi::Promise::Deferred::New(env);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (waiters_.empty()) {
        notify_ = true;
        notifier_.Ref(env);  // keep the loop alive until the promise settles
      }
      waiters_.emplace_back(submitted_, deferred);
      notifyAt_ = waiters_.front().first;
    }
    settle(env);
    return deferred.Promise();
  }

  uint64_t pending() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_ - finished_;
  }

  uint64_t submitted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return submitted_;
  }

  // Profiling: while on, the worker records each command's run time, keyed by its sequence number.
  void setTiming(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    timing_ = on;
    if (!on) times_.clear();
  }

  std::vector<double> takeTimes() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<double> taken;
    taken.swap(times_);
    return taken;
  }

  // Main thread: drops references of finished commands, settles promises that are due.
  void settle(Napi::Env env) {
    std::vector<std::pair<Napi::Promise::Deferred, std::string>> due;
    uint64_t finished;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished = finished_;
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->first > finished_) {
          ++it;
          continue;
        }
        std::string error;
        if (!error_.empty() && errorSeq_ <= it->first) error.swap(error_);
        due.emplace_back(it->second, error);
        it = waiters_.erase(it);
      }
      if (waiters_.empty() && notify_) {
        notify_ = false;
        notifier_.Unref(env);
      }
      if (!waiters_.empty()) notifyAt_ = waiters_.front().first;
    }
    while (!kept_.empty() && kept_.front().first <= finished) kept_.pop_front();
    for (auto& [deferred, error] : due) {
      if (error.empty())
        deferred.Resolve(env.Undefined());
      else
        deferred.Reject(Napi::Error::New(env, error).Value());
    }
  }

  // Environment teardown: stop after the running command, then join.
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();  // the worker, and its team's threads when parked (waitForWork)
    if (worker_.joinable()) worker_.join();
    kept_.clear();
    waiters_.clear();
    notifier_.Release();
  }

 private:
  void run() {
    dnnl::stream stream(cpuEngine());
    Scratchpad scratchpad;
    for (;;) {
      Entry entry;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        waitForWork(lock);
        if (stopping_) return;
        entry = std::move(entries_.front());
        entries_.pop_front();
      }
      if (!entry.program) {
        runOne(entry.command, stream, scratchpad);
        continue;
      }
      // One memo per run: what this run's guards found finite, forgotten where a command writes.
      FiniteMemo memo(&entry.program->verdicts);
      auto patch = entry.patches.begin();
      const auto& commands = entry.program->commands;
      for (size_t i = 0; i < commands.size(); i++) {
        if (patch != entry.patches.end() && patch->first == i) {
          Command patched = commands[i];
          patched.scalars = std::move(patch->second);
          ++patch;
          runOne(patched, stream, scratchpad, &memo);
        } else {
          runOne(commands[i], stream, scratchpad, &memo);
        }
        memo.finished(commands[i].writes);
      }
    }
  }

  bool hasWork() const { return stopping_ || !entries_.empty(); }

  // Waits (holding `lock` on return) for a command. libgomp's idle threads spin 300,000 pauses
  // before they sleep (6-12 ms of CPU on a Zen 3 host), so while JavaScript builds a pass op by op
  // (a model's first pass: plans made, weights folded) and the worker waits for it between
  // commands, the team's other threads spin on the cores JavaScript needs. A short spin for every
  // wait (GOMP_SPINCOUNT=1000) sped DenseNet-121's first batch-1 pass from 205-293 to 139-170 ms on
  // a busy host but slowed replayed training steps by about 10%, whose kernels leave short gaps
  // too. So only an empty queue parks the team: after kParkAfter without work every thread sleeps
  // here, inside one parallel region, until a command comes; shorter waits keep libgomp's spin.
  void waitForWork(std::unique_lock<std::mutex>& lock) {
    static constexpr auto kParkAfter = std::chrono::microseconds(200);
    if (hasWork() || wake_.wait_for(lock, kParkAfter, [&] { return hasWork(); })) return;
    const int threads = omp_get_max_threads();
    if (threads > 1) {
      lock.unlock();
#pragma omp parallel num_threads(threads)
      {
        std::unique_lock<std::mutex> parked(mutex_);
        wake_.wait(parked, [&] { return hasWork(); });
      }
      lock.lock();
    }
    wake_.wait(lock, [&] { return hasWork(); });
  }

  void runOne(const Command& command, dnnl::stream& stream, Scratchpad& scratchpad, FiniteMemo* memo = nullptr) {
    auto start = std::chrono::steady_clock::now();
    std::string failure = executeCommand(command, stream, scratchpad, memo);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    bool notify, allDone;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_++;
      if (timing_) {
        times_.push_back(static_cast<double>(finished_));
        times_.push_back(ms);
      }
      if (!failure.empty() && error_.empty()) {
        error_ = failure;
        errorSeq_ = finished_;
      }
      // Only the command a waiter waits for wakes the main thread: waking it for every
      // command made it share the cores with the kernels (1.6 ms of 13.6 in a batch-1 pass).
      notify = notify_ && finished_ >= notifyAt_;
      allDone = finished_ == submitted_;
    }
    if (allDone) done_.notify_all();
    if (notify) notifier_.NonBlockingCall([this](Napi::Env env, Napi::Function) { settle(env); });
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // A queued command, or a recorded program's commands (shared with the program, never copied)
  // with this run's scalars for some of them.
  struct Entry {
    Command command;
    std::shared_ptr<const ProgramBody> program;
    Patches patches;
  };
  std::deque<Entry> entries_;
  uint64_t submitted_ = 0, finished_ = 0, errorSeq_ = 0;
  std::string error_;
  bool stopping_ = false, notify_ = false, timing_ = false;
  uint64_t notifyAt_ = 0;      // the earliest sequence number a promise waits for (waiters_ is in order)
  std::vector<double> times_;  // pairs (sequence number, ms) while timing_
  std::thread worker_;
  Napi::ThreadSafeFunction notifier_;
  // Main thread only:
  std::deque<std::pair<uint64_t, Napi::Reference<Napi::Array>>> kept_;
  std::vector<std::pair<uint64_t, Napi::Promise::Deferred>> waiters_;
};

// The queue of `env` (set up by initQueue when the addon loads).
Queue& queueOf(Napi::Env env);

}  // namespace convkit
