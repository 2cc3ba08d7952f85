#include "review/review.hpp"

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

namespace {
sdk::AuditRecord audit(std::int64_t now, const std::string& actor, const char* action,
                       const std::string& domain, std::int64_t task_id, json detail) {
  return audit::make_record(now, actor, action, domain, audit::Entity::task, std::to_string(task_id), detail.dump());
}

// Every lifecycle move records who moved the task, when, why, and between which states.
json move_detail(const std::string& actor, std::int64_t now, const std::string& reason, const std::string& from,
                 const std::string& to, json extra = json::object()) {
  extra["actor"] = actor;
  extra["at_ms"] = now;
  extra["reason"] = reason;
  extra["from"] = from;
  extra["to"] = to;
  return extra;
}

[[noreturn]] void storage_failed(const sdk::Status& st) {
  throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
}

[[noreturn]] void illegal(const sdk::TaskRecord& t, const std::string& verb) {
  throw ServiceError(409, "illegal_transition",
                     "task " + std::to_string(t.task_id) + " is " + t.status + ": cannot " + verb);
}

// `from`: one state name or a comma list (TaskUpdate::from).
sdk::TaskUpdate move_to(const sdk::TaskRecord& t, const std::string& from, TaskState to, std::int64_t now) {
  sdk::TaskUpdate u;
  u.task_id = t.task_id;
  u.from = from;
  u.to = name(to);
  u.updated_ms = now;
  return u;
}

// Only assigned -> completed exists: a review needs a claim.
void require_assigned(const sdk::TaskRecord& t) {
  if (is(t.status, TaskState::pending) || is(t.status, TaskState::escalated))
    throw ServiceError(409, "lease_not_held", "task " + std::to_string(t.task_id) + " is " + t.status +
                       ": claim it (GET /v1/review/next) before submitting an outcome");
  if (!is(t.status, TaskState::assigned)) illegal(t, "review");
}

// approve: the model's label stands; correct: the reviewer's label; reject: the prediction is
// wrong and no label is given (a correction label, if sent, is recorded as the final label).
std::string final_label_of(const OutcomeRequest& req, const sdk::DecisionRecord& decision, const DomainSettings& dom) {
  if (req.outcome == "approve") return decision.label;
  if (req.outcome != "correct" && req.outcome != "reject")
    throw ServiceError(422, "invalid_field", "outcome must be approve, reject or correct", "outcome");
  if (req.outcome == "correct" && req.correction_label.empty())
    throw ServiceError(422, "invalid_field", "correction.label is required for outcome \"correct\"", "correction.label");
  if (!req.correction_label.empty() &&
      std::find(dom.labels.begin(), dom.labels.end(), req.correction_label) == dom.labels.end()) {
    std::string allowed;
    for (auto& l : dom.labels) allowed += (allowed.empty() ? "" : ", ") + l;
    throw ServiceError(422, "invalid_field", "correction.label \"" + req.correction_label +
                       "\" is not in the domain's labels (" + allowed + ")", "correction.label");
  }
  return req.correction_label;
}
}  // namespace

ReviewService::ReviewService(sdk::Storage& storage, sdk::Queue& queue, Writer& writer, const Domains& domains,
                             Metrics& metrics, ReviewerDirectory& reviewers, Assignment& assignment,
                             policy::PolicyEngine& policies, FinalHooks hooks)
    : storage_(storage), queue_(queue), writer_(writer), domains_(domains), metrics_(metrics),
      reviewers_(reviewers), assignment_(assignment), policies_(policies), hooks_(std::move(hooks)) {}

// Who claims, for which domain, and what holds for them whatever the task.
struct ReviewClaim {
  const std::string& domain;
  const Principal& who;
  const DomainSettings& dom;
  sdk::ReviewerRecord me;
  ReviewerStats stats;
};

// One outcome on its way from the checks to the commit.
struct ReviewSubmission {
  enum class Step { await_more, final, disagree };

  const OutcomeRequest& req;
  const Principal& who;
  const DomainSettings* dom = nullptr;
  sdk::TaskRecord task;          // read again under the lock before the ack
  sdk::DecisionRecord decision;  // as the model left it
  std::string final_label;
  std::int64_t now = 0;
  std::int64_t started = 0;  // when the reviewer's current lease began
  // Consensus: the current round's earlier answers, the count with this one, and what follows.
  std::vector<sdk::ReviewRecord> round;
  std::int64_t answers = 0;
  bool adjudication = false;
  Step step = Step::final;
  sdk::DecisionRecord final_decision;  // `decision` with its final fields once the step is final
};

