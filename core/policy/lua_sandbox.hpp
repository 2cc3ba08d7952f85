#pragma once
// Private to hitl_policy: a sandboxed lua_State and the limits of one call (instruction budget,
// deadline, memory cap, interrupt; docs/policy.md, "Limits").
//
// Lua (built as C) reports errors with longjmp, so every Lua call that can raise (anything that
// allocates) runs inside protected_call(), and the C functions called there keep no C++ objects
// with destructors alive across Lua calls.
#include "policy/module_resolver.hpp"

#include <lua.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace hitl::policy { class SignalSource; }

namespace hitl::policy::detail {

// Bytes held by one state; the allocator refuses growth beyond `limit`.
struct MemoryMeter {
  std::size_t used = 0;
  std::size_t limit = 0;
  bool refused = false;  // sticky for one call: a refusal fails the call even if Lua caught it
};

// Why a call was stopped by a guard (docs/policy.md, "Budgets"). Sticky for one call: once set,
// every later instruction of the call raises again, so pcall/xpcall inside the policy cannot
// rescue it, and the engine discards the state afterwards.
enum class Stop : std::uint8_t { none, budget, memory, deadline, pattern, interrupted };

// The failure text of each stop ("" for none); the engine reports it as the policy's error.
const char* stop_message(Stop why) noexcept;

// Work of one call: Lua instructions (counted by a LUA_MASKCOUNT hook every `hook_every`
// instructions) plus the steps of C library functions that loop where the hook never runs
// (pattern matching, table.move/unpack/...), charged through charge().
struct InstructionBudget {
  static constexpr int kHookEvery = 1000;
  int hook_every = kHookEvery;
  std::uint64_t used = 0;
  std::uint64_t limit = 0;
  bool tightened = false;  // the hook runs on every instruction until the next call
};

// Reached from the lua_State through lua_getextraspace (hooks and C functions get only L).
struct StateContext {
  MemoryMeter memory;
  InstructionBudget budget;
  Stop stop = Stop::none;
  std::chrono::milliseconds deadline_after{1000};      // per call
  std::chrono::steady_clock::time_point deadline{};     // of the call in progress
  const std::atomic<bool>* interrupted = nullptr;      // the engine's interrupt(); may be null
  ModuleResolver* modules = nullptr;
  const std::string* domain = nullptr;  // for log lines from print()
  const std::atomic<const SignalSource*>* signals = nullptr;  // hitl.stats(); null value: none
  const std::atomic<std::int64_t>* clock_offset = nullptr;    // the engine's shift of hitl.now(); may be null
};

// Adds `units` of work to the call and checks every guard (budget, deadline, memory, interrupt).
// When one fails, raises its stop_message as a Lua error; `over_budget` names the stop when the
// budget is what ran out (Stop::budget from the hook, Stop::pattern from the pattern matcher).
// Only from C code running inside the call, in protected mode.
void charge(lua_State* L, std::uint64_t units, Stop over_budget);

// Replaces string.find/match/gmatch/gsub in the table at `string_table` with a step-bounded
// copy of Lua 5.4's matcher whose steps are charged (lua_patterns.cpp).
void install_bounded_patterns(lua_State* L, int string_table);

// Pushes the table `require "hitl.host"` returns: the host functions behind hitl.now() and
// hitl.stats() (host_module.cpp). Runs in protected mode.
void push_host_module(lua_State* L);

StateContext* context_of(lua_State* L) noexcept;

struct LuaCloser {
  void operator()(lua_State* L) const noexcept { lua_close(L); }
};
using LuaPtr = std::unique_ptr<lua_State, LuaCloser>;

// One sandboxed state: base (minus dofile/loadfile, text-only load, setmetatable without __gc,
// xpcall whose handler never runs for a guard's stop), string (minus dump, bounded patterns),
// table (bounded loops), math, utf8, os.time/clock/date, collectgarbage("count"), a require
// limited to the resolver's folders, and print() going to the debug log.
class SandboxState {
 public:
  // Throws std::runtime_error when the state cannot be created within the memory cap.
  SandboxState(ModuleResolver& modules, const std::string& domain, std::uint64_t instruction_budget,
               std::size_t memory_bytes, std::chrono::milliseconds deadline);
  ~SandboxState();
  SandboxState(const SandboxState&) = delete;
  SandboxState& operator=(const SandboxState&) = delete;

  lua_State* L() const { return L_.get(); }
  StateContext& context() { return *ctx_; }
  // Resets the per-call counters; call before each protected_call().
  void begin_call();

 private:
  std::unique_ptr<StateContext> ctx_;  // declared first: must outlive the state (allocator, hook)
  LuaPtr L_;
};

// Restores the stack height on scope exit.
class StackGuard {
 public:
  explicit StackGuard(lua_State* L) : L_(L), top_(lua_gettop(L)) {}
  ~StackGuard() { lua_settop(L_, top_); }
  StackGuard(const StackGuard&) = delete;
  StackGuard& operator=(const StackGuard&) = delete;

 private:
  lua_State* L_;
  int top_;
};

// Calls fn(ud) in protected mode with one result left on the stack. Returns the lua_pcall status;
// on error the error object is on top.
int protected_call(lua_State* L, lua_CFunction fn, void* ud) noexcept;

// After protected_call: "" when the call succeeded, otherwise the failure text. A guard's stop
// wins over whatever error object Lua produced (a policy may have caught it with pcall).
// `broken` says the state must be discarded: any guard fired (it may have stopped Lua half-way
// through updating the state, or a C function ran past the deadline).
std::string call_failure(SandboxState& s, int status, bool& broken);

}  // namespace hitl::policy::detail
