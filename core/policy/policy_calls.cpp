// The Lua side of the policy engine (see policy_calls.hpp): one function per hook.
#include "policy/policy_calls.hpp"

#include "policy/lua_sandbox.hpp"
#include "policy/lua_values.hpp"
#include "policy/record_tables.hpp"
#include "common/utf8.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <string_view>

namespace hitl::policy::calls {
using namespace detail;

// Registry keys (addresses) of the policy's entry points in each state.
const char kFlagKey = 0;
const char kPriorityKey = 0;
const char kSlaKey = 0;
const char kPolicyKey = 0;

// ---- Lua side (protected mode only; no C++ objects with destructors in these frames) ----

void check_text(lua_State* L, int idx, const char* what, std::size_t max);

// Checks an optional hook `name` of the policy table at `policy` is a function; sets `has`.
int check_hook(lua_State* L, int policy, const char* name, bool& has) {
  lua_getfield(L, policy, name);
  has = !lua_isnil(L, -1);
  if (has && !lua_isfunction(L, -1)) return luaL_error(L, "%s must be a function when present, got %s", name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return 0;
}

// Checks an optional number in [0, 1] `name` of the policy table.
int check_share(lua_State* L, int policy, const char* name, double& out) {
  lua_getfield(L, policy, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) return luaL_error(L, "%s must be a number in [0, 1] when present, got %s", name, luaL_typename(L, -1));
    out = lua_tonumber(L, -1);
    if (!(out >= 0 && out <= 1)) return luaL_error(L, "%s must be a number in [0, 1], got %f", name, out);
  }
  lua_pop(L, 1);
  return 0;
}

int dump_writer(lua_State*, const void* p, std::size_t sz, void* ud) noexcept {
  try {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(p), sz);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Compiles and runs the policy chunk, checks its shape and stores its entry points.
int init_policy(lua_State* L) {
  auto* c = static_cast<InitCall*>(lua_touserdata(L, 1));
  if (luaL_loadbufferx(L, c->code, c->size, c->chunkname, c->mode) != LUA_OK) return lua_error(L);
  if (c->dump_out && lua_dump(L, dump_writer, c->dump_out, 0) != 0) return luaL_error(L, "cannot precompile the policy");
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "the file must return a table with flag(p), got %s", luaL_typename(L, -1));
  const int policy = lua_gettop(L);
  lua_getfield(L, policy, "flag");
  if (!lua_isfunction(L, -1)) return luaL_error(L, "flag must be a function, got %s", luaL_typename(L, -1));
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kFlagKey);
  lua_getfield(L, policy, "priority");
  c->has_priority = !lua_isnil(L, -1);
  if (c->has_priority && !lua_isfunction(L, -1))
    return luaL_error(L, "priority must be a function when present, got %s", luaL_typename(L, -1));
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kPriorityKey);
  lua_getfield(L, policy, "sla");
  c->has_sla = !lua_isnil(L, -1);
  if (c->has_sla && !lua_isfunction(L, -1))
    return luaL_error(L, "sla must be a function when present, got %s", luaL_typename(L, -1));
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kSlaKey);
  lua_getfield(L, policy, "version");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "version must be a string when present, got %s", luaL_typename(L, -1));
    if (lua_rawlen(L, -1) > 0) check_text(L, -1, "version", 128);
    c->version.assign(lua_tostring(L, -1), lua_rawlen(L, -1));
  }
  lua_pop(L, 1);
  check_hook(L, policy, "assign", c->has_assign);
  check_hook(L, policy, "escalate", c->has_escalate);
  check_hook(L, policy, "reviewers_needed", c->has_reviewers_needed);
  check_hook(L, policy, "weight", c->has_weight);
  check_hook(L, policy, "promote", c->has_promote);
  check_hook(L, policy, "retrain", c->has_retrain);
  check_hook(L, policy, "judge", c->has_judge);
  check_share(L, policy, "gold_rate", c->gold_rate);
  check_share(L, policy, "min_gold_accuracy", c->min_gold_accuracy);
  check_share(L, policy, "audit_rate", c->audit_rate);
  lua_pushvalue(L, policy);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kPolicyKey);
  return 0;
}

