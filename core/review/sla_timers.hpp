#pragma once
// When each open task's SLA state changes next (at risk, then breached), in time order, so the
// SLA check visits only the tasks whose moment has come instead of every open task (issue 19:
// the scan over 315k open tasks held the review lock for 0.5 s every 5 s).
//
// Why in memory and not a storage index: the at-risk moment depends on the domain's
// sla_at_risk_fraction, which storage does not know, and the SDK's TaskFilter has no deadline
// filter. The entries are hints: the check re-reads each due task from storage and judges it by
// the rule below, so a stale or repeated entry costs one primary-key read and changes nothing.
// Filled at start by the background walk over open tasks, then by each SLA check with the tasks
// created since (by id, from any process: `hitl ingest` too). A task can be scheduled twice (the
// walk and the check both saw it): each of its moments then costs two reads, nothing more.
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

namespace hitl::service {

class SlaTimers {
 public:
  enum class Event { none, at_risk, breached };

  // The SLA rule, in one place: which event is due for `t` at `now` (none when it has no
  // deadline, is breached already, or its next moment has not come).
  static Event due_event(const sdk::TaskRecord& t, double at_risk_fraction, std::int64_t now);
  // When that rule next has an event for `t`; nullopt when it never will.
  static std::optional<std::int64_t> next_due(const sdk::TaskRecord& t, double at_risk_fraction);
  static const char* name(Event e);

  void schedule(std::int64_t task_id, std::int64_t due_ms);
  // Removes and returns up to `max` task ids whose moment is at or before `now`, earliest first.
  std::vector<std::int64_t> take_due(std::int64_t now, std::size_t max);
  std::size_t size() const;

 private:
  using Entry = std::pair<std::int64_t, std::int64_t>;  // (due_ms, task_id)
  mutable std::mutex mu_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

}  // namespace hitl::service
