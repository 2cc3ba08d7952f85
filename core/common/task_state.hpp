#pragma once
// The states of a review task and of a decision, as enums for the C++ code, with their stored
// names in one place. Storage plugins and the SDK's records keep the names (strings): the
// conversion happens here only, so a state is never spelled out elsewhere in core.
#include <hitl/plugin_api.hpp>

#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace hitl::service {

enum class TaskState { pending, assigned, escalated, completed, cancelled };
enum class DecisionState { auto_approved, pending_review, rejected };

namespace state_names {
inline constexpr std::array<std::pair<TaskState, std::string_view>, 5> kTask{{
    {TaskState::pending, "pending"},
    {TaskState::assigned, "assigned"},
    {TaskState::escalated, "escalated"},
    {TaskState::completed, "completed"},
    {TaskState::cancelled, "cancelled"},
}};
inline constexpr std::array<std::pair<DecisionState, std::string_view>, 3> kDecision{{
    {DecisionState::auto_approved, "auto_approved"},
    {DecisionState::pending_review, "pending_review"},
    {DecisionState::rejected, "rejected"},
}};

template <class State, std::size_t N>
constexpr std::string_view name_of(const std::array<std::pair<State, std::string_view>, N>& names, State s) {
  for (const auto& [state, name] : names)
    if (state == s) return name;
  return "unknown";
}

template <class State, std::size_t N>
constexpr std::optional<State> parse(const std::array<std::pair<State, std::string_view>, N>& names, std::string_view text) {
  for (const auto& [state, name] : names)
    if (name == text) return state;
  return std::nullopt;
}
}  // namespace state_names

// The stored name of a state, e.g. "pending".
constexpr std::string_view to_string(TaskState s) { return state_names::name_of(state_names::kTask, s); }
constexpr std::string_view to_string(DecisionState s) { return state_names::name_of(state_names::kDecision, s); }
inline std::string name(TaskState s) { return std::string(to_string(s)); }
inline std::string name(DecisionState s) { return std::string(to_string(s)); }

// The state a stored name stands for; nullopt for a name this build does not know.
constexpr std::optional<TaskState> task_state(std::string_view stored) { return state_names::parse(state_names::kTask, stored); }
constexpr std::optional<DecisionState> decision_state(std::string_view stored) {
  return state_names::parse(state_names::kDecision, stored);
}

// Whether a stored status names `s`, e.g. is(task.status, TaskState::assigned).
constexpr bool is(std::string_view stored, TaskState s) { return stored == to_string(s); }
constexpr bool is(std::string_view stored, DecisionState s) { return stored == to_string(s); }

// A task that still waits for a review: pending, assigned or escalated.
inline constexpr std::array<TaskState, 3> kOpenStates = {TaskState::pending, TaskState::assigned, TaskState::escalated};
constexpr bool is_open(TaskState s) {
  for (auto open : kOpenStates)
    if (s == open) return true;
  return false;
}
inline bool is_open(const sdk::TaskRecord& t) {
  auto s = task_state(t.status);
  return s && is_open(*s);
}

// TaskUpdate::from, the states storage applies a guarded move from: "pending,assigned".
template <class States>
std::string any_of(const States& states) {
  std::string out;
  for (auto s : states) {
    if (!out.empty()) out += ',';
    out += to_string(s);
  }
  return out;
}
inline std::string any_of(std::initializer_list<TaskState> states) { return any_of<std::initializer_list<TaskState>>(states); }
// TaskUpdate::from for "any open state".
inline std::string open_states() { return any_of(kOpenStates); }

}  // namespace hitl::service
