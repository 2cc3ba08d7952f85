#pragma once
// Private to hitl_policy: C++ values -> Lua values for `p` and `task`. Every function here may
// raise a Lua error (allocation, depth limit), so call them only inside protected_call().
#include "policy/policy_engine.hpp"

#include <lua.hpp>
#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace hitl::policy::detail {

inline constexpr int kMaxJsonDepth = 32;

// Objects -> tables, arrays -> 1-based sequences, null -> absent (nil), numbers, strings,
// booleans. Nesting beyond kMaxJsonDepth raises "<what>: nested deeper than 32 levels".
void push_json(lua_State* L, const nlohmann::json& j, const char* what);

// {label = ..., confidence = ..., scores = {label = prob, ...}}; an empty prediction for null.
void push_prediction(lua_State* L, const PredictionView* prediction);

// A JSON object or null as a table (null and absent -> {}).
void push_object_or_empty(lua_State* L, const nlohmann::json* j, const char* what);

// A list of strings as a 1-based sequence.
void push_strings(lua_State* L, const std::vector<std::string>& v);

// t[key] = value, for the table at the top of the stack: one call per field, so a table
// built for a hook reads as the list of its fields.
inline void set_string(lua_State* L, const char* key, std::string_view v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, key);
}
inline void set_number(lua_State* L, const char* key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}
inline void set_integer(lua_State* L, const char* key, long long v) {
  lua_pushinteger(L, static_cast<lua_Integer>(v));
  lua_setfield(L, -2, key);
}
inline void set_strings(lua_State* L, const char* key, const std::vector<std::string>& v) {
  push_strings(L, v);
  lua_setfield(L, -2, key);
}

}  // namespace hitl::policy::detail