namespace {
using Step = ReviewSubmission::Step;

// The task's status after the outcome.
TaskState status_after(Step step) {
  return step == Step::final ? TaskState::completed : step == Step::await_more ? TaskState::pending : TaskState::escalated;
}

const char* step_reason(Step step) {
  return step == Step::final ? "review" : step == Step::await_more ? "consensus: awaiting more answers" : "consensus: disagreement";
}

const char* step_name(Step step) {
  return step == Step::final ? "final" : step == Step::await_more ? "awaiting" : "escalated";
}

sdk::TaskUpdate outcome_move(const ReviewSubmission& s) {
  sdk::TaskUpdate u;
  u.task_id = s.task.task_id;
  u.from = name(TaskState::assigned);
  u.to = name(status_after(s.step));
  u.assignee = s.step == Step::final ? s.who.name : "";
  u.updated_ms = s.now;
  return u;
}

sdk::TaskPatch outcome_patch(const ReviewSubmission& s) {
  sdk::TaskPatch patch;
  patch.task_id = s.task.task_id;
  patch.reviews_done = s.answers;
  if (s.step == Step::disagree) patch.pool = std::string("adjudicator");
  // A push reserves the task for its next claim: once answered, the pin is spent (a consensus
  // task going back to the queue must reach the other reviewers).
  if (!s.task.preassigned.empty()) patch.preassigned = std::string();
  return patch;
}

sdk::ReviewRecord review_record(const ReviewSubmission& s) {
  sdk::ReviewRecord review;
  review.task_id = s.task.task_id;
  review.domain = s.task.domain;
  review.decision_id = s.task.decision_id;
  review.reviewer = s.who.name;
  review.outcome = s.req.outcome;
  review.final_label = s.final_label;
  review.comment = s.req.comment;
  review.created_ms = s.now;
  review.started_ms = s.started;
  return review;
}

sdk::AuditRecord review_audit(const ReviewSubmission& s) {
  const sdk::TaskRecord& task = s.task;
  return audit(s.now, s.who.name, "review.submitted", task.domain, task.task_id,
               {{"decision_id", task.decision_id}, {"outcome", s.req.outcome},
                {"final_label", s.final_label}, {"model_label", s.decision.label},
                // The comment is free text (a payload, erasable): the chain holds its hash.
                {"comment_sha256", s.req.comment.empty() ? std::string() : sha256_hex(s.req.comment)},
                {"started_ms", s.started}, {"actor", s.who.name}, {"at_ms", s.now},
                {"reason", step_reason(s.step)}, {"from", name(TaskState::assigned)}, {"to", name(status_after(s.step))},
                {"answers", s.answers}, {"required", task.reviews_required},
                {"adjudication", s.adjudication}, {"gold", task.gold}});
}

// A disagreement sends the task to the adjudicator pool, with the round's labels.
sdk::AuditRecord escalation_audit(const ReviewSubmission& s) {
  json labels = json::array();
  for (auto& r : s.round) labels.push_back(r.final_label);
  labels.push_back(s.final_label);
  return audit(s.now, audit::kSystemActor, "task.escalated", s.task.domain, s.task.task_id,
               move_detail(audit::kSystemActor, s.now, "consensus disagreement", name(TaskState::assigned), name(TaskState::escalated),
                           {{"decision_id", s.task.decision_id}, {"labels", labels}, {"pool", "adjudicator"}}));
}
}  // namespace

