// libgomp's threads spin 300,000 pauses (several ms) at every barrier and between parallel regions
// before they sleep, unless libgomp manages more threads than there are CPUs: then 100. That spin
// pays in a recorded pass, whose kernels follow each other closely, but not while JavaScript builds
// a model's first pass op by op: JavaScript (making plans, folding weights) and the worker's team
// share the cores, and a thread spinning for a partner that JavaScript's thread has displaced takes
// the core JavaScript needs. OMP_WAIT_POLICY=passive for the whole process cut the first batch-1
// passes of GoogLeNet and DenseNet-121 by 9-21% on a 2-core Zen 3 host, and slowed steady passes
// (docs/native-backend.md#openmp-threads).
//
// So from the first new plan until JavaScript next waits for the queue, a helper thread holds an
// OpenMP team of two asleep: libgomp then manages more threads than CPUs and spins 100 pauses
// (gomp_throttled_spin_count_var, since GCC 4.4). The helper leaving frees its team, and the count
// drops back. Where the OpenMP runtime counts no such thing, the helper only sleeps.
#include "spin_throttle.h"

#include <napi.h>
#include <omp.h>

#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "plan.h"

namespace convkit {

namespace {

class SpinThrottle {
 public:
  void on() {
    std::lock_guard<std::mutex> hold(switching_);
    if (!enabled_ || helper_.joinable() || omp_get_max_threads() < 2) return;  // one thread spins for nobody
    {
      std::lock_guard<std::mutex> lock(mutex_);
      release_ = false;
    }
    try {
      helper_ = std::thread([this] {
#pragma omp parallel num_threads(2)
        {
          std::unique_lock<std::mutex> lock(mutex_);
          wake_.wait(lock, [&] { return release_; });
        }
      });
      periods_++;
    } catch (const std::system_error&) {
      // No thread to spare: libgomp spins as it always did.
    }
  }

  void off() {
    std::lock_guard<std::mutex> hold(switching_);
    if (!helper_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      release_ = true;
    }
    wake_.notify_all();
    helper_.join();  // its thread's exit frees the team (libgomp's count drops again)
  }

  void enable(bool enabled) {
    if (!enabled) off();
    std::lock_guard<std::mutex> hold(switching_);
    enabled_ = enabled;
  }

  SpinThrottleStats stats() {
    std::lock_guard<std::mutex> hold(switching_);
    return {helper_.joinable(), periods_};
  }

 private:
  std::mutex switching_;  // main threads of several Node environments may switch it
  std::thread helper_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool release_ = false;
  bool enabled_ = true;
  int64_t periods_ = 0;
};

SpinThrottle& throttle() {
  static SpinThrottle* instance = new SpinThrottle();  // never destroyed: exit may find it on
  return *instance;
}

}  // namespace

void throttleSpin() {
  throttle().on();
}

void unthrottleSpin() {
  throttle().off();
}

SpinThrottleStats spinThrottleStats() {
  return throttle().stats();
}

// setSpinThrottle(enabled): whether new plans cut libgomp's spin short (CONVKIT_SPIN_THROTTLE).
Napi::Value SetSpinThrottle(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw Napi::TypeError::New(info.Env(), "setSpinThrottle: argument 'enabled' must be a boolean");
  throttle().enable(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}
CONVKIT_EXPORT(setSpinThrottle, SetSpinThrottle);

// spinThrottle() -> { on, periods }: whether libgomp's spin is cut short now (a new plan was made
// since JavaScript last waited for the queue), and how many times it was.
Napi::Value SpinThrottleState(const Napi::CallbackInfo& info) {
  SpinThrottleStats s = spinThrottleStats();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("on", s.on);
  out.Set("periods", static_cast<double>(s.periods));
  return out;
}
CONVKIT_EXPORT(spinThrottle, SpinThrottleState);

}  // namespace convkit
