// Recorded programs: a list of commands checked once (as exec checks them) and queued with one
// call per run (nn.recordInference, recordTrainingStep; src/backend/native/recording.ts).
#include <algorithm>

#include "queue.h"

namespace convkit {

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

}  // namespace convkit