std::optional<ClaimedTask> ReviewService::next(const std::string& domain, const Principal& who) {
  ReviewClaim c = check_claimant(domain, who);
  const auto turn = locks_.reviewer_turn(who.name);
  // Gold accuracy only matters on the claim path when the policy bounds it (assign() gets full
  // stats through Assignment::check).
  c.stats = assignment_.stats(who.name, domain, policies_.min_gold_accuracy(domain) > 0);
  // Limits that hold whatever the task: say so plainly instead of an empty queue.
  if (auto why = assignment_.limit_refusal(c.me, c.dom, c.stats); !why.empty())
    throw ServiceError(409, why.rfind("capacity", 0) == 0 ? "capacity_reached" : "fatigue_limit", why);
  // Claim in queue order and skip what this reviewer may not take (another pool, skills, a case
  // they reviewed, one pushed to someone else): skipped items are held until the end so the
  // next claim moves past them, then released. Bounded: at most kMaxSkips per call.
  constexpr int kMaxSkips = 64;
  std::vector<std::int64_t> skipped;
  auto release_skipped = [&] {
    for (auto id : skipped) queue_.release(id, who.name);
  };
  std::optional<ClaimedTask> out;
  try {
    for (int attempt = 0; attempt < kMaxSkips && !out; ++attempt) {
      const std::int64_t now = now_ms();
      std::optional<sdk::Lease> lease;
      auto st = queue_.claim(domain, who.name, now, c.dom.lease_ms, lease);
      if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
      if (!lease) break;
      out = take_leased(c, *lease, now, skipped);
    }
  } catch (...) {
    release_skipped();
    throw;
  }
  release_skipped();
  return out;
}

// The checks before the lock: the domain exists and the reviewer may work it.
ReviewClaim ReviewService::check_claimant(const std::string& domain, const Principal& who) {
  const DomainSettings* dom = &domains_.require(domain);
  if (!who.may_access(domain))
    throw ServiceError(403, "forbidden", "reviewer \"" + who.name + "\" is not assigned to domain \"" + domain + "\"", "domain");
  const sdk::ReviewerRecord me = reviewers_.effective(who.name);
  if (me.disabled) throw ServiceError(403, "reviewer_disabled", "reviewer \"" + who.name + "\" is disabled");
  if (!me.domains.empty() && !list_contains(me.domains, domain))
    throw ServiceError(403, "forbidden", "reviewer \"" + who.name + "\" is not registered for domain \"" + domain + "\"", "domain");
  return ReviewClaim{domain, who, *dom, me, {}};
}

// One leased queue item: dropped when stale, held back (in `skipped`) when this reviewer may not
// take it, otherwise assigned to them. Returns the claimed task, if it became one.
std::optional<ClaimedTask> ReviewService::take_leased(const ReviewClaim& c, const sdk::Lease& lease, std::int64_t now,
                                                      std::vector<std::int64_t>& skipped) {
  // A storage failure gives the item back before it is reported.
  auto fail = [&](const sdk::Status& st) {
    queue_.release(lease.task_id, c.who.name);
    storage_failed(st);
  };
  std::optional<sdk::TaskRecord> task;
  if (auto st = storage_.get_task(lease.task_id, task); !st.ok()) fail(st);
  // A completed or cancelled task's item is stale (cancel leaves it in the queue): drop it.
  if (!task || !is_open(*task)) {
    queue_.ack(lease.task_id, c.who.name, now);
    return std::nullopt;
  }
  std::optional<sdk::DecisionRecord> decision;
  if (auto st = storage_.get_decision(c.domain, task->decision_id, decision); !st.ok()) fail(st);
  auto ctx = TaskContext::make(*task, decision ? *decision : sdk::DecisionRecord{});
  std::string why = assignment_.refusal(*ctx, c.me, c.dom, c.stats, /*limits=*/false);
  if (why.empty() && policies_.has_assign(c.domain)) why = assignment_.check(*ctx, c.me, c.dom);
  if (!why.empty()) {
    spdlog::debug("task skipped domain={} task={} reviewer={}: {}", c.domain, task->task_id, c.who.name, why);
    skipped.push_back(lease.task_id);
    return std::nullopt;
  }
  if (!commit_claim(c, *task, lease, now)) return std::nullopt;
  task->status = name(TaskState::assigned);
  task->assignee = c.who.name;
  task->lease_expires_ms = lease.expires_ms;
  if (auto* counters = metrics_.domain(c.domain)) counters->claims++;
  spdlog::debug("task claimed domain={} decision={} task={} reviewer={}", c.domain, task->decision_id,
                task->task_id, c.who.name);
  return ClaimedTask{*task, decision ? std::move(*decision) : sdk::DecisionRecord{}};
}

