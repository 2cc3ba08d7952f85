#include "review/sla_timers.hpp"

namespace hitl::service {

namespace {
std::int64_t at_risk_ms(const sdk::TaskRecord& t, double fraction) {
  return t.created_ms + static_cast<std::int64_t>(fraction * static_cast<double>(t.deadline_ms - t.created_ms));
}
}  // namespace

SlaTimers::Event SlaTimers::due_event(const sdk::TaskRecord& t, double fraction, std::int64_t now) {
  if (t.deadline_ms <= 0 || t.sla_state == "breached") return Event::none;
  if (now > t.deadline_ms) return Event::breached;
  if (t.sla_state.empty() && now >= at_risk_ms(t, fraction)) return Event::at_risk;
  return Event::none;
}

std::optional<std::int64_t> SlaTimers::next_due(const sdk::TaskRecord& t, double fraction) {
  if (t.deadline_ms <= 0 || t.sla_state == "breached") return std::nullopt;
  // Breached means strictly past the deadline (due_event), hence the +1.
  if (!t.sla_state.empty()) return t.deadline_ms + 1;
  return at_risk_ms(t, fraction);
}

const char* SlaTimers::name(Event e) {
  switch (e) {
    case Event::at_risk: return "at_risk";
    case Event::breached: return "breached";
    case Event::none: break;
  }
  return "";
}

void SlaTimers::schedule(std::int64_t task_id, std::int64_t due_ms) {
  std::lock_guard lock(mu_);
  heap_.emplace(due_ms, task_id);
}

std::vector<std::int64_t> SlaTimers::take_due(std::int64_t now, std::size_t max) {
  std::vector<std::int64_t> out;
  std::lock_guard lock(mu_);
  while (out.size() < max && !heap_.empty() && heap_.top().first <= now) {
    out.push_back(heap_.top().second);
    heap_.pop();
  }
  return out;
}

std::size_t SlaTimers::size() const {
  std::lock_guard lock(mu_);
  return heap_.size();
}

}  // namespace hitl::service
