#include "policy/lua_sandbox.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace hitl::policy::detail {
namespace {

// Registry key of the table of modules loaded by require (name -> value, or kLoadingKey while
// the module's chunk runs, to catch require loops).
const char kLoadedKey = 0;
const char kLoadingKey = 0;

// lua_Alloc that meters bytes and refuses to grow beyond the limit. Lua answers a refusal with
// LUA_ERRMEM after an emergency collection; shrinking never fails, as Lua requires.
void* metered_alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept {
  auto* m = static_cast<MemoryMeter*>(ud);
  const std::size_t old = ptr ? osize : 0;  // when ptr is null, osize is a type tag
  if (nsize == 0) {
    std::free(ptr);
    m->used -= old;
    return nullptr;
  }
  if (nsize > old && m->used - old + nsize > m->limit) {
    m->refused = true;
    return nullptr;
  }
  void* p = std::realloc(ptr, nsize);
  if (!p) {
    if (nsize > old) m->refused = true;
    return nullptr;
  }
  m->used = m->used - old + nsize;
  return p;
}

void count_hook(lua_State* L, lua_Debug*);

// Records the stop (the first one wins), makes the hook fire on every instruction, and raises.
// The hook then raises again at the first instruction after each pcall that caught the error,
// until it reaches the engine. (Hook settings belong to one lua_State: the one running, L.)
int raise_stop(lua_State* L, StateContext* c, Stop why) {
  if (c->stop == Stop::none) c->stop = why;
  c->budget.tightened = true;
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  lua_pushstring(L, stop_message(c->stop));
  return lua_error(L);
}

Stop check_guards(const StateContext* c, Stop over_budget) {
  if (c->stop != Stop::none) return c->stop;
  if (c->memory.refused) return Stop::memory;
  if (c->budget.used > c->budget.limit) return over_budget;
  if (c->interrupted && c->interrupted->load(std::memory_order_relaxed)) return Stop::interrupted;
  // Read every kHookEvery instructions (~25 ns each time): the deadline costs no measurable time.
  if (std::chrono::steady_clock::now() >= c->deadline) return Stop::deadline;
  return Stop::none;
}

void count_hook(lua_State* L, lua_Debug*) { charge(L, static_cast<std::uint64_t>(context_of(L)->budget.hook_every), Stop::budget); }

int on_panic(lua_State* L) {
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
  spdlog::critical("policy: unprotected Lua error, aborting: {}", msg);
  return 0;  // Lua aborts
}

// load(chunk [, chunkname [, mode [, env]]]) restricted to source strings in text mode.
int safe_load(lua_State* L) {
  if (lua_type(L, 1) != LUA_TSTRING) return luaL_error(L, "load: only source strings are allowed in policies");
  std::size_t len = 0;
  const char* src = lua_tolstring(L, 1, &len);
  const char* chunkname = luaL_optstring(L, 2, "=(load)");
  const char* mode = luaL_optstring(L, 3, "t");
  if (std::strchr(mode, 'b')) {
    lua_pushnil(L);
    lua_pushliteral(L, "load: binary chunks are refused in policies (mode must be \"t\")");
    return 2;
  }
  const bool has_env = !lua_isnone(L, 4);
  if (luaL_loadbufferx(L, src, len, chunkname, "t") != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;  // nil, message (like the standard load)
  }
  if (has_env) {
    lua_pushvalue(L, 4);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
  }
  return 1;
}

int safe_collectgarbage(lua_State* L) {
  const char* opt = luaL_optstring(L, 1, "count");
  if (std::strcmp(opt, "count") != 0)
    return luaL_error(L, "collectgarbage(\"%s\"): only \"count\" is allowed in policies", opt);
  const int kb = lua_gc(L, LUA_GCCOUNT);
  const int rest = lua_gc(L, LUA_GCCOUNTB);
  lua_pushnumber(L, static_cast<lua_Number>(kb) + static_cast<lua_Number>(rest) / 1024.0);
  return 1;
}

// Runs the stock library function kept as upvalue 1 in this closure's own frame (not through
// lua_call), so its argument errors still name the function and the policy's line.
int call_stock(lua_State* L) { return lua_tocfunction(L, lua_upvalueindex(1))(L); }

// string.rep copies in C where the instruction hook never runs: refuse results beyond the memory
// cap before copying, and answer "" for empty pieces (the stock version loops n times on them).
int safe_rep(lua_State* L) {
  std::size_t l = 0, lsep = 0;
  luaL_checklstring(L, 1, &l);
  const lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n <= 0 || l + lsep == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  StateContext* c = context_of(L);
  if (l + lsep > c->memory.limit / static_cast<std::size_t>(n)) {
    c->memory.refused = true;
    return luaL_error(L, "memory limit exceeded");
  }
  return call_stock(L);
}

// The message handler xpcall installs in front of the policy's. Lua runs a message handler
// before unwinding, in the frame that raised: for a guard's stop that is the count hook, where
// Lua turns hooks off, so the policy's handler would run with no budget at all (an endless handler
// held its thread for good). After a stop the error passes through untouched; otherwise the
// policy's handler runs as usual, under the hook.
int guarded_handler(lua_State* L) {
  const StateContext* c = context_of(L);
  if (c->stop != Stop::none || c->memory.refused) return 1;  // the error object, as it is
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// Continuation of safe_xpcall, as in Lua's own xpcall (lbaselib.c): false, error or true, results.
int finish_xpcall(lua_State* L, int status, lua_KContext extra) {
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - static_cast<int>(extra);
}

// xpcall(f, msgh, ...) with msgh wrapped in guarded_handler; yieldable like the original.
int safe_xpcall(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_handler, 1);
  lua_replace(L, 2);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);  // f's arguments after: true, f
  const int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_xpcall);
  return finish_xpcall(L, status, 2);
}

