#pragma once
// Private to hitl_policy: the tables the hooks called for one record share, and p.ood built at
// its first read. Building them was most of the cost of the policy calls at `hitl ingest`
// (docs/performance.md): `flag`, `judge`, `priority`, `sla` and `reviewers_needed` of one record
// see the same `input`, `prediction` and `meta` tables (docs/policy.md, "JSON to Lua").
// Every function here may raise a Lua error, so call them only inside protected_call().
#include "policy/policy_engine.hpp"

#include <lua.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <vector>

namespace hitl::policy::detail {

// The record's input table (`record` names the record, see FlagInput::record; 0 = not shared,
// built anew). `what` names it in a depth error ("p.input").
void push_record_input(lua_State* L, const nlohmann::json* input, std::uint64_t record, const char* what);

// The record's meta table ({} for null or absent).
void push_record_meta(lua_State* L, const nlohmann::json* meta, std::uint64_t record, const char* what);

// The record's prediction: {label, confidence, scores, model, version}; p.prediction,
// task.prediction and p.predictions[1] are this one table.
void push_record_prediction(lua_State* L, const PredictionView* prediction, std::uint64_t record);

// p.predictions from the primary's prediction table at the top of the stack, which it replaces:
// that table first, then the ensemble members of `all` (all[0] is the primary itself); without an
// ensemble (`all` null) the one entry.
void push_predictions_from(lua_State* L, const std::vector<PredictionView>* all);

// Gives the table at the top of the stack (a `p`) a metatable whose __index builds p.ood from a
// copy of `ood` the first time a hook reads it (p.ood is then a field of p like any other).
void set_lazy_ood(lua_State* L, const OodView& ood);

}  // namespace hitl::policy::detail
