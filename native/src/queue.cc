// Queued execution: exec() checks the buffers against the plan (command.cc) and appends a
// command; one worker thread (one OpenMP team, one stream, one scratchpad:
// docs/architecture.md#the-native-addon) runs commands in order, and programCreate/programRun keep
// and queue recorded lists of them. The JS arrays of a queued command stay referenced until it has
// run, so GC cannot free them.
#include <omp.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "command.h"
#include "plan.h"

namespace convkit {

namespace {

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

Queue& queueOf(Napi::Env env) {
  return *env.GetInstanceData<Queue>();
}

}  // namespace

Napi::Value Exec(const Napi::CallbackInfo& info) {
  return guardedValue(info, "exec", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Command command;
    Napi::Array keep = Napi::Array::New(env);
    commandOf(env, info[0], info[1], info[2], command, keep, 0);
    queueOf(env).push(std::move(command), keep);
    return env.Undefined();
  });
}
CONVKIT_EXPORT(exec, Exec);

// programCreate(commands: [plan, buffers, scalars?][], steady?: Float32Array[]) -> id: the
// commands checked once, as exec checks them, and kept with their plans (a plan the JS cache
// evicts stays alive here) and arrays. `steady`: arrays that stay as they are while the program
// does (their NaN/Inf scans are kept from run to run: finite_memo.h).
Napi::Value ProgramCreate(const Napi::CallbackInfo& info) {
  return guardedValue(info, "programCreate", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray())
      throw Napi::TypeError::New(env,
                                 "programCreate: argument 'commands' must be an array of [plan, buffers, scalars]");
    Napi::Array list = info[0].As<Napi::Array>();
    Queue::Program program;
    auto body = std::make_shared<ProgramBody>();
    Napi::Array keep = Napi::Array::New(env);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value entry = list[i];
      if (!entry.IsArray() || entry.As<Napi::Array>().Length() < 2)
        throw Napi::TypeError::New(
            env, "programCreate: command " + std::to_string(i) + " must be [plan, buffers, scalars?]");
      Napi::Array c = entry.As<Napi::Array>();
      Command command;
      try {
        kept = commandOf(env, c[0u], c[1u], c.Length() > 2 ? c[2u] : env.Undefined(), command, keep, kept, true);
      } catch (const Napi::Error& e) {
        throw Napi::TypeError::New(env, "programCreate: command " + std::to_string(i) + ": " + e.Message());
      }
      command.cached = std::make_shared<ArgsCache>();
      body->commands.push_back(std::move(command));
    }
    body->verdicts.steady = steadyRanges(env, info[1], body->commands, keep, kept);
    program.body = std::move(body);
    program.keep = Napi::Persistent(keep);
    Queue& queue = queueOf(env);
    int id = queue.nextProgram++;
    queue.programs.emplace(id, std::move(program));
    return Napi::Number::New(env, id);
  });
}
CONVKIT_EXPORT(programCreate, ProgramCreate);

Queue::Program& programOf(const Napi::CallbackInfo& info, const char* op) {
  int64_t id = integer(info, 0, op, "program");
  auto& programs = queueOf(info.Env()).programs;
  auto it = programs.find(static_cast<int>(std::clamp<int64_t>(id, INT32_MIN, INT32_MAX)));
  if (it == programs.end())
    throw Napi::RangeError::New(
        info.Env(), std::string(op) + ": argument 'program' is an unknown program id (" + std::to_string(id) + ")");
  return it->second;
}

// programRun(id, patches?: [index, scalars][]): queues the program's commands, in order, with
// one call; the commands at the patches' indices (increasing) run with those scalars this time
// (an optimiser's learning rate and bias corrections), as exec reads them. The program keeps its own.
Napi::Value ProgramRun(const Napi::CallbackInfo& info) {
  return guardedValue(info, "programRun", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Queue::Program& program = programOf(info, "programRun");
    Patches patches = patchesOf(env, program.body->commands, info.Length() > 1 ? info[1] : env.Undefined());
    queueOf(env).pushProgram(program.body, program.keep.Value(), std::move(patches));
    return env.Undefined();
  });
}
CONVKIT_EXPORT(programRun, ProgramRun);

// programRelease(id) -> false for an unknown id. Queued runs keep their plans and arrays.
Napi::Value ProgramRelease(const Napi::CallbackInfo& info) {
  return guardedValue(info, "programRelease", [&]() -> Napi::Value {
    int64_t id = integer(info, 0, "programRelease", "program");
    auto& programs = queueOf(info.Env()).programs;
    return Napi::Boolean::New(info.Env(),
                              programs.erase(static_cast<int>(std::clamp<int64_t>(id, INT32_MIN, INT32_MAX))) > 0);
  });
}
CONVKIT_EXPORT(programRelease, ProgramRelease);

Napi::Value FlushSync(const Napi::CallbackInfo& info) {
  std::string error = queueOf(info.Env()).waitAll(info.Env(), true);
  if (!error.empty()) throw Napi::Error::New(info.Env(), error);
  return info.Env().Undefined();
}
CONVKIT_EXPORT(flushSync, FlushSync);

Napi::Value FlushAsync(const Napi::CallbackInfo& info) {
  return queueOf(info.Env()).whenDone(info.Env());
}
CONVKIT_EXPORT(flushAsync, FlushAsync);

Napi::Value Pending(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(queueOf(info.Env()).pending()));
}
CONVKIT_EXPORT(pending, Pending);

Napi::Value Submitted(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(queueOf(info.Env()).submitted()));
}
CONVKIT_EXPORT(submitted, Submitted);

Napi::Value SetQueueTiming(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw Napi::TypeError::New(info.Env(), "setQueueTiming: argument 'on' must be a boolean");
  queueOf(info.Env()).setTiming(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}
CONVKIT_EXPORT(setQueueTiming, SetQueueTiming);

Napi::Value TakeQueueTimes(const Napi::CallbackInfo& info) {
  std::vector<double> times = queueOf(info.Env()).takeTimes();
  auto out = Napi::Float64Array::New(info.Env(), times.size());
  std::copy(times.begin(), times.end(), out.Data());
  return out;
}
CONVKIT_EXPORT(takeQueueTimes, TakeQueueTimes);

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return guardedValue(info, "setThreads", [&]() -> Napi::Value {
    int64_t n = integer(info, 0, "setThreads", "threads");
    if (n < 1 || n > 4096)
      throw Napi::RangeError::New(info.Env(), "setThreads: argument 'threads' must be between 1 and 4096");
    // Primitive creation on this thread sizes per-thread scratch by it; the worker runs them.
    omp_set_num_threads(static_cast<int>(n));
    Command command;
    command.control = [n] { omp_set_num_threads(static_cast<int>(n)); };
    Queue& queue = queueOf(info.Env());
    queue.push(std::move(command), Napi::Array::New(info.Env()));
    queue.waitAll(info.Env(), false);
    return info.Env().Undefined();
  });
}
CONVKIT_EXPORT(setThreads, SetThreads);

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}
CONVKIT_EXPORT(getThreads, GetThreads);

void initQueue(Napi::Env env) {
  auto* queue = new Queue(env);
  env.SetInstanceData<Queue>(queue);
  napi_add_env_cleanup_hook(
      env, [](void* q) { static_cast<Queue*>(q)->shutdown(); }, queue);
}

}  // namespace convkit
