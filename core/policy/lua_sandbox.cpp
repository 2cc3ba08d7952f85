#include "policy/lua_sandbox.hpp"

#include <spdlog/spdlog.h>

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

// Once the budget is spent (or the allocator refused memory) the hook fires on every instruction
// and raises again, so a policy that catches the error with pcall cannot keep running: the error
// resurfaces at the first instruction after each pcall until it reaches the engine.
void count_hook(lua_State* L, lua_Debug*) {
  StateContext* c = context_of(L);
  const bool out_of_budget = c->budget.exceeded || ++c->budget.ticks > c->budget.max_ticks;
  if (!out_of_budget && !c->memory.refused) return;
  if (!c->budget.tightened) {
    c->budget.tightened = true;
    lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  }
  if (out_of_budget) {
    c->budget.exceeded = true;
    lua_pushliteral(L, "instruction budget exceeded");
  } else {
    lua_pushliteral(L, "memory limit exceeded");
  }
  lua_error(L);
}

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
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
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

  lua_getfield(L, g, LUA_STRLIBNAME);
  const int str = lua_gettop(L);
  lua_pushnil(L);
  lua_setfield(L, str, "dump");
  lua_getfield(L, str, "rep");
  lua_pushcclosure(L, safe_rep, 1);
  lua_setfield(L, str, "rep");
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

SandboxState::SandboxState(ModuleResolver& modules, const std::string& domain, std::uint64_t instruction_budget,
                           std::size_t memory_bytes)
    : ctx_(std::make_unique<StateContext>()) {
  ctx_->memory.limit = memory_bytes;
  ctx_->modules = &modules;
  ctx_->domain = &domain;
  auto& b = ctx_->budget;
  b.hook_every = instruction_budget < InstructionBudget::kHookEvery ? static_cast<int>(instruction_budget ? instruction_budget : 1)
                                                                   : InstructionBudget::kHookEvery;
  b.max_ticks = instruction_budget / static_cast<std::uint64_t>(b.hook_every);
  if (b.max_ticks == 0) b.max_ticks = 1;

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
  // Finalizers (__gc) run in lua_close: let the hook stop any of them at once.
  ctx_->budget.exceeded = true;
  ctx_->budget.tightened = true;
  lua_sethook(L_.get(), count_hook, LUA_MASKCOUNT, 1);
  L_.reset();
}

void SandboxState::begin_call() {
  if (ctx_->budget.tightened) {
    ctx_->budget.tightened = false;
    lua_sethook(L_.get(), count_hook, LUA_MASKCOUNT, ctx_->budget.hook_every);
  }
  ctx_->budget.ticks = 0;
  ctx_->budget.exceeded = false;
  ctx_->memory.refused = false;
}

int protected_call(lua_State* L, lua_CFunction fn, void* ud) noexcept {
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, ud);
  return lua_pcall(L, 1, 1, 0);
}

std::string call_failure(SandboxState& s, int status, bool& broken) {
  const StateContext& c = s.context();
  broken = false;
  if (c.memory.refused || status == LUA_ERRMEM) {
    broken = true;
    return "memory limit exceeded";
  }
  if (c.budget.exceeded) {
    broken = true;
    return "instruction budget exceeded";
  }
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