// Pushes policy[name] (a function checked at load).
void push_hook(lua_State* L, const char* name) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kPolicyKey);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
}

// The one rule for every string a hook hands back (a verdict's reason, pool and skills, reviewer
// ids, escalation fields, promote/retrain reasons): a non-empty string of at most `max` bytes of
// valid UTF-8 without NUL or separator characters. It is stored, indexed and sent as JSON text:
// one invalid byte made the record unstorable (every retry failed with 500). Raises otherwise,
// so the hook fails closed like any other policy error.
void check_text(lua_State* L, int idx, const char* what, std::size_t max) {
  if (lua_type(L, idx) != LUA_TSTRING || lua_rawlen(L, idx) == 0)
    luaL_error(L, "%s must be a non-empty string, got %s", what, luaL_typename(L, idx));
  std::size_t n = 0;
  const char* s = lua_tolstring(L, idx, &n);
  if (n > max) luaL_error(L, "%s is %I bytes long, at most %I", what, static_cast<lua_Integer>(n), static_cast<lua_Integer>(max));
  for (std::size_t i = 0; i < n; ++i)
    if (s[i] == kSep || s[i] == kRecordSep || s[i] == '\0') luaL_error(L, "%s contains a control character", what);
  if (!valid_utf8(std::string_view(s, n))) luaL_error(L, "%s is not valid UTF-8", what);
}

void check_field(lua_State* L, int idx, const char* what) { check_text(L, idx, what, kMaxFieldBytes); }

// Pushes the separator; with the string pieces pushed after it, lua_concat joins a result.
void push_sep(lua_State* L, char sep = kSep) { lua_pushlstring(L, &sep, 1); }

// The `p` table of flag(p) (and of judge(p, verdict)).
void push_flag_p(lua_State* L, const FlagInput& in) {
  lua_createtable(L, 0, 6);
  push_record_input(L, in.input, in.record, "p.input");
  lua_setfield(L, -2, "input");
  push_record_prediction(L, in.prediction, in.record);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "prediction");
  push_predictions_from(L, in.predictions);  // p.predictions[1] is p.prediction
  lua_setfield(L, -2, "predictions");
  push_record_meta(L, in.meta, in.record, "p.meta");
  lua_setfield(L, -2, "meta");
  set_string(L, "domain", in.domain ? std::string_view(*in.domain) : std::string_view());
  if (in.ood) set_lazy_ood(L, *in.ood);  // most policies never read it: built at the first read
}

const char* kVerdictHint = "return hitl.auto(), hitl.review(reason) or hitl.reject(reason)";

// Calls flag(p) and validates the verdict; leaves the reason (or nothing for auto).
// Validates the verdict `hook` (flag or judge) left on top; leaves the reason (or nothing for
// auto). Only flag may answer hitl.judge(reason).
int read_verdict(lua_State* L, FlagCall* c, const char* hook) {
  const bool is_flag = std::strcmp(hook, "flag") == 0;
  if (!lua_istable(L, -1)) return luaL_error(L, "%s returned %s instead of a verdict (%s)", hook, luaL_typename(L, -1), kVerdictHint);
  const int v = lua_gettop(L);
  lua_pushliteral(L, "action");
  lua_rawget(L, v);
  const char* action = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  if (std::strcmp(action, "auto") == 0) {
    c->action = kAuto;
    return 0;
  }
  if (std::strcmp(action, "review") == 0)
    c->action = kReview;
  else if (std::strcmp(action, "reject") == 0)
    c->action = kReject;
  else if (is_flag && std::strcmp(action, "judge") == 0)
    c->action = kJudge;
  else if (std::strcmp(action, "judge") == 0)
    return luaL_error(L, "judge returned a judge verdict: it decides (%s)", kVerdictHint);
  else
    return luaL_error(L, "%s returned a table without a valid action (%s)", hook, kVerdictHint);
  lua_pushliteral(L, "reason");
  lua_rawget(L, v);
  if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
    c->action = kNone;
    return luaL_error(L, "%s returned a %s verdict without a reason (a non-empty string)", hook, action);
  }
  const int reason = lua_gettop(L);
  check_field(L, reason, "the verdict's reason");
  // The result: reason SEP pool [SEP skill]... (hitl.review(reason, {skills = {...}, pool = "..."})).
  lua_pushliteral(L, "pool");
  lua_rawget(L, v);
  const int pool = lua_gettop(L);
  if (!lua_isnil(L, pool)) check_field(L, pool, "the verdict's pool");
  lua_pushliteral(L, "skills");
  lua_rawget(L, v);
  const int skills = lua_gettop(L);
  if (!lua_isnil(L, skills) && !lua_istable(L, skills))
    return luaL_error(L, "the verdict's skills must be a list of strings, got %s", luaL_typename(L, skills));
  int parts = 0;
  lua_pushvalue(L, reason);
  push_sep(L);
  parts += 2;
  if (!lua_isnil(L, pool)) {
    lua_pushvalue(L, pool);
    ++parts;
  }
  if (lua_istable(L, skills)) {
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, skills));
    if (n > 32) return luaL_error(L, "the verdict has %d skills, at most 32", static_cast<int>(n));
    for (lua_Integer i = 1; i <= n; ++i) {
      push_sep(L);
      lua_rawgeti(L, skills, i);
      check_field(L, -1, "a skill");
      parts += 2;
    }
  }
  lua_concat(L, parts);
  return 1;
}

