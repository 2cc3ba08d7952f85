#include "policy/record_tables.hpp"

#include "policy/lua_values.hpp"

#include <cstring>

namespace hitl::policy::detail {

namespace {
// Registry key (an address) of the last record's view: {[1] = record, [Part] = table, ...}.
const char kRecordViewKey = 0;

enum Part : lua_Integer { kRecord = 1, kInput = 2, kPrediction = 3, kMeta = 4 };

// Pushes the view of `record`, a new one (dropping the last record's) when it is not that one.
void push_record_view(lua_State* L, std::uint64_t record) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRecordViewKey);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, kRecord);
    const bool same = lua_isinteger(L, -1) && static_cast<std::uint64_t>(lua_tointeger(L, -1)) == record;
    lua_pop(L, 1);
    if (same) return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 4, 0);
  lua_pushinteger(L, static_cast<lua_Integer>(record));
  lua_rawseti(L, -2, kRecord);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRecordViewKey);
}

// Pushes the record's `part`, which `build` pushes the first time (every time for record 0).
// `build` is a lambda of references only: a Lua error longjmps through this frame.
template <class Build>
void push_shared(lua_State* L, std::uint64_t record, Part part, const Build& build) {
  if (record == 0) {
    build();
    return;
  }
  push_record_view(L, record);
  if (lua_rawgeti(L, -1, part) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  build();
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, part);
  lua_remove(L, -2);
}

void push_named_prediction(lua_State* L, const PredictionView* v) {
  push_prediction(L, v);
  if (!v) return;
  set_string(L, "model", v->model);
  set_string(L, "version", v->version);
}

// __index of a `p` with p.ood: upvalue 1 the score, then one (feature, z) pair per furthest feature.
int build_ood_on_read(lua_State* L) {
  if (lua_type(L, 2) != LUA_TSTRING || std::strcmp(lua_tostring(L, 2), "ood") != 0) return 0;
  int pairs = 0;
  while (lua_type(L, lua_upvalueindex(2 + 2 * pairs)) == LUA_TSTRING) ++pairs;
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setfield(L, -2, "score");
  lua_createtable(L, pairs, 0);
  for (int k = 0; k < pairs; ++k) {
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, lua_upvalueindex(2 + 2 * k));
    lua_setfield(L, -2, "feature");
    lua_pushvalue(L, lua_upvalueindex(3 + 2 * k));
    lua_setfield(L, -2, "z");
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "furthest");
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, "ood");  // p's own field from now on (the metatable is not asked again)
  return 1;
}
}  // namespace

void push_record_input(lua_State* L, const nlohmann::json* input, std::uint64_t record, const char* what) {
  push_shared(L, record, kInput, [&] {
    if (input)
      push_json(L, *input, what);
    else
      lua_newtable(L);
  });
}

void push_record_meta(lua_State* L, const nlohmann::json* meta, std::uint64_t record, const char* what) {
  push_shared(L, record, kMeta, [&] { push_object_or_empty(L, meta, what); });
}

void push_record_prediction(lua_State* L, const PredictionView* prediction, std::uint64_t record) {
  push_shared(L, record, kPrediction, [&] { push_named_prediction(L, prediction); });
}

void push_predictions_from(lua_State* L, const std::vector<PredictionView>* all) {
  const int n = all ? static_cast<int>(all->size()) : 1;
  lua_createtable(L, n, 0);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  for (int i = 1; i < n; ++i) {
    push_named_prediction(L, &(*all)[static_cast<std::size_t>(i)]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_remove(L, -2);
}

void set_lazy_ood(lua_State* L, const OodView& ood) {
  constexpr std::size_t kMaxPairs = 126;  // 1 + 2 * 126 = 253 upvalues, under Lua's 255
  const std::size_t pairs = ood.furthest.size() < kMaxPairs ? ood.furthest.size() : kMaxPairs;
  luaL_checkstack(L, static_cast<int>(2 + 2 * pairs), "p.ood");
  lua_createtable(L, 0, 1);
  lua_pushnumber(L, ood.score);
  for (std::size_t k = 0; k < pairs; ++k) {
    lua_pushlstring(L, ood.furthest[k].first.data(), ood.furthest[k].first.size());
    lua_pushnumber(L, ood.furthest[k].second);
  }
  lua_pushcclosure(L, build_ood_on_read, static_cast<int>(1 + 2 * pairs));
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

}  // namespace hitl::policy::detail
