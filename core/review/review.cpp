#include "review/review.hpp"

#include "review/review_detail.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/hash.hpp"
#include "review/assignment.hpp"
#include "governance/auth.hpp"
#include "review/reviewers.hpp"
#include "metrics/metrics.hpp"
#include "report/report.hpp"
#include "domain/domains.hpp"
#include "common/service_error.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

namespace hitl::service {
using nlohmann::json;
using namespace review_detail;

namespace {
// `from`: one state name or a comma list (TaskUpdate::from).
sdk::TaskUpdate move_to(const sdk::TaskRecord& t, const std::string& from, TaskState to, std::int64_t now) {
  sdk::TaskUpdate u;
  u.task_id = t.task_id;
  u.from = from;
  u.to = name(to);
  u.updated_ms = now;
  return u;
}
}  // namespace

ReviewService::ReviewService(sdk::Storage& storage, sdk::Queue& queue, Writer& writer, const Domains& domains,
                             Metrics& metrics, ReviewerDirectory& reviewers, Assignment& assignment,
                             policy::PolicyEngine& policies, FinalHooks hooks)
    : storage_(storage), queue_(queue), writer_(writer), domains_(domains), metrics_(metrics),
      reviewers_(reviewers), assignment_(assignment), policies_(policies), hooks_(std::move(hooks)) {}
std::size_t ReviewService::expire_leases() {
  const auto turn = locks_.exclusive();
  std::vector<std::int64_t> expired;
  const std::int64_t now = now_ms();
  auto st = queue_.expire(now, expired);
  if (!st.ok()) {
    spdlog::warn("lease expiry failed: {}", st.message);
    return 0;
  }
  if (expired.empty()) return 0;
  sdk::WriteBatch batch;
  for (auto id : expired) {
    std::optional<sdk::TaskRecord> task;
    if (!storage_.get_task(id, task).ok() || !task) continue;
    // The item of a cancelled (or otherwise moved) task is stale: next() drops it.
    if (!is(task->status, TaskState::assigned)) continue;
    sdk::TaskUpdate u;
    u.task_id = id;
    u.from = name(TaskState::assigned);
    u.to = name(TaskState::pending);
    u.updated_ms = now;
    batch.task_updates.push_back(u);
    batch.audit.push_back(audit(now, audit::kSystemActor, "task.lease_expired", task->domain, id,
                                move_detail(audit::kSystemActor, now, "lease expired", name(TaskState::assigned), name(TaskState::pending),
                                            {{"assignee", task->assignee}})));
    if (auto* c = metrics_.domain(task->domain)) c->leases_expired++;
  }
  if (!batch.empty()) {
    st = writer_.submit_sync(batch);
    if (!st.ok()) spdlog::warn("recording expired leases failed: {}", st.message);
  }
  return expired.size();
}

sdk::TaskRecord ReviewService::read_task(std::int64_t task_id) {
  std::optional<sdk::TaskRecord> task;
  auto st = storage_.get_task(task_id, task);
  if (!st.ok()) storage_failed(st);
  if (!task) throw ServiceError(404, "not_found", "no task " + std::to_string(task_id), "task_id");
  return *task;
}

sdk::TaskRecord ReviewService::load_task(std::int64_t task_id, const Principal& who) {
  sdk::TaskRecord task = read_task(task_id);
  if (!who.may_access(task.domain))
    throw ServiceError(403, "forbidden", "token \"" + who.name + "\" is not allowed domain \"" + task.domain + "\"");
  return task;
}

// Commits one guarded move. The state was checked under the task lock just before, so a guard that does
// not match means another process moved the task; the storage trigger refusing the pair means
// the lifecycle has no such move (a bug here, reported as the conflict it is).
void ReviewService::commit_move(sdk::WriteBatch& batch, const sdk::TaskRecord& task, const char* verb) {
  auto st = writer_.submit_sync(batch);
  if (st.code == sdk::Code::conflict) throw ServiceError(409, "illegal_transition", st.message);
  if (!st.ok()) storage_failed(st);
  if (!batch.task_updates.at(0).applied) {
    std::optional<sdk::TaskRecord> now_task;
    if (storage_.get_task(task.task_id, now_task).ok() && now_task) illegal(*now_task, verb);
    illegal(task, verb);
  }
}

// A person's move of one task (release, send back, cancel), whose state the caller checked under
// the exclusive task lock: the guarded change, its audit record and the commit. `batch` may carry more for the same
// commit.
TransitionResult ReviewService::move_by(const sdk::TaskRecord& task, const PersonMove& m, const Principal& who,
                                        const std::string& reason, json detail, sdk::WriteBatch batch) {
  const std::int64_t now = now_ms();
  batch.task_updates.insert(batch.task_updates.begin(), move_to(task, m.guard, m.to, now));
  batch.audit.push_back(audit(now, who.name, m.action, task.domain, task.task_id,
                              move_detail(who.name, now, reason, task.status, name(m.to), std::move(detail))));
  commit_move(batch, task, m.verb);
  spdlog::info("{} domain={} decision={} task={} by={}", m.action, task.domain, task.decision_id, task.task_id, who.name);
  return {task.task_id, task.domain, task.decision_id, task.status, name(m.to)};
}

std::vector<std::int64_t> ReviewService::release_all_held(const std::string& reviewer, const std::string& reason,
                                                          const Principal& who) {
  sdk::TaskFilter f;
  f.status = name(TaskState::assigned);
  f.assignee = reviewer;
  std::vector<sdk::TaskRecord> held;
  if (auto st = storage_.list_tasks(f, held); !st.ok()) storage_failed(st);
  std::vector<std::int64_t> released;
  for (auto& t : held) {
    try {
      release(t.task_id, reason, who);
      released.push_back(t.task_id);
    } catch (const ServiceError&) {
      // Moved meanwhile (submitted, expired): nothing to release.
    }
  }
  return released;
}

TransitionResult ReviewService::release(std::int64_t task_id, const std::string& reason, const Principal& who) {
  const auto turn = locks_.exclusive();
  sdk::TaskRecord task = load_task(task_id, who);
  if (!is(task.status, TaskState::assigned)) illegal(task, "release");
  const bool admin = who.role == Role::admin;
  if (!admin && task.assignee != who.name)
    throw ServiceError(409, "lease_not_held", "task " + std::to_string(task_id) + " is leased to \"" + task.assignee +
                       "\", not to \"" + who.name + "\"");
  // The queue knows who holds the lease: an admin releases on the holder's behalf.
  auto st = queue_.release(task_id, task.assignee);
  if (st.code == sdk::Code::conflict || st.code == sdk::Code::not_found)
    throw ServiceError(409, "lease_not_held", "cannot release task " + std::to_string(task_id) + ": " + st.message);
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
  // On a failed commit the item is ready again: a claim re-assigns it.
  return move_by(task, {name(TaskState::assigned), TaskState::pending, "task.released", "release"}, who, reason,
                 {{"decision_id", task.decision_id}, {"assignee", task.assignee}});
}

TransitionResult ReviewService::send_back(std::int64_t task_id, const std::string& reason, const Principal& who) {
  if (who.role != Role::admin) throw ServiceError(403, "forbidden", "only an admin may send a task back");
  const auto turn = locks_.exclusive();
  sdk::TaskRecord task = load_task(task_id, who);
  if (!is(task.status, TaskState::completed)) illegal(task, "send back");
  std::optional<sdk::DecisionRecord> decision;
  auto st = storage_.get_decision(task.domain, task.decision_id, decision);
  if (!st.ok()) storage_failed(st);
  // Queue first: should the storage step fail, the item's task is still completed and next()
  // drops it, whereas a pending task missing from the queue would wait for the next restart.
  st = queue_.push({{task_id, task.domain, task.priority, task.deadline_ms, task.created_ms}});
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
  // A new round: a consensus task needs its reviewers_required answers again (from reviewers
  // who have not seen it), and a push to someone is spent.
  sdk::WriteBatch fresh_round;
  sdk::TaskPatch fresh;
  fresh.task_id = task_id;
  fresh.reviews_done = 0;
  fresh.preassigned = std::string();
  fresh_round.task_patches.push_back(fresh);
  // The decision's final label stays as it is until the next review replaces it.
  auto moved = move_by(task, {name(TaskState::completed), TaskState::pending, "task.sent_back", "send back"}, who, reason,
                       {{"decision_id", task.decision_id},
                        {"previous_reviewer", task.assignee},
                        {"final_label", decision ? decision->final_label : ""}},
                       std::move(fresh_round));
  track_sla(task);  // open again: its SLA moments matter again
  return moved;
}

TransitionResult ReviewService::cancel(std::int64_t task_id, const std::string& reason, const Principal& who) {
  if (who.role != Role::admin) throw ServiceError(403, "forbidden", "only an admin may cancel a task");
  const auto turn = locks_.exclusive();
  sdk::TaskRecord task = load_task(task_id, who);
  if (!is_open(task)) illegal(task, "cancel");
  auto moved = move_by(task, {open_states(), TaskState::cancelled, "task.cancelled", "cancel"}, who, reason,
                       {{"decision_id", task.decision_id}, {"assignee", task.assignee}});
  // The queue has no remove: its item stays and next() acks it as stale. Releasing a held lease
  // makes that happen at the next claim instead of after the lease runs out.
  if (is(task.status, TaskState::assigned)) queue_.release(task_id, task.assignee);
  return moved;
}

std::size_t ReviewService::requeue_open_tasks(const std::atomic<bool>& stop) {
  // Pages through the (status, task_id) index, so each step costs the same whatever the backlog
  // and no lock is held between pages: claims, ingest and /healthz run meanwhile.
  constexpr std::size_t kPage = 1000;
  std::size_t n = 0;
  // New tasks are found by id (track_new_tasks) from the highest the pending walk saw, also when
  // the walk stops early: a task is pending when created, and one created after the pending walk
  // has a higher id. (Ones the later walks see again are scheduled twice: harmless, see SlaTimers.)
  std::int64_t highest = 0;
  struct HandOver {
    std::atomic<std::int64_t>& seen;
    const std::int64_t& highest;
    ~HandOver() { seen.store(highest); }
  } hand_over{sla_seen_up_to_, highest};
  for (TaskState open : kOpenStates) {
    sdk::TaskFilter f;
    f.status = name(open);
    f.limit = kPage;
    std::vector<sdk::TaskRecord> page;
    while (!stop) {
      const auto page_start = std::chrono::steady_clock::now();
      auto st = storage_.list_tasks(f, page);
      if (!st.ok()) storage_failed(st);
      std::vector<sdk::QueueItem> items;
      for (const auto& t : page) {
        items.push_back({t.task_id, t.domain, t.priority, t.deadline_ms, t.created_ms});
        track_sla(t);
        if (is(t.status, TaskState::pending)) highest = std::max(highest, t.task_id);
      }
      if (!items.empty()) {
        st = queue_.push(items);
        if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
      }
      n += page.size();
      if (page.size() < kPage) break;
      f.after_task_id = page.back().task_id;
      // Paced at a third of the time: the walk is housekeeping and must not take the storage
      // and queue connections from requests for long stretches.
      std::this_thread::sleep_for(2 * (std::chrono::steady_clock::now() - page_start));
    }
  }
  return n;
}

std::size_t ReviewService::reconcile_leases() {
  const auto turn = locks_.exclusive();
  const std::int64_t now = now_ms();
  // The SDK's queue cannot list leases without ending them: end them all (a few, one per claim
  // held), then give back the ones storage backs.
  std::vector<std::int64_t> freed;
  auto st = queue_.expire(std::numeric_limits<std::int64_t>::max(), freed);
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
  sdk::TaskFilter f;
  f.status = name(TaskState::assigned);  // through tasks_by_status: as many rows as claims held
  f.limit = 1000;
  std::vector<sdk::TaskRecord> page, to_pending;
  std::size_t restored_from_queue = 0;
  for (;;) {
    st = storage_.list_tasks(f, page);
    if (!st.ok()) storage_failed(st);
    for (const auto& t : page) {
      const bool queue_held = std::binary_search(freed.begin(), freed.end(), t.task_id);
      if (t.lease_expires_ms > now && restore_lease(t, now)) {
        if (queue_held) ++restored_from_queue;
        continue;
      }
      to_pending.push_back(t);
    }
    if (page.size() < f.limit) break;
    f.after_task_id = page.back().task_id;
  }
  reconcile_to_pending(to_pending, now);
  const std::size_t unbacked = freed.size() - restored_from_queue;
  if (unbacked || !to_pending.empty())
    spdlog::info("start-up: freed {} queue leases storage did not back, returned {} assigned tasks to pending",
                 unbacked, to_pending.size());
  return unbacked + to_pending.size();
}

// The SDK's queue has no "lease this task to R": at start, before anything else claims, the item
// is lifted above every other (highest priority), claimed for its holder for the rest of the
// lease storage recorded, then put back at its own rank (a push keeps the lease).
bool ReviewService::restore_lease(const sdk::TaskRecord& t, std::int64_t now) {
  sdk::QueueItem item{t.task_id, t.domain, t.priority, t.deadline_ms, t.created_ms};
  sdk::QueueItem lifted = item;
  lifted.priority = std::numeric_limits<double>::max();
  if (!queue_.push({lifted}).ok()) return false;
  std::optional<sdk::Lease> lease;
  const auto st = queue_.claim(t.domain, t.assignee, now, t.lease_expires_ms - now, lease);
  const bool ours = st.ok() && lease && lease->task_id == t.task_id;
  if (st.ok() && lease && !ours) queue_.release(lease->task_id, t.assignee);
  if (!queue_.push({item}).ok()) spdlog::warn("start-up: task {} keeps a raised queue rank until re-pushed", t.task_id);
  return ours;
}

// Assigned tasks no live queue lease backs go back to pending and to the queue, audited like an
// expired lease.
std::size_t ReviewService::return_orphaned_claims(std::int64_t grace_ms) {
  const auto turn = locks_.exclusive();
  const std::int64_t now = now_ms();
  sdk::TaskFilter f;
  f.status = name(TaskState::assigned);  // through tasks_by_status: as many rows as claims held
  f.limit = 1000;
  std::vector<sdk::TaskRecord> page, orphans;
  for (;;) {
    auto st = storage_.list_tasks(f, page);
    if (!st.ok()) storage_failed(st);
    for (const auto& t : page)
      if (t.lease_expires_ms + grace_ms < now) orphans.push_back(t);
    if (page.size() < f.limit) break;
    f.after_task_id = page.back().task_id;
  }
  reconcile_to_pending(orphans, now, "lease expired on an instance that stopped");
  if (!orphans.empty()) spdlog::warn("returned {} claims of a stopped instance to the queue", orphans.size());
  return orphans.size();
}

void ReviewService::reconcile_to_pending(const std::vector<sdk::TaskRecord>& tasks, std::int64_t now, const char* why) {
  if (tasks.empty()) return;
  sdk::WriteBatch batch;
  std::vector<sdk::QueueItem> items;
  for (const auto& t : tasks) {
    const bool expired = t.lease_expires_ms <= now;
    batch.task_updates.push_back(move_to(t, name(TaskState::assigned), TaskState::pending, now));
    batch.audit.push_back(audit(now, audit::kSystemActor, expired ? "task.lease_expired" : "task.released", t.domain, t.task_id,
                                move_detail(audit::kSystemActor, now,
                                            expired ? why : "start-up: the queue could not give the lease back",
                                            name(TaskState::assigned), name(TaskState::pending),
                                            {{"decision_id", t.decision_id}, {"assignee", t.assignee}})));
    items.push_back({t.task_id, t.domain, t.priority, t.deadline_ms, t.created_ms});
    if (auto* c = expired ? metrics_.domain(t.domain) : nullptr) c->leases_expired++;
  }
  auto st = writer_.submit_sync(batch);
  if (!st.ok()) storage_failed(st);
  st = queue_.push(items);
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
}
// The storage step keeps updated_ms (the claim's time: the start of this reviewer's work, which
// submit() counts from) and moves only lease_expires_ms, so lists, traces and the start-up
// reconciliation see the lease the queue has.
std::int64_t ReviewService::renew(std::int64_t task_id, const Principal& who) {
  if (!queue_renews_)
    throw ServiceError(501, "not_supported", "the queue plugin cannot renew leases (queue interface 1.1 needed)");
  const auto turn = locks_.exclusive();
  sdk::TaskRecord task = load_task(task_id, who);
  if (!is(task.status, TaskState::assigned)) illegal(task, "renew");
  if (task.assignee != who.name)
    throw ServiceError(409, "lease_not_held", "task " + std::to_string(task_id) + " is leased to \"" + task.assignee +
                       "\", not to \"" + who.name + "\"");
  const DomainSettings* dom = domains_.find(task.domain);
  if (!dom) throw ServiceError(404, "unknown_domain", "task belongs to unknown domain \"" + task.domain + "\"");
  const std::int64_t now = now_ms();
  std::int64_t expires = 0;
  auto st = queue_.renew(task_id, who.name, now, dom->lease_ms, expires);
  if (st.code == sdk::Code::conflict || st.code == sdk::Code::not_found)
    throw ServiceError(409, "lease_not_held", "cannot renew the lease on task " + std::to_string(task_id) + ": " + st.message);
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
  sdk::WriteBatch batch;
  sdk::TaskUpdate u = move_to(task, name(TaskState::assigned), TaskState::assigned, task.updated_ms);
  u.assignee = who.name;
  u.lease_expires_ms = expires;
  batch.task_updates.push_back(u);
  batch.audit.push_back(audit(now, who.name, "task.lease_renewed", task.domain, task_id,
                              {{"actor", who.name}, {"at_ms", now}, {"decision_id", task.decision_id},
                               {"previous_lease_expires_ms", task.lease_expires_ms}, {"lease_expires_ms", expires}}));
  commit_move(batch, task, "renew");
  return expires;
}

}  // namespace hitl::service