int call_flag(lua_State* L) {
  auto* c = static_cast<FlagCall*>(lua_touserdata(L, 1));
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kFlagKey);
  push_flag_p(L, *c->in);
  lua_call(L, 1, 1);
  return read_verdict(L, c, "flag");
}

// judge(p, verdict): p as flag saw it, verdict = the judge model's answer and flag's reason.
int call_judge(lua_State* L) {
  auto* c = static_cast<JudgeCall*>(lua_touserdata(L, 1));
  push_hook(L, "judge");
  push_flag_p(L, *c->flag.in);
  const JudgeView& j = *c->judge;
  push_prediction(L, &j.prediction);
  set_string(L, "model", j.prediction.model);
  set_string(L, "version", j.prediction.version);
  set_string(L, "reason", j.reason);
  lua_call(L, 2, 1);
  return read_verdict(L, &c->flag, "judge");
}

// The `task` table priority(task) and sla(task) see.
void push_task(lua_State* L, const TaskView& t) {
  lua_createtable(L, 0, 6);
  set_string(L, "domain", t.domain ? std::string_view(*t.domain) : std::string_view());
  set_string(L, "reason", t.reason ? std::string_view(*t.reason) : std::string_view());
  push_record_input(L, t.input, t.record, "task.input");
  lua_setfield(L, -2, "input");
  push_record_prediction(L, t.prediction, t.record);
  lua_setfield(L, -2, "prediction");
  push_record_meta(L, t.meta, t.record, "task.meta");
  lua_setfield(L, -2, "meta");
  if (t.priority) set_number(L, "priority", *t.priority);
}

int call_priority(lua_State* L) {
  auto* c = static_cast<PriorityCall*>(lua_touserdata(L, 1));
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kPriorityKey);
  push_task(L, *c->task);
  lua_call(L, 1, 1);
  if (lua_type(L, -1) != LUA_TNUMBER) return luaL_error(L, "priority returned %s, expected a number in [0, 1]", luaL_typename(L, -1));
  const double x = lua_tonumber(L, -1);
  if (std::isnan(x)) return luaL_error(L, "priority returned NaN, expected a number in [0, 1]");
  c->value = x;
  return 0;
}

// sla(task) returns the seconds until the review is due (a positive number), or nil for none.
int call_sla(lua_State* L) {
  auto* c = static_cast<SlaCall*>(lua_touserdata(L, 1));
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kSlaKey);
  push_task(L, *c->task);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1)) return 0;
  if (lua_type(L, -1) != LUA_TNUMBER)
    return luaL_error(L, "sla returned %s, expected seconds (a positive number) or nil", luaL_typename(L, -1));
  const double x = lua_tonumber(L, -1);
  if (!(x > 0) || std::isinf(x)) return luaL_error(L, "sla returned %f, expected seconds (a positive number) or nil", x);
  c->seconds = x;
  return 0;
}