// setmetatable refusing __gc: Lua runs finalizers with hooks turned off (lgc.c GCTM), during any
// allocation or in lua_close, so no budget, deadline or interrupt could stop one. An object is
// only marked for finalization when its metatable has __gc at this point, so checking here is
// enough (a __gc added to the metatable later is never called).
int safe_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc metamethods are refused in policies (finalizers run outside the budget)");
    lua_pop(L, 1);
  }
  return call_stock(L);
}

enum TableFn : int { kMove, kUnpack, kConcat, kInsert, kRemove, kSort };

lua_Unsigned range_length(lua_Integer first, lua_Integer last) {
  return last < first ? 0 : static_cast<lua_Unsigned>(last) - static_cast<lua_Unsigned>(first) + 1;
}

// The length a table function will loop to. For insert, remove and sort Lua reads it through
// __len, which could answer differently on its second call: such tables are refused.
lua_Unsigned raw_length(lua_State* L, const char* fn) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
    luaL_error(L, "table.%s: tables with a __len metamethod are refused in policies", fn);
  return static_cast<lua_Unsigned>(lua_rawlen(L, 1));
}

// Fills in an omitted range end (argument `arg`) with #t, so the stock function loops exactly
// over the range charged here; returns the range's length.
lua_Unsigned pinned_range(lua_State* L, int arg) {
  const lua_Integer first = luaL_optinteger(L, arg - 1, 1);
  const lua_Integer last = lua_isnoneornil(L, arg) ? luaL_len(L, 1) : luaL_checkinteger(L, arg);
  lua_settop(L, std::max(lua_gettop(L), arg));
  lua_pushinteger(L, last);
  lua_replace(L, arg);
  return range_length(first, last);
}

// Steps the stock table function will take with these arguments (see bounded_table_fn).
lua_Unsigned table_work(lua_State* L, int fn) {
  switch (fn) {
    case kMove: return range_length(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3));
    case kUnpack: return pinned_range(L, 3);
    case kConcat: return pinned_range(L, 4);
    case kInsert: return raw_length(L, "insert");
    case kRemove: return raw_length(L, "remove");
    default: {
      const lua_Unsigned n = raw_length(L, "sort");
      lua_Unsigned log2n = 1;
      for (lua_Unsigned x = n; x > 1; x >>= 1) ++log2n;
      return n * log2n;  // comparisons; n < INT_MAX is checked by sort itself
    }
  }
}

// The table functions loop in C where the hook never runs (table.move(t, 1, 2^40, 2) looped for
// hours): their steps are charged to the budget before the stock function (upvalue 1) runs.
int bounded_table_fn(lua_State* L) {
  charge(L, table_work(L, static_cast<int>(lua_tointeger(L, lua_upvalueindex(2)))), Stop::budget);
  return call_stock(L);
}

void bound_table_functions(lua_State* L, int table_lib) {
  struct Fn { const char* name; TableFn kind; };
  for (Fn f : {Fn{"move", kMove}, Fn{"unpack", kUnpack}, Fn{"concat", kConcat}, Fn{"insert", kInsert},
               Fn{"remove", kRemove}, Fn{"sort", kSort}}) {
    lua_getfield(L, table_lib, f.name);
    lua_pushinteger(L, f.kind);
    lua_pushcclosure(L, bounded_table_fn, 2);
    lua_setfield(L, table_lib, f.name);
  }
}