// The storage side of a claim: the task becomes assigned to the lease holder, audited. Returns
// false (the item released) when another process moved the task meanwhile.
bool ReviewService::commit_claim(const ReviewClaim& c, const sdk::TaskRecord& task, const sdk::Lease& lease,
                                 std::int64_t now) {
  sdk::WriteBatch batch;
  sdk::TaskUpdate u;
  u.task_id = task.task_id;
  u.from = open_states();
  u.to = name(TaskState::assigned);
  u.assignee = c.who.name;
  u.lease_expires_ms = lease.expires_ms;
  u.updated_ms = now;
  batch.task_updates.push_back(u);
  batch.audit.push_back(audit(now, c.who.name, "task.claimed", c.domain, task.task_id,
                              move_detail(c.who.name, now, "claim", task.status, name(TaskState::assigned),
                                          {{"lease_expires_ms", lease.expires_ms},
                                           {"decision_id", task.decision_id},
                                           {"previous_assignee", task.assignee}})));
  const auto st = writer_.submit_sync(batch);
  if (!st.ok()) {
    queue_.release(lease.task_id, c.who.name);
    storage_failed(st);
  }
  if (!batch.task_updates[0].applied) {  // moved by another process meanwhile: not ours
    queue_.release(lease.task_id, c.who.name);
    return false;
  }
  return true;
}

OutcomeResult ReviewService::submit(const OutcomeRequest& req, const Principal& who) {
  ReviewSubmission s = check_submission(req, who);
  const auto turn = locks_.reviewer_turn(who.name);
  // Read again under the lock: a release, cancel or expiry (exclusive holders) may have moved it
  // since; other claims and submits run meanwhile, but the queue's ack below is this lease
  // holder's alone (review/review_locks.hpp).
  s.task = read_task(req.task_id);
  require_assigned(s.task);
  s.now = now_ms();
  // The queue's ack is the exclusive step: only the reviewer holding a live lease gets past it.
  auto st = queue_.ack(req.task_id, who.name, s.now);
  if (st.code == sdk::Code::conflict || st.code == sdk::Code::not_found)
    throw ServiceError(409, "lease_not_held", "cannot submit task " + std::to_string(req.task_id) + ": " + st.message);
  if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
  weigh_consensus(s);
  // The current lease began lease_ms before it expires: the reviewer's work time on this task.
  // A renewed lease (renew()) expires later but keeps the claim's time in updated_ms: the earlier.
  std::int64_t started = s.task.lease_expires_ms > s.dom->lease_ms ? s.task.lease_expires_ms - s.dom->lease_ms : 0;
  if (s.task.updated_ms > 0 && s.task.updated_ms < started) started = s.task.updated_ms;
  s.started = std::min(started, s.now);
  sdk::WriteBatch batch = outcome_batch(s);
  commit_outcome(batch, s);
  after_outcome(s);
  OutcomeResult r{req.task_id, s.task.domain, s.task.decision_id, req.outcome, s.final_label};
  r.status = name(status_after(s.step));
  return r;
}

// The checks before the lock: the task is the reviewer's to answer, and the answer is one the
// domain allows.
ReviewSubmission ReviewService::check_submission(const OutcomeRequest& req, const Principal& who) {
  ReviewSubmission s{req, who};
  s.task = read_task(req.task_id);
  if (!who.may_access(s.task.domain))
    throw ServiceError(403, "forbidden", "reviewer \"" + who.name + "\" is not assigned to domain \"" + s.task.domain + "\"");
  require_assigned(s.task);
  if (who.role == Role::reviewer && reviewers_.effective(who.name).disabled)
    throw ServiceError(403, "reviewer_disabled", "reviewer \"" + who.name + "\" is disabled");
  s.dom = domains_.find(s.task.domain);
  if (!s.dom) throw ServiceError(404, "unknown_domain", "task belongs to unknown domain \"" + s.task.domain + "\"");
  std::optional<sdk::DecisionRecord> decision;
  auto st = storage_.get_decision(s.task.domain, s.task.decision_id, decision);
  if (!st.ok()) storage_failed(st);
  if (!decision) throw ServiceError(500, "internal", "task " + std::to_string(req.task_id) + " has no decision");
  s.decision = std::move(*decision);
  s.final_label = final_label_of(req, s.decision, *s.dom);
  return s;
}