void push_workflow_task(lua_State* L, const WorkflowTaskView& t) {
  push_task(L, t.base);
  set_integer(L, "task_id", t.task_id);
  set_strings(L, "skills", t.skills);
  set_string(L, "pool", t.pool);
  set_integer(L, "deadline_ms", t.deadline_ms);
  set_integer(L, "reviews_done", t.reviews_done);
  set_integer(L, "reviews_required", t.reviews_required);
}

int call_reviewers_needed(lua_State* L) {
  auto* c = static_cast<NeededCall*>(lua_touserdata(L, 1));
  push_hook(L, "reviewers_needed");
  push_workflow_task(L, *c->task);
  lua_call(L, 1, 1);
  if (!lua_isinteger(L, -1)) return luaL_error(L, "reviewers_needed returned %s, expected an integer 1..5", luaL_typename(L, -1));
  const lua_Integer n = lua_tointeger(L, -1);
  if (n < 1 || n > 5) return luaL_error(L, "reviewers_needed returned %d, expected an integer 1..5", static_cast<int>(n));
  c->value = n;
  return 0;
}

// weight(sample) -> a finite number >= 0.
int call_weight(lua_State* L) {
  auto* c = static_cast<WeightCall*>(lua_touserdata(L, 1));
  const SampleView& s = *c->sample;
  push_hook(L, "weight");
  lua_createtable(L, 0, 10);
  set_string(L, "domain", s.domain);
  set_string(L, "decision_id", s.decision_id);
  push_object_or_empty(L, s.input, "sample.input");
  lua_setfield(L, -2, "input");
  set_string(L, "label", s.final_label);
  set_string(L, "model_label", s.model_label);
  set_number(L, "confidence", s.confidence);
  set_string(L, "outcome", s.outcome);
  set_strings(L, "tags", s.tags);
  set_strings(L, "reviewers", s.reviewers);
  set_integer(L, "created_ms", s.created_ms);
  lua_call(L, 1, 1);
  if (lua_type(L, -1) != LUA_TNUMBER) return luaL_error(L, "weight returned %s, expected a number >= 0", luaL_typename(L, -1));
  const double w = lua_tonumber(L, -1);
  if (!(w >= 0) || !std::isfinite(w)) return luaL_error(L, "weight returned %f, expected a finite number >= 0", w);
  c->value = w;
  return 0;
}

// hook(json) -> boolean [, reason], for promote(eval) and retrain(stats); leaves the reason
// string (or "") for run() to read.
int call_yes_no(lua_State* L, const char* hook, const char* arg) {
  auto* c = static_cast<PromoteCall*>(lua_touserdata(L, 1));
  push_hook(L, hook);
  push_json(L, *c->eval, arg);
  lua_call(L, 1, 2);
  if (!lua_isboolean(L, -2)) return luaL_error(L, "%s returned %s, expected a boolean (and an optional reason)", hook, luaL_typename(L, -2));
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "%s's reason must be a string, got %s", hook, luaL_typename(L, -1));
  if (lua_rawlen(L, -1) > 0) check_text(L, -1, "the reason", kMaxReasonBytes);
  c->promote = lua_toboolean(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  return 1;
}
int call_promote(lua_State* L) { return call_yes_no(L, "promote", "eval"); }
int call_retrain(lua_State* L) { return call_yes_no(L, "retrain", "stats"); }