// Replaces global `name` with closure `fn` holding the original as upvalue 1.
void wrap_global(lua_State* L, int g, const char* name, lua_CFunction fn) {
  lua_getfield(L, g, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, g, name);
}

void log_print(const StateContext* c, const char* s, std::size_t len) noexcept {
  try {
    spdlog::debug("policy[{}] print: {}", c->domain ? *c->domain : std::string(), std::string_view(s, len));
  } catch (...) {
  }
}

// print(...) goes to the debug log, never to the service's stdout.
int sandbox_print(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; ++i) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  std::size_t len = 0;
  const char* s = lua_tolstring(L, -1, &len);
  log_print(context_of(L), s, len);
  return 0;
}

// require(name): modules only from the resolver's folders, loaded in text mode, cached per state.
int sandbox_require(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kLoadedKey);  // 2: loaded
  lua_getfield(L, 2, name);                         // 3
  if (lua_touserdata(L, 3) == &kLoadingKey) return luaL_error(L, "require \"%s\": loop (the module requires itself)", name);
  if (!lua_isnil(L, 3)) return 1;
  lua_pop(L, 1);
  char error[1024];
  const ModuleSource* m = context_of(L)->modules->find(name, error, sizeof error);
  if (!m) return luaL_error(L, "%s", error);
  if (luaL_loadbufferx(L, m->source.data(), m->source.size(), m->chunkname.c_str(), "t") != LUA_OK)
    return lua_error(L);  // syntax error, already "file:line: message"
  lua_pushlightuserdata(L, const_cast<char*>(&kLoadingKey));
  lua_setfield(L, 2, name);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pushnil(L);
    lua_setfield(L, 2, name);  // a later require retries instead of reporting a loop
    return lua_error(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, 2, name);
  return 1;
}

void open_lib(lua_State* L, const char* name, lua_CFunction open) {
  luaL_requiref(L, name, open, 1);
  lua_pop(L, 1);
}

// Builds the sandbox; runs in protected mode (every step allocates).
int setup_sandbox(lua_State* L) {
  open_lib(L, LUA_GNAME, luaopen_base);
  open_lib(L, LUA_STRLIBNAME, luaopen_string);
  open_lib(L, LUA_TABLIBNAME, luaopen_table);
  open_lib(L, LUA_MATHLIBNAME, luaopen_math);
  open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);

  lua_pushglobaltable(L);
  const int g = lua_gettop(L);
  for (const char* removed : {"dofile", "loadfile"}) {
    lua_pushnil(L);
    lua_setfield(L, g, removed);
  }
  lua_pushcfunction(L, safe_load);
  lua_setfield(L, g, "load");
  lua_pushcfunction(L, safe_collectgarbage);
  lua_setfield(L, g, "collectgarbage");
  lua_pushcfunction(L, sandbox_print);
  lua_setfield(L, g, "print");
  lua_pushcfunction(L, sandbox_require);
  lua_setfield(L, g, "require");
  lua_pushcfunction(L, safe_xpcall);
  lua_setfield(L, g, "xpcall");
  wrap_global(L, g, "setmetatable", safe_setmetatable);
  lua_getfield(L, g, LUA_TABLIBNAME);
  bound_table_functions(L, lua_gettop(L));
  lua_pop(L, 1);

  lua_getfield(L, g, LUA_STRLIBNAME);
  const int str = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, str, "dump");
  lua_getfield(L, str, "rep");
  lua_pushcclosure(L, safe_rep, 1);
  lua_setfield(L, str, "rep");
  install_bounded_patterns(L, str);
  lua_pop(L, 1);

  // os: only the clock functions. luaopen_os is called directly so the full table is never
  // registered anywhere reachable.
  lua_pushcfunction(L, luaopen_os);
  lua_call(L, 0, 1);
  const int full_os = lua_gettop(L);
  lua_createtable(L, 0, 3);
  for (const char* kept : {"time", "clock", "date"}) {
    lua_getfield(L, full_os, kept);
    lua_setfield(L, -2, kept);
  }
  lua_setfield(L, g, "os");
  lua_pop(L, 1);

  lua_newtable(L);
  // The host functions are a preloaded module, not globals: only the standard library uses them.
  push_host_module(L);
  lua_setfield(L, -2, "hitl.host");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kLoadedKey);
  lua_pop(L, 1);  // globals
  return 0;
}

}  // namespace