// Consensus: the answers of the current round (the latest reviews_done reviews) plus this one.
// An adjudicator's answer (a task escalated to the adjudicator pool) and a gold task's answer
// settle the round alone.
void ReviewService::weigh_consensus(ReviewSubmission& s) {
  const sdk::TaskRecord& task = s.task;
  if (task.reviews_done > 0) {
    sdk::ReviewFilter rf;
    rf.task_id = task.task_id;
    rf.limit = 100000;
    if (auto st = storage_.list_reviews(rf, s.round); !st.ok()) storage_failed(st);
    if (s.round.size() > static_cast<std::size_t>(task.reviews_done))
      s.round.erase(s.round.begin(), s.round.end() - task.reviews_done);
  }
  s.adjudication = task.pool == "adjudicator" && task.reviews_required > 1;
  s.answers = static_cast<std::int64_t>(s.round.size()) + 1;
  s.step = Step::final;
  if (!s.adjudication && !task.gold && s.answers < task.reviews_required) {
    s.step = Step::await_more;
  } else if (!s.adjudication && !task.gold && task.reviews_required > 1) {
    for (auto& r : s.round)
      if (r.final_label != s.final_label) s.step = Step::disagree;
  }
}

// One transaction: the task's move, the review, its audit record and, when the answer is final,
// the feedback row, the decision's final label and its webhook delivery.
sdk::WriteBatch ReviewService::outcome_batch(ReviewSubmission& s) {
  sdk::WriteBatch batch;
  batch.task_updates.push_back(outcome_move(s));
  batch.task_patches.push_back(outcome_patch(s));
  batch.reviews.push_back(review_record(s));
  batch.audit.push_back(review_audit(s));
  if (s.step == Step::disagree) batch.audit.push_back(escalation_audit(s));
  s.final_decision = s.decision;
  if (s.step == Step::final && !s.task.gold) {
    // A gold task is quality control: its answer scores the reviewer, never a decision.
    const sdk::DecisionRecord& d = s.decision;
    batch.feedback.push_back({s.task.domain, s.task.decision_id, d.input_json, s.final_label, d.label,
                              d.confidence, s.req.outcome, s.who.name, s.now});
    batch.finals.push_back({s.task.domain, s.task.decision_id, s.final_label, s.req.outcome, s.now});
    s.final_decision.final_label = s.final_label;
    s.final_decision.final_outcome = s.req.outcome;
    s.final_decision.final_ms = s.now;
    if (hooks_.delivery_for)
      if (auto delivery = hooks_.delivery_for(s.final_decision)) batch.deliveries.push_back(std::move(*delivery));
  }
  return batch;
}

void ReviewService::commit_outcome(sdk::WriteBatch& batch, const ReviewSubmission& s) {
  const sdk::TaskRecord& task = s.task;
  auto st = writer_.submit_sync(batch);
  if (!st.ok()) {
    // Nothing was written: put the task back so the work is not lost.
    queue_.push({{task.task_id, task.domain, task.priority, task.deadline_ms, task.created_ms}});
    storage_failed(st);
  }
  if (!batch.task_updates[0].applied)
    spdlog::warn("task completed although storage had it in an unexpected state domain={} decision={} task={}",
                 task.domain, task.decision_id, task.task_id);
}

// After the commit: a task needing more answers (or an adjudicator) goes back to the queue; a
// final answer is counted and announced.
void ReviewService::after_outcome(const ReviewSubmission& s) {
  const sdk::TaskRecord& task = s.task;
  const std::string& outcome = s.req.outcome;
  if (s.step != Step::final)
    queue_.push({{task.task_id, task.domain, task.priority, task.deadline_ms, task.created_ms}});
  spdlog::info("review submitted domain={} decision={} task={} outcome={} reviewer={} step={}", task.domain,
               task.decision_id, task.task_id, outcome, s.who.name, step_name(s.step));
  if (task.gold) return;  // quality control: counted in no metric, announced to no one
  if (s.step == Step::final) {
    metrics_.review_completed(task.domain, outcome, static_cast<double>(s.now - task.created_ms) / 1000.0,
                              s.final_label != s.decision.label, task.deadline_ms > 0 && s.now > task.deadline_ms);
    if (!s.final_label.empty())  // a reject without a label settles no truth
      metrics_.estimate_outcome(task.domain, s.decision.reason == report::kAuditReason, s.final_label == s.decision.label);
    if (hooks_.on_final) hooks_.on_final(s.final_decision);
  }
  if (auto* c = metrics_.domain(task.domain)) {
    if (outcome == "approve") c->reviews_approve++;
    else if (outcome == "reject") c->reviews_reject++;
    else c->reviews_correct++;
  }
}

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
