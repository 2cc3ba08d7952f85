#include "policy/lua_values.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>

namespace hitl::policy::detail {
using nlohmann::json;

namespace {
// Only trivially destructible locals here: a Lua error longjmps out of these frames.
void push_value(lua_State* L, const json& j, int depth, const char* what) {
  switch (j.type()) {
    case json::value_t::boolean: lua_pushboolean(L, *j.get_ptr<const json::boolean_t*>() ? 1 : 0); return;
    case json::value_t::number_integer: lua_pushinteger(L, static_cast<lua_Integer>(*j.get_ptr<const json::number_integer_t*>())); return;
    case json::value_t::number_unsigned: {
      const auto u = *j.get_ptr<const json::number_unsigned_t*>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<lua_Integer>::max()))
        lua_pushinteger(L, static_cast<lua_Integer>(u));
      else
        lua_pushnumber(L, static_cast<lua_Number>(u));
      return;
    }
    case json::value_t::number_float: lua_pushnumber(L, *j.get_ptr<const json::number_float_t*>()); return;
    case json::value_t::string: {
      const auto* s = j.get_ptr<const json::string_t*>();
      lua_pushlstring(L, s->data(), s->size());
      return;
    }
    case json::value_t::array:
    case json::value_t::object: break;
    default: lua_pushnil(L); return;  // null, binary, discarded
  }
  if (depth > kMaxJsonDepth) luaL_error(L, "%s: nested deeper than %d levels", what, kMaxJsonDepth);
  luaL_checkstack(L, 3, "policy input too deep");
  if (j.is_array()) {
    const auto* arr = j.get_ptr<const json::array_t*>();
    lua_createtable(L, static_cast<int>(arr->size()), 0);
    lua_Integer i = 0;
    for (const json* it = arr->data(), *end = it + arr->size(); it != end; ++it) {
      ++i;
      if (it->is_null()) continue;  // a hole: t[i] stays nil
      push_value(L, *it, depth + 1, what);
      lua_rawseti(L, -2, i);
    }
    return;
  }
  const auto* obj = j.get_ptr<const json::object_t*>();
  lua_createtable(L, 0, static_cast<int>(obj->size()));
  for (auto it = obj->begin(); it != obj->end(); ++it) {
    if (it->second.is_null()) continue;  // absent
    lua_pushlstring(L, it->first.data(), it->first.size());
    push_value(L, it->second, depth + 1, what);
    lua_rawset(L, -3);
  }
}
}  // namespace

void push_json(lua_State* L, const json& j, const char* what) { push_value(L, j, 1, what); }

void push_object_or_empty(lua_State* L, const json* j, const char* what) {
  if (!j || j->is_null())
    lua_newtable(L);
  else
    push_value(L, *j, 1, what);
}

void push_prediction(lua_State* L, const PredictionView* pred) {
  lua_createtable(L, 0, 3);
  if (!pred) {
    set_string(L, "label", "");
    set_number(L, "confidence", 0.0);
    lua_newtable(L);
    lua_setfield(L, -2, "scores");
    return;
  }
  set_string(L, "label", pred->label);
  set_number(L, "confidence", pred->confidence);
  lua_createtable(L, 0, static_cast<int>(pred->scores.size()));
  for (const auto& kv : pred->scores) {
    lua_pushlstring(L, kv.first.data(), kv.first.size());
    lua_pushnumber(L, kv.second);
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "scores");
}

void push_strings(lua_State* L, const std::vector<std::string>& v) {
  lua_createtable(L, static_cast<int>(v.size()), 0);
  for (std::size_t i = 0; i < v.size(); ++i) {
    lua_pushlstring(L, v[i].data(), v[i].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
}

}  // namespace hitl::policy::detail