// assign(task, candidates) -> nil, or a list of ids; leaves "id SEP id ..." (or nothing for nil).
int call_assign(lua_State* L) {
  auto* c = static_cast<AssignCall*>(lua_touserdata(L, 1));
  push_hook(L, "assign");
  push_workflow_task(L, *c->task);
  lua_createtable(L, static_cast<int>(c->candidates->size()), 0);
  lua_Integer i = 0;
  for (const auto& k : *c->candidates) {
    lua_createtable(L, 0, 12);
    set_string(L, "id", k.id);
    set_string(L, "name", k.name);
    set_strings(L, "roles", k.roles);
    set_strings(L, "skills", k.skills);
    set_integer(L, "load", k.load);
    set_integer(L, "capacity", k.capacity);
    set_number(L, "cost_per_hour", k.cost_per_hour);
    if (k.gold_accuracy) set_number(L, "gold_accuracy", *k.gold_accuracy);
    set_integer(L, "gold_answers", k.gold_answers);
    if (k.agreement) set_number(L, "agreement", *k.agreement);
    set_integer(L, "consecutive", k.consecutive);
    set_integer(L, "last_hour", k.last_hour);
    lua_rawseti(L, -2, ++i);
  }
  lua_call(L, 2, 1);
  if (lua_isnil(L, -1)) return 0;
  if (!lua_istable(L, -1)) return luaL_error(L, "assign returned %s, expected a list of reviewer ids or nil", luaL_typename(L, -1));
  const int list = lua_gettop(L);
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, list));
  int parts = 0;
  lua_pushliteral(L, "");  // marks "a list" (possibly empty) apart from nil
  ++parts;
  for (lua_Integer j = 1; j <= n; ++j) {
    push_sep(L);
    lua_rawgeti(L, list, j);
    check_field(L, -1, "a reviewer id returned by assign");
    parts += 2;
    if (parts > 4000) return luaL_error(L, "assign returned too many ids");
  }
  lua_concat(L, parts);
  return 1;
}

// Validates one action table at `idx` and pushes "action SEP value SEP pool SEP label".
void push_action(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) luaL_error(L, "escalate returned %s where an action table was expected", luaL_typename(L, idx));
  lua_getfield(L, idx, "action");
  check_field(L, -1, "an escalation's action");
  const char* a = lua_tostring(L, -1);
  const bool priority = std::strcmp(a, "priority") == 0, reassign = std::strcmp(a, "reassign") == 0,
             notify = std::strcmp(a, "notify") == 0, fallback = std::strcmp(a, "default") == 0;
  if (!priority && !reassign && !notify && !fallback)
    luaL_error(L, "unknown escalation action \"%s\" (expected priority, reassign, notify or default)", a);
  push_sep(L);
  lua_getfield(L, idx, "value");
  if (priority) {
    if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "a priority escalation needs value (a number), got %s", luaL_typename(L, -1));
    lua_pushstring(L, lua_tostring(L, -1));  // number -> its text
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  push_sep(L);
  lua_getfield(L, idx, "pool");
  if (reassign) check_field(L, -1, "a reassign escalation's pool");
  else { lua_pop(L, 1); lua_pushliteral(L, ""); }
  push_sep(L);
  lua_getfield(L, idx, "label");
  if (fallback) check_field(L, -1, "a default escalation's label");
  else { lua_pop(L, 1); lua_pushliteral(L, ""); }
  lua_concat(L, 7);
}

// escalate(task, event) -> nil | action | {action, ...}; leaves the actions joined by kRecordSep.
int call_escalate(lua_State* L) {
  auto* c = static_cast<EscalateCall*>(lua_touserdata(L, 1));
  push_hook(L, "escalate");
  push_workflow_task(L, *c->task);
  lua_createtable(L, 0, 3);
  set_string(L, "kind", c->event->kind);
  set_integer(L, "now_ms", c->event->now_ms);
  set_integer(L, "deadline_ms", c->event->deadline_ms);
  lua_call(L, 2, 1);
  if (lua_isnil(L, -1)) return 0;
  if (!lua_istable(L, -1)) return luaL_error(L, "escalate returned %s, expected nil, an action or a list of actions", luaL_typename(L, -1));
  const int r = lua_gettop(L);
  lua_getfield(L, r, "action");
  const bool single = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (single) {
    push_action(L, r);
    return 1;
  }
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, r));
  if (n > 16) return luaL_error(L, "escalate returned %d actions, at most 16", static_cast<int>(n));
  int parts = 0;
  for (lua_Integer j = 1; j <= n; ++j) {
    if (j > 1) {
      push_sep(L, kRecordSep);
      ++parts;
    }
    lua_rawgeti(L, r, j);
    push_action(L, -1);
    lua_remove(L, -2);
    ++parts;
  }
  if (parts == 0) return 0;
  lua_concat(L, parts);
  return 1;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

}  // namespace hitl::policy::calls
