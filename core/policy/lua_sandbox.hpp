#pragma once
// Private to hitl_policy: a sandboxed lua_State with an instruction budget and a memory cap.
//
// Lua (built as C) reports errors with longjmp, so every Lua call that can raise (anything that
// allocates) runs inside protected_call(), and the C functions called there keep no C++ objects
// with destructors alive across Lua calls.
#include "policy/module_resolver.hpp"

#include <lua.hpp>

#include <atomic>
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

// Instruction budget of one call, counted by a LUA_MASKCOUNT hook every `kHookEvery` instructions.
struct InstructionBudget {
  static constexpr int kHookEvery = 1000;
  int hook_every = kHookEvery;
  std::uint64_t ticks = 0;
  std::uint64_t max_ticks = 0;
  bool exceeded = false;   // sticky for one call, like MemoryMeter::refused
  bool tightened = false;  // the hook runs on every instruction until the next call
};

// Reached from the lua_State through lua_getextraspace (hooks and C functions get only L).
struct StateContext {
  MemoryMeter memory;
  InstructionBudget budget;
  ModuleResolver* modules = nullptr;
  const std::string* domain = nullptr;  // for log lines from print()
  const std::atomic<const SignalSource*>* signals = nullptr;  // hitl.stats(); null value: none
};

// Pushes the table `require "hitl.host"` returns: the host functions behind hitl.now() and
// hitl.stats() (host_module.cpp). Runs in protected mode.
void push_host_module(lua_State* L);

StateContext* context_of(lua_State* L) noexcept;

struct LuaCloser {
  void operator()(lua_State* L) const noexcept { lua_close(L); }
};
using LuaPtr = std::unique_ptr<lua_State, LuaCloser>;

// One sandboxed state: base (minus dofile/loadfile, text-only load), string (minus dump), table,
// math, utf8, os.time/clock/date, collectgarbage("count"), a require limited to the resolver's
// folders, and print() going to the debug log.
class SandboxState {
 public:
  // Throws std::runtime_error when the state cannot be created within the memory cap.
  SandboxState(ModuleResolver& modules, const std::string& domain, std::uint64_t instruction_budget,
               std::size_t memory_bytes);
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

// After protected_call: "" when the call succeeded, otherwise the failure text. Budget and memory
// failures win over whatever error object Lua produced (a policy may have caught them with
// pcall). `broken` says the state should be discarded (memory or budget failure).
std::string call_failure(SandboxState& s, int status, bool& broken);

}  // namespace hitl::policy::detail
