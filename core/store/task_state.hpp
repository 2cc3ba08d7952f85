#pragma once
// Which task states count as open (still waiting for a review), in one place: the guard of a
// storage transition and the checks in review, escalation, governance and trace all use it.
#include <hitl/plugin_api.hpp>

namespace hitl::service {

// TaskUpdate::from for "any open state" (storage applies the move only from one of these).
inline constexpr const char* kOpenTaskStates = "pending,assigned,escalated";

// A task that still waits for a review: pending, assigned or escalated.
inline bool is_open(const sdk::TaskRecord& t) {
  return t.status == "pending" || t.status == "assigned" || t.status == "escalated";
}

}  // namespace hitl::service
