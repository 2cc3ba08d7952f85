// The host side of the policy standard library: `require "hitl.host"` (used by scripts/lib/hitl.lua
// for hitl.now() and hitl.stats()). The functions run inside Lua frames, so every C++ step that
// allocates or may throw happens in a noexcept helper whose frame ends before the next Lua call.
#include "common/clock.hpp"
#include "policy/lua_sandbox.hpp"
#include "policy/lua_values.hpp"
#include "policy/policy_engine.hpp"

#include <cmath>
#include <optional>
#include <cstdio>
#include <cstring>
#include <string>

namespace hitl::policy::detail {
namespace {

// The service clock (common/clock.hpp, which tests shift) plus the engine's own shift (a test
// case's "now"), epoch milliseconds.
std::int64_t policy_now_ms(const StateContext* c) noexcept {
  return hitl::now_ms() + (c && c->clock_offset ? c->clock_offset->load(std::memory_order_relaxed) : 0);
}

int host_now_ms(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(policy_now_ms(context_of(L))));
  return 1;
}

struct StatsQuery {
  const char* domain = nullptr;
  std::size_t domain_len = 0;
  const char* segment = nullptr;  // null: the whole domain
  std::size_t segment_len = 0;
  std::int64_t window = 0;
  WindowFigures out;
  StatsStatus status = StatsStatus::unknown_domain;
  std::int64_t max_window = 0;
  bool no_source = false;
};

void run_query(const SignalSource* src, StatsQuery& q, std::int64_t now) noexcept {
  try {
    const std::string domain(q.domain, q.domain_len);
    std::string segment;
    if (q.segment) segment.assign(q.segment, q.segment_len);
    q.max_window = src->max_window_seconds();
    q.status = src->window(domain, q.segment ? &segment : nullptr, q.window, now, q.out);
  } catch (...) {
    q.status = StatsStatus::unknown_domain;
  }
}

// A number segment as the service formats a JSON number value (ingest/signals.cpp): integers
// without a fraction, others with %.17g.
int push_segment_text(lua_State* L, int idx) {
  if (lua_isinteger(L, idx)) {
    lua_pushfstring(L, "%I", static_cast<LUAI_UACINT>(lua_tointeger(L, idx)));
    return 1;
  }
  const double x = lua_tonumber(L, idx);
  char buf[40];
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9.0e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
  else
    std::snprintf(buf, sizeof buf, "%.17g", x);
  lua_pushstring(L, buf);
  return 1;
}

// stats(window_seconds, segment_or_nil) -> figures table, or nil, message (the Lua wrapper raises
// it at the policy's line).
int host_stats(lua_State* L) {
  StateContext* c = context_of(L);
  const SignalSource* src = c->signals ? c->signals->load(std::memory_order_acquire) : nullptr;
  if (!src) {
    lua_pushnil(L);
    lua_pushliteral(L, "no rolling statistics in this process (they exist in hitl serve and hitl ingest)");
    return 2;
  }
  StatsQuery q;
  q.domain = c->domain ? c->domain->data() : "";
  q.domain_len = c->domain ? c->domain->size() : 0;
  const double w = luaL_checknumber(L, 1);
  q.window = std::isfinite(w) && w > 0 && w < 1e12 ? static_cast<std::int64_t>(std::ceil(w)) : 0;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    push_segment_text(L, 2);
    lua_replace(L, 2);
  }
  if (lua_type(L, 2) == LUA_TSTRING) q.segment = lua_tolstring(L, 2, &q.segment_len);
  run_query(src, q, policy_now_ms(c));
  switch (q.status) {
    case StatsStatus::ok: break;
    case StatsStatus::bad_window:
      lua_pushnil(L);
      luaL_tolstring(L, 1, nullptr);  // 7200, not 7200.0
      lua_pushfstring(L, "window must be a number of seconds in [1, %I], got %s", static_cast<LUAI_UACINT>(q.max_window),
                      lua_tostring(L, -1));
      lua_remove(L, -2);
      return 2;
    case StatsStatus::no_segment_field:
      lua_pushnil(L);
      lua_pushfstring(L, "domain %s has no stats_segment in the service config, so there are no segments to ask for",
                      q.domain_len ? q.domain : "(unknown)");
      return 2;
    default:
      lua_pushnil(L);
      lua_pushliteral(L, "no statistics for this domain");
      return 2;
  }
  const WindowFigures& f = q.out;
  lua_createtable(L, 0, 12);
  set_integer(L, "window", static_cast<long long>(f.window_seconds));
  set_integer(L, "predictions", static_cast<long long>(f.predictions));
  set_integer(L, "flagged", static_cast<long long>(f.flagged));
  set_integer(L, "rejected", static_cast<long long>(f.rejected));
  set_integer(L, "errors", static_cast<long long>(f.errors));
  set_integer(L, "reviews", static_cast<long long>(f.reviews));
  set_integer(L, "open_tasks", f.open_tasks < 0 ? 0 : static_cast<long long>(f.open_tasks));
  const double n = static_cast<double>(f.predictions);
  set_number(L, "flag_rate", f.predictions ? static_cast<double>(f.flagged) / n : 0.0);
  set_number(L, "reject_rate", f.predictions ? static_cast<double>(f.rejected) / n : 0.0);
  set_number(L, "error_rate", f.predictions ? static_cast<double>(f.errors) / n : 0.0);
  if (q.segment) {
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "segment");
  }
  return 1;
}

// A figure of the domain's signals for one number argument, pushed, or nil when the source has
// none yet (or there is no source in this process).
template <class Ask>
int push_signal(lua_State* L, Ask ask) {
  StateContext* c = context_of(L);
  const SignalSource* src = c->signals ? c->signals->load(std::memory_order_acquire) : nullptr;
  const double arg = luaL_checknumber(L, 1);
  const std::optional<double> v = src && c->domain ? ask(*src, std::string(*c->domain), arg) : std::nullopt;
  if (v) lua_pushnumber(L, *v); else lua_pushnil(L);
  return 1;
}

// threshold_for_rate(rate) -> the confidence below which `rate` of the domain's recent
// predictions fall, or nil (too few yet, or no statistics in this process).
int host_threshold_for_rate(lua_State* L) {
  return push_signal(L, [](const SignalSource& s, const std::string& d, double rate) { return s.threshold_for_rate(d, rate); });
}

// calibrated(confidence) -> the chance the model's label is right at that confidence, or nil.
int host_calibrated(lua_State* L) {
  return push_signal(L, [](const SignalSource& s, const std::string& d, double c) { return s.calibrated(d, c); });
}

}  // namespace

void push_host_module(lua_State* L) {
  lua_createtable(L, 0, 4);
  lua_pushcfunction(L, host_now_ms);
  lua_setfield(L, -2, "now_ms");
  lua_pushcfunction(L, host_stats);
  lua_setfield(L, -2, "stats");
  lua_pushcfunction(L, host_threshold_for_rate);
  lua_setfield(L, -2, "threshold_for_rate");
  lua_pushcfunction(L, host_calibrated);
  lua_setfield(L, -2, "calibrated");
}

}  // namespace hitl::policy::detail
