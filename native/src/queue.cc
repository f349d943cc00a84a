// Queued execution: exec() checks the buffers against the plan (command.cc) and appends a
// command to the queue (queue.h), whose worker runs them in order; flushes, timing and the thread
// count. Recorded programs are queued by program.cc.
#include "queue.h"

namespace convkit {

Queue& queueOf(Napi::Env env) {
  return *env.GetInstanceData<Queue>();
}

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
