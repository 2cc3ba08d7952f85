// The SLA timer and push assignment of ReviewService (see review.hpp).
#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "policy/policy_engine.hpp"
#include "review/assignment.hpp"
#include "governance/auth.hpp"
#include "metrics/metrics.hpp"
#include "domain/domains.hpp"
#include "review/review.hpp"
#include "review/reviewers.hpp"
#include "common/service_error.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <thread>

namespace hitl::service {
using nlohmann::json;

namespace {
sdk::AuditRecord task_audit(std::int64_t now, const std::string& actor, const char* action, const sdk::TaskRecord& t,
                            json detail) {
  detail["decision_id"] = t.decision_id;
  return audit::make_record(now, actor, action, t.domain, audit::Entity::task, std::to_string(t.task_id), detail.dump());
}

// What the policy's escalation actions come to for one task.
struct EscalationPlan {
  sdk::TaskPatch patch;
  json applied = json::array();  // each action as applied (or refused), for the audit record
  double priority = 0;
  bool requeue = false;  // back into the queue, at the new priority or in the new pool
  bool release = false;  // moved to another pool while held: the lease ends
  bool fallback = false;  // the policy's default decision on timeout
  std::string fallback_label;
};

// The webhook delivery that tells the domain's endpoint a task was escalated.
sdk::DeliveryRecord escalation_delivery(const sdk::TaskRecord& t, const std::string& kind, const std::string& url,
                                        std::int64_t now) {
  sdk::DeliveryRecord d;
  d.domain = t.domain;
  d.decision_id = t.decision_id;
  d.event = "task.escalated";
  d.url = url;
  d.payload_json = json{{"event", "task.escalated"}, {"domain", t.domain}, {"id", t.decision_id},
                        {"task_id", t.task_id}, {"sla_state", kind}, {"deadline_ms", t.deadline_ms}}
                       .dump();
  d.status = "pending";
  d.next_attempt_ms = now;
  d.created_ms = now;
  return d;
}

// Applies the actions in order: priority and reassign go to the task's patch, notify adds a
// webhook delivery to `batch`, default (one of the domain's labels) decides the case.
EscalationPlan plan_escalation(const std::vector<policy::EscalationAction>& actions, const sdk::TaskRecord& t,
                               const std::string& kind, const DomainSettings* dom, std::int64_t now,
                               sdk::WriteBatch& batch) {
  EscalationPlan plan;
  plan.patch.task_id = t.task_id;
  plan.patch.sla_state = kind;
  plan.patch.escalations = t.escalations + 1;
  plan.priority = t.priority;
  for (const auto& a : actions) {
    if (a.action == "priority") {
      plan.priority = std::clamp(a.value, 0.0, 1.0);
      plan.patch.priority = plan.priority;
      plan.requeue = true;
      plan.applied.push_back({{"action", "priority"}, {"value", plan.priority}});
    } else if (a.action == "reassign") {
      plan.patch.pool = a.pool;
      plan.patch.preassigned = std::string();
      plan.release = is(t.status, TaskState::assigned);
      plan.requeue = true;
      plan.applied.push_back({{"action", "reassign"}, {"pool", a.pool}});
    } else if (a.action == "notify") {
      const bool webhook = !t.gold && dom && !dom->webhook_url.empty();
      if (webhook) batch.deliveries.push_back(escalation_delivery(t, kind, dom->webhook_url, now));
      plan.applied.push_back({{"action", "notify"}, {"webhook", webhook}});
    } else if (a.action == "default") {
      if (dom && std::find(dom->labels.begin(), dom->labels.end(), a.label) == dom->labels.end()) {
        plan.applied.push_back({{"action", "default"}, {"label", a.label}, {"refused", "not one of the domain's labels"}});
        continue;
      }
      plan.fallback = true;
      plan.fallback_label = a.label;
      plan.applied.push_back({{"action", "default"}, {"label", a.label}});
    }
  }
  return plan;
}

// The policy's default decision on timeout: the case is decided without a person, and the task
// leaves the queue (cancelled). The decision records outcome "default". Returns the decision as
// it is once final.
sdk::DecisionRecord record_default_decision(sdk::WriteBatch& batch, const sdk::TaskRecord& t,
                                            const sdk::DecisionRecord& decision, const std::string& label,
                                            std::int64_t now, const FinalHooks& hooks) {
  sdk::DecisionRecord final_decision = decision;
  sdk::TaskUpdate u;
  u.task_id = t.task_id;
  u.from = open_states();
  u.to = name(TaskState::cancelled);
  u.updated_ms = now;
  batch.task_updates.push_back(u);
  if (!t.gold) {
    batch.finals.push_back({t.domain, t.decision_id, label, "default", now});
    final_decision.final_label = label;
    final_decision.final_outcome = "default";
    final_decision.final_ms = now;
    if (hooks.delivery_for)
      if (auto d = hooks.delivery_for(final_decision)) batch.deliveries.push_back(std::move(*d));
  }
  batch.audit.push_back(task_audit(now, audit::kPolicyActor, "task.cancelled", t,
                                   {{"actor", "policy"}, {"at_ms", now}, {"reason", "sla default decision"},
                                    {"from", t.status}, {"to", name(TaskState::cancelled)}, {"label", label}}));
  return final_decision;
}

// A task moved to another pool while held goes back to pending (its lease is released).
void record_release(sdk::WriteBatch& batch, const sdk::TaskRecord& t, std::int64_t now) {
  sdk::TaskUpdate u;
  u.task_id = t.task_id;
  u.from = name(TaskState::assigned);
  u.to = name(TaskState::pending);
  u.updated_ms = now;
  batch.task_updates.push_back(u);
  batch.audit.push_back(task_audit(now, audit::kPolicyActor, "task.released", t,
                                   {{"actor", "policy"}, {"at_ms", now}, {"reason", "escalation: reassigned"},
                                    {"from", name(TaskState::assigned)}, {"to", name(TaskState::pending)}, {"assignee", t.assignee}}));
}
}  // namespace

void ReviewService::track_sla(const sdk::TaskRecord& t) {
  const DomainSettings* dom = domains_.find(t.domain);
  if (!dom) return;
  if (auto due = SlaTimers::next_due(t, dom->sla_at_risk_fraction)) sla_timers_.schedule(t.task_id, *due);
}

// Tasks created since the last look (by any process), read through the primary key a page at a
// time: the cost is the number of new tasks, not the backlog. Bounded per call; the rest waits
// for the next check.
void ReviewService::track_new_tasks() {
  constexpr std::size_t kPage = 1000, kPagesPerCall = 50;
  const std::int64_t seen = sla_seen_up_to_.load();
  if (seen < 0) return;  // the start-up walk is still going: it hands over when done
  sdk::TaskFilter f;
  f.after_task_id = seen;
  f.limit = kPage;
  std::vector<sdk::TaskRecord> page;
  for (std::size_t i = 0; i < kPagesPerCall; ++i) {
    if (auto st = storage_.list_tasks(f, page); !st.ok()) {
      spdlog::warn("sla check: new tasks: {}", st.message);
      break;
    }
    for (const auto& t : page)
      if (is_open(t)) track_sla(t);
    if (page.empty()) break;
    f.after_task_id = page.back().task_id;
    if (page.size() < kPage) break;
  }
  sla_seen_up_to_.store(f.after_task_id);
}

std::size_t ReviewService::check_slas() {
  track_new_tasks();
  // Due tasks in chunks, the review lock taken per task: a burst of breaches (21k at once in
  // issue 14) never keeps claims or HTTP waiting for more than one escalation. A call does at
  // most kSlaEventsPerCheck; the rest stay due for the next call (the caller calls again soon).
  constexpr std::size_t kChunk = 256;
  std::size_t handled = 0;
  while (handled < kSlaEventsPerCheck) {
    const std::int64_t now = now_ms();
    const auto due = sla_timers_.take_due(now, std::min(kChunk, kSlaEventsPerCheck - handled));
    if (due.empty()) break;
    for (const std::int64_t id : due)
      if (sla_step(id, now)) ++handled;
    std::this_thread::yield();
  }
  return handled;
}

// One due timer: re-reads the task (the timer is a hint), applies the event the rule says is
// due, if any, and schedules the task's next moment. Returns whether an event was handled.
bool ReviewService::sla_step(std::int64_t task_id, std::int64_t now) {
  const auto turn = locks_.exclusive();
  std::optional<sdk::TaskRecord> task;
  if (auto st = storage_.get_task(task_id, task); !st.ok()) {
    spdlog::warn("sla check task={}: {}", task_id, st.message);
    sla_timers_.schedule(task_id, now + kSlaRetryMs);  // storage is down: try again later
    return false;
  }
  if (!task || !is_open(*task)) return false;
  const DomainSettings* dom = domains_.find(task->domain);
  if (!dom) return false;
  const auto event = SlaTimers::due_event(*task, dom->sla_at_risk_fraction, now);
  if (event == SlaTimers::Event::none) {
    if (auto next = SlaTimers::next_due(*task, dom->sla_at_risk_fraction)) sla_timers_.schedule(task_id, *next);
    return false;
  }
  try {
    escalate_one(*task, SlaTimers::name(event), now);
  } catch (const std::exception& e) {
    spdlog::warn("sla escalation domain={} task={}: {}", task->domain, task->task_id, e.what());
    sla_timers_.schedule(task_id, now + kSlaRetryMs);
    return false;
  }
  task->sla_state = SlaTimers::name(event);
  if (auto next = SlaTimers::next_due(*task, dom->sla_at_risk_fraction)) sla_timers_.schedule(task_id, *next);
  return true;
}

void ReviewService::escalate_one(const sdk::TaskRecord& t, const std::string& kind, std::int64_t now) {
  std::optional<sdk::DecisionRecord> decision;
  auto st = storage_.get_decision(t.domain, t.decision_id, decision);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  if (!decision) return;
  auto ctx = TaskContext::make(t, *decision);
  bool failed = false;
  const auto actions = policies_.escalate(t.domain, ctx->view, policy::EscalationEvent{kind, now, t.deadline_ms}, failed);
  if (failed) {
    if (auto* c = metrics_.domain(t.domain)) c->policy_errors++;
  }
  // A gold task follows its SLA like any other task (so reviewers cannot tell it apart), but it is
  // quality control, not a case: it counts in no metric, notifies no one and is decided by no one.
  if (kind == "breached" && !t.gold) metrics_.sla_breached(t.domain);

  sdk::WriteBatch batch;
  const EscalationPlan plan = plan_escalation(actions, t, kind, domains_.find(t.domain), now, batch);
  batch.audit.push_back(task_audit(now, audit::kSystemActor, kind == "breached" ? "task.sla_breached" : "task.sla_at_risk", t,
                                   {{"deadline_ms", t.deadline_ms}, {"actions", plan.applied}, {"policy_error", failed}}));
  sdk::DecisionRecord final_decision = *decision;
  if (plan.fallback) {
    final_decision = record_default_decision(batch, t, *decision, plan.fallback_label, now, hooks_);
  } else if (plan.release) {
    record_release(batch, t, now);
  }
  batch.task_patches.push_back(plan.patch);
  st = writer_.submit_sync(batch);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  if ((plan.release || plan.fallback) && is(t.status, TaskState::assigned)) queue_.release(t.task_id, t.assignee);
  if (plan.requeue && !plan.fallback) queue_.push({{t.task_id, t.domain, plan.priority, t.deadline_ms, t.created_ms}});
  spdlog::info("sla {} domain={} decision={} task={} actions={}", kind, t.domain, t.decision_id, t.task_id,
               plan.applied.dump());
  if (plan.fallback && !t.gold && hooks_.on_final) hooks_.on_final(final_decision);
}

std::string ReviewService::assign(std::int64_t task_id, const std::string& reviewer, const std::string& reason,
                                  const Principal& who) {
  if (who.role != Role::admin) throw ServiceError(403, "forbidden", "only an admin may assign a task");
  const auto turn = locks_.exclusive();
  sdk::TaskRecord task = load_task(task_id, who);
  if (!is(task.status, TaskState::pending) && !is(task.status, TaskState::escalated))
    throw ServiceError(409, "illegal_transition", "task " + std::to_string(task_id) + " is " + task.status +
                       ": only a pending or escalated task can be assigned (release it first)");
  const DomainSettings* dom = domains_.find(task.domain);
  if (!dom) throw ServiceError(404, "unknown_domain", "task belongs to unknown domain \"" + task.domain + "\"");
  std::optional<sdk::DecisionRecord> decision;
  auto st = storage_.get_decision(task.domain, task.decision_id, decision);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  sdk::TaskRecord unpinned = task;
  unpinned.preassigned.clear();  // re-assigning a pushed task: judge it as if it were free
  auto ctx = TaskContext::make(unpinned, decision ? *decision : sdk::DecisionRecord{});
  std::string chosen = reviewer;
  if (chosen.empty()) {
    auto ranked = assignment_.ranked_candidates(*ctx, *dom);
    if (ranked.empty())
      throw ServiceError(409, "no_eligible_reviewer", "no registered reviewer may take task " + std::to_string(task_id));
    chosen = ranked.front();
  } else {
    auto r = reviewers_.effective(chosen);
    if (auto why = assignment_.check(*ctx, r, *dom); !why.empty())
      throw ServiceError(409, "not_eligible", "reviewer \"" + chosen + "\" may not take task " + std::to_string(task_id) + ": " + why, "reviewer");
  }
  const std::int64_t now = now_ms();
  sdk::WriteBatch batch;
  sdk::TaskPatch p;
  p.task_id = task_id;
  p.preassigned = chosen;
  batch.task_patches.push_back(p);
  batch.audit.push_back(task_audit(now, who.name, "task.preassigned", task,
                                   {{"actor", who.name}, {"at_ms", now}, {"reason", reason}, {"reviewer", chosen},
                                    {"previous", task.preassigned}}));
  st = writer_.submit_sync(batch);
  if (!st.ok()) throw ServiceError(503, "storage_unavailable", st.message);
  spdlog::info("task preassigned domain={} decision={} task={} reviewer={} by={}", task.domain, task.decision_id,
               task_id, chosen, who.name);
  return chosen;
}

}  // namespace hitl::service
