#pragma once
// Private to hitl_policy: C++ values -> Lua values for `p` and `task`. Every function here may
// raise a Lua error (allocation, depth limit), so call them only inside protected_call().
#include "policy/policy_engine.hpp"

#include <lua.hpp>
#include <nlohmann/json_fwd.hpp>

namespace hitl::policy::detail {

inline constexpr int kMaxJsonDepth = 32;

// Objects -> tables, arrays -> 1-based sequences, null -> absent (nil), numbers, strings,
// booleans. Nesting beyond kMaxJsonDepth raises "<what>: nested deeper than 32 levels".
void push_json(lua_State* L, const nlohmann::json& j, const char* what);

// {label = ..., confidence = ..., scores = {label = prob, ...}}; an empty prediction for null.
void push_prediction(lua_State* L, const PredictionView* prediction);

// p.predictions: an array of {model, version, label, confidence, scores}; without an ensemble
// (`all` null) the one entry is `primary`.
void push_predictions(lua_State* L, const std::vector<PredictionView>* all, const PredictionView* primary);

// p.ood: {score = ..., furthest = {{feature = ..., z = ...}, ...}}.
void push_ood(lua_State* L, const OodView& ood);

// A JSON object or null as a table (null and absent -> {}).
void push_object_or_empty(lua_State* L, const nlohmann::json* j, const char* what);

}  // namespace hitl::policy::detail
