// The queue's rules that do not depend on the database, for every queue plugin here
// (queue-sqlite, queue-postgres compile this header in; no part of the plugin ABI).
#pragma once

#include <hitl/plugin_api.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace hitl::queue_common {

// due_ms is the deadline with "none" (0) mapped to this: one ascending index column gives
// "earliest deadline first, no deadline last".
inline constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();
inline std::int64_t due_ms(const sdk::QueueItem& it) { return it.deadline_ms == 0 ? kNoDeadline : it.deadline_ms; }

// The priority the dispatch index orders by: the task's priority to two decimals (101 levels over
// [0, 1]); tasks within 0.01 of each other go by deadline, then age. A push inserts at the end of
// its level's run (deadlines and ages grow), so a commit rewrites about one index page per level;
// exact priorities scatter the inserts over the whole index, and at 600k items queued every
// commit rewrote most of its pages (`hitl ingest` of 400k records: 9 % of its CPU, growing with
// the backlog; docs/performance.md).
inline constexpr double kRankLevels = 100.0;
inline double dispatch_rank(double priority) {
  // Far outside [0, 1] (a plugin's or an old database's value) the levels mean nothing, and
  // priority * kRankLevels could overflow a finite number to infinity: kept as it is.
  if (!(std::fabs(priority) < 1e12)) return priority;
  return std::round(priority * kRankLevels) / kRankLevels;
}

// "<plugin> <op>: <why>" as invalid_argument.
inline sdk::Status invalid(const char* plugin, const char* op, const std::string& why) {
  return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + " " + op + ": " + why);
}

// A push is all or nothing: the whole batch is checked before anything is written.
inline sdk::Status validate_push(const std::vector<sdk::QueueItem>& items, const char* plugin) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& it = items[i];
    auto where = [&] { return "item " + std::to_string(i) + " (task_id " + std::to_string(it.task_id) + "): "; };
    if (it.task_id <= 0) return invalid(plugin, "push", where() + "task_id must be positive");
    if (it.domain.empty()) return invalid(plugin, "push", where() + "domain must not be empty");
    if (!std::isfinite(it.priority)) return invalid(plugin, "push", where() + "priority must be a finite number");
    if (it.deadline_ms < 0) return invalid(plugin, "push", where() + "deadline_ms must be 0 (none) or a time in ms");
  }
  return sdk::Status::Ok();
}

// A claim's arguments: a domain, a reviewer, a positive lease that does not overflow.
inline sdk::Status validate_claim(const std::string& domain, const std::string& reviewer, std::int64_t now_ms,
                                  std::int64_t lease_ms, const char* plugin) {
  if (domain.empty()) return invalid(plugin, "claim", "domain must not be empty");
  if (reviewer.empty()) return invalid(plugin, "claim", "reviewer must not be empty");
  if (lease_ms <= 0) return invalid(plugin, "claim", "lease_ms must be positive, got " + std::to_string(lease_ms));
  if (now_ms > std::numeric_limits<std::int64_t>::max() - lease_ms) return invalid(plugin, "claim", "now_ms + lease_ms overflows");
  return sdk::Status::Ok();
}

}  // namespace hitl::queue_common