StateContext* context_of(lua_State* L) noexcept { return *static_cast<StateContext**>(lua_getextraspace(L)); }

const char* stop_message(Stop why) noexcept {
  switch (why) {
    case Stop::none: return "";
    case Stop::budget: return "instruction budget exceeded";
    case Stop::memory: return "memory limit exceeded";
    case Stop::deadline: return "deadline exceeded";
    case Stop::pattern: return "pattern too complex (matching ran out of the instruction budget)";
    case Stop::interrupted: return "service stopping";
  }
  return "stopped";
}

void charge(lua_State* L, std::uint64_t units, Stop over_budget) {
  StateContext* c = context_of(L);
  auto& b = c->budget;
  b.used = units > b.limit - std::min(b.used, b.limit) ? b.limit + 1 : b.used + units;  // saturates
  const Stop why = check_guards(c, over_budget);
  if (why != Stop::none) raise_stop(L, c, why);
}

SandboxState::SandboxState(ModuleResolver& modules, const std::string& domain, std::uint64_t instruction_budget,
                           std::size_t memory_bytes, std::chrono::milliseconds deadline)
    : ctx_(std::make_unique<StateContext>()) {
  ctx_->memory.limit = memory_bytes;
  ctx_->modules = &modules;
  ctx_->domain = &domain;
  ctx_->deadline_after = deadline;
  auto& b = ctx_->budget;
  b.limit = instruction_budget;
  b.hook_every = instruction_budget < InstructionBudget::kHookEvery ? static_cast<int>(instruction_budget ? instruction_budget : 1)
                                                                   : InstructionBudget::kHookEvery;

  L_.reset(lua_newstate(metered_alloc, &ctx_->memory));
  if (!L_) throw std::runtime_error("cannot create a Lua state within the memory limit");
  lua_State* L = L_.get();
  *static_cast<StateContext**>(lua_getextraspace(L)) = ctx_.get();
  lua_atpanic(L, on_panic);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, b.hook_every);
  // Generational GC: each call leaves a few short-lived tables (p and its parts) while the
  // libraries stay live; measured about 1.4x more calls/s than incremental mode.
  lua_gc(L, LUA_GCGEN, 0, 0);
  begin_call();
  if (protected_call(L, setup_sandbox, nullptr) != LUA_OK) {
    bool broken = false;
    throw std::runtime_error("cannot set up the Lua sandbox: " + call_failure(*this, LUA_ERRRUN, broken));
  }
  lua_settop(L, 0);
}

SandboxState::~SandboxState() {
  // lua_close runs pending __close handlers (policies cannot set __gc): stop each at once.
  ctx_->stop = Stop::interrupted;
  ctx_->budget.tightened = true;
  lua_sethook(L_.get(), count_hook, LUA_MASKCOUNT, 1);
  L_.reset();
}

void SandboxState::begin_call() {
  if (ctx_->budget.tightened) {
    ctx_->budget.tightened = false;
    lua_sethook(L_.get(), count_hook, LUA_MASKCOUNT, ctx_->budget.hook_every);
  }
  ctx_->budget.used = 0;
  ctx_->stop = Stop::none;
  ctx_->memory.refused = false;
  ctx_->deadline = std::chrono::steady_clock::now() + ctx_->deadline_after;
}

int protected_call(lua_State* L, lua_CFunction fn, void* ud) noexcept {
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, ud);
  return lua_pcall(L, 1, 1, 0);
}

std::string call_failure(SandboxState& s, int status, bool& broken) {
  const StateContext& c = s.context();
  Stop why = c.stop;
  if (why == Stop::none && (c.memory.refused || status == LUA_ERRMEM)) why = Stop::memory;
  // A C function the guards cannot see into may have run past the deadline and returned: the
  // call still fails (it overran) and the state goes, like after any other stop.
  if (why == Stop::none && std::chrono::steady_clock::now() >= c.deadline) why = Stop::deadline;
  broken = why != Stop::none;
  if (broken) return stop_message(why);
  if (status == LUA_OK) return "";
  lua_State* L = s.L();
  switch (lua_type(L, -1)) {
    case LUA_TSTRING: {
      std::size_t n = 0;
      const char* m = lua_tolstring(L, -1, &n);
      return n ? std::string(m, n) : std::string("error with an empty message");
    }
    case LUA_TNUMBER: return "error " + std::to_string(lua_tonumber(L, -1));
    default: return std::string("error object is a ") + luaL_typename(L, -1) + " value";
  }
}

}  // namespace hitl::policy::detail
