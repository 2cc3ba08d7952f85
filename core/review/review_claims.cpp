// Claims and submits (review.hpp): the checks on the request's thread, then the queue's lease or
// ack and the reads on the writer thread (Writer::post), the storage move through the writer's
// group commit, and the answer from its after-commit callback. A shared turn per reviewer
// (review_locks.hpp) is held from the hand-off to the answer; no thread waits meanwhile.
#include "review/review.hpp"

#include "review/review_detail.hpp"

#include "common/clock.hpp"
#include "common/hash.hpp"
#include "governance/auth.hpp"
#include "metrics/metrics.hpp"
#include "policy/policy_engine.hpp"
#include "report/report.hpp"
#include "review/assignment.hpp"
#include "review/reviewers.hpp"
#include "domain/domains.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace hitl::service {
using nlohmann::json;
using namespace review_detail;

namespace {
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

// What a claim reads beyond the queue, derived once when it is asked: the lane it runs on and
// the reviewer stats its first step reads both follow from it.
struct ClaimReads {
  bool assign_hook = false;    // the policy's assign() runs (policy code)
  bool gold_accuracy = false;  // the policy bounds it (min_gold_accuracy): every past review
  bool fatigue = false;        // the domain sets a fatigue limit: the reviewer's day of reviews
  // Policy code or reads that grow with the reviewer's work: off the writer thread (claim_lane.hpp).
  bool on_lane() const { return assign_hook || gold_accuracy || fatigue; }
};

ClaimReads claim_reads(const policy::PolicyEngine& policies, const std::string& domain, const DomainSettings& dom) {
  return {policies.has_assign(domain), policies.min_gold_accuracy(domain) > 0,
          dom.fatigue_max_consecutive > 0 || dom.fatigue_max_per_hour > 0};
}
}  // namespace

// Who claims, for which domain, and what holds for them whatever the task.
// It owns what it needs: it lives from the request's thread through the writer thread's steps to
// the after-commit callback that answers it.
struct ReviewClaim {
  std::string domain;
  Principal who;
  const DomainSettings& dom;
  sdk::ReviewerRecord me;
  ReviewService::ClaimDone done;
  ClaimLane* lane = nullptr;  // its domain's claim lane, where its steps run (null: the writer thread)
  ClaimReads reads;           // set before its first step
  ReviewerStats stats;
  int attempts = 0;  // queue items leased so far (at most kMaxSkips)
  // Items this reviewer may not take, held until the claim ends so the next lease moves past them.
  std::vector<std::int64_t> skipped;
};

// One outcome on its way from the checks to the commit and the answer (owned, as ReviewClaim).
struct ReviewSubmission {
  enum class Step { await_more, final, disagree };

  OutcomeRequest req;
  Principal who;
  ReviewService::OutcomeDone done;
  const DomainSettings* dom = nullptr;
  sdk::TaskRecord task;          // read again under the lock before the ack
  sdk::DecisionRecord decision;  // as the model left it
  std::string final_label;
  std::int64_t now = 0;
  std::int64_t started = 0;  // when the reviewer's current lease began
  // Consensus: the current round's earlier answers, the count with this one, and what follows.
  std::vector<sdk::ReviewRecord> round;
  std::int64_t answers = 0;
  bool checks_in_step = false;  // check_submission runs in outcome_step (step threads), not before the turn
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


// Hands `step` to the writer thread (or the claim lane) once the reviewer's shared turn is
// admitted (at once, or when their previous claim or submit, or an exclusive move, is done).
// Never blocks.
void ReviewService::in_turn(const std::string& reviewer, std::function<void()> step, ClaimLane* lane) {
  locks_.enter_shared(reviewer, [this, step = std::move(step), lane]() mutable { post_step(lane, std::move(step)); });
}

void ReviewService::post_step(ClaimLane* lane, std::function<void()> step) {
  if (!lane) lane = lanes_.step_threads();
  if (lane) lane->post(std::move(step));
  else writer_.post(std::move(step));
}

void ReviewService::next_async(const std::string& domain, const Principal& who, ClaimDone done) {
  auto c = check_claimant(domain, who, std::move(done));
  c->reads = claim_reads(policies_, domain, c->dom);
  if (c->reads.on_lane()) c->lane = &lanes_.of(domain);
  in_turn(who.name, [this, c] { claim_step(c); }, c->lane);
}

// The checks before the turn: the domain exists and the reviewer may work it.
std::shared_ptr<ReviewClaim> ReviewService::check_claimant(const std::string& domain, const Principal& who,
                                                           ClaimDone done) {
  const DomainSettings& dom = domains_.require(domain);
  if (!who.may_access(domain))
    throw ServiceError(403, "forbidden", "reviewer \"" + who.name + "\" is not assigned to domain \"" + domain + "\"", "domain");
  sdk::ReviewerRecord me = reviewers_.effective(who.name);
  if (me.disabled) throw ServiceError(403, "reviewer_disabled", "reviewer \"" + who.name + "\" is disabled");
  if (!me.domains.empty() && !list_contains(me.domains, domain))
    throw ServiceError(403, "forbidden", "reviewer \"" + who.name + "\" is not registered for domain \"" + domain + "\"", "domain");
  return std::make_shared<ReviewClaim>(domain, who, dom, std::move(me), std::move(done));
}

// On the writer thread (or the claim lane), in the reviewer's turn: the limits that hold whatever the task, then the
// queue's leases until one is this reviewer's to take.
void ReviewService::claim_step(const std::shared_ptr<ReviewClaim>& c) {
  try {
    // Gold accuracy only matters on the claim path when the policy bounds it (assign() gets full
    // stats through Assignment::check), the day's reviews only when a fatigue limit is set: both
    // grow with the reviewer's work, read on every claim.
    c->stats = assignment_.stats(c->who.name, c->domain, c->reads.gold_accuracy, c->reads.fatigue);
    // Say so plainly instead of an empty queue.
    if (auto why = assignment_.limit_refusal(c->me, c->dom, c->stats); !why.empty())
      throw ServiceError(409, why.rfind("capacity", 0) == 0 ? "capacity_reached" : "fatigue_limit", why);
    lease_next(c);
  } catch (...) {
    finish_claim(*c, std::nullopt, std::current_exception());
  }
}

// Claims in queue order and skips what this reviewer may not take (another pool, skills, a case
// they reviewed, one pushed to someone else). Bounded: at most kMaxSkips leases per claim. The
// first one they may take goes to storage; the claim is answered once that is committed.
void ReviewService::lease_next(const std::shared_ptr<ReviewClaim>& c) {
  constexpr int kMaxSkips = 64;
  while (c->attempts < kMaxSkips) {
    ++c->attempts;
    const std::int64_t now = now_ms();
    std::optional<sdk::Lease> lease;
    auto st = queue_.claim(c->domain, c->who.name, now, c->dom.lease_ms, lease);
    if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
    if (!lease) break;
    if (auto claimed = take_leased(*c, *lease, now)) return commit_claim(c, std::move(*claimed), *lease, now);
  }
  finish_claim(*c, std::nullopt, nullptr);
}

// One leased queue item: dropped when stale, held back (in `skipped`) when this reviewer may not
// take it. Returns the task and its decision when it is theirs to take.
std::optional<ClaimedTask> ReviewService::take_leased(ReviewClaim& c, const sdk::Lease& lease, std::int64_t now) {
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
  // Assigned to someone else whose lease is live: this item is a copy pushed again by the
  // start-up walk (its page was read before the holder's claim and pushed after the holder's
  // submit acked the item, before that submit's commit). Taking it would hand one task to two
  // reviewers (make bench counted 3 on three PostgreSQL instances). Left like a task this
  // reviewer may not take: it is acked as stale once the holder's review is stored, and is
  // claimable again if the holder's lease runs out first.
  if (is(task->status, TaskState::assigned) && task->assignee != c.who.name && task->lease_expires_ms >= now) {
    c.skipped.push_back(lease.task_id);
    return std::nullopt;
  }
  std::optional<sdk::DecisionRecord> decision;
  if (auto st = storage_.get_decision(c.domain, task->decision_id, decision); !st.ok()) fail(st);
  auto ctx = TaskContext::make(*task, decision ? *decision : sdk::DecisionRecord{});
  std::string why = assignment_.refusal(*ctx, c.me, c.dom, c.stats, /*limits=*/false);
  if (why.empty() && policies_.has_assign(c.domain)) why = assignment_.check(*ctx, c.me, c.dom);
  if (!why.empty()) {
    spdlog::debug("task skipped domain={} task={} reviewer={}: {}", c.domain, task->task_id, c.who.name, why);
    c.skipped.push_back(lease.task_id);
    return std::nullopt;
  }
  return ClaimedTask{std::move(*task), decision ? std::move(*decision) : sdk::DecisionRecord{}};
}

// The storage side of a claim: the task becomes assigned to the lease holder, audited, in the
// writer's next group commit. Answered from its after-commit callback; when another process moved
// the task meanwhile, the item is released and the claim goes on with the next lease.
void ReviewService::commit_claim(const std::shared_ptr<ReviewClaim>& c, ClaimedTask claimed, const sdk::Lease& lease,
                                 std::int64_t now) {
  const sdk::TaskRecord& task = claimed.task;
  sdk::WriteBatch batch;
  sdk::TaskUpdate u;
  u.task_id = task.task_id;
  u.from = open_states();
  u.to = name(TaskState::assigned);
  u.assignee = c->who.name;
  u.lease_expires_ms = lease.expires_ms;
  u.updated_ms = now;
  batch.task_updates.push_back(u);
  batch.audit.push_back(audit(now, c->who.name, "task.claimed", c->domain, task.task_id,
                              move_detail(c->who.name, now, "claim", task.status, name(TaskState::assigned),
                                          {{"lease_expires_ms", lease.expires_ms},
                                           {"decision_id", task.decision_id},
                                           {"previous_assignee", task.assignee}})));
  writer_.submit(std::move(batch), [this, c, claimed = std::move(claimed), lease](const sdk::Status& st,
                                                                                 sdk::WriteBatch& committed) mutable {
    try {
      if (!st.ok()) {
        queue_.release(lease.task_id, c->who.name);
        storage_failed(st);
      }
      if (!committed.task_updates.at(0).applied) {  // moved by another process meanwhile: not ours
        queue_.release(lease.task_id, c->who.name);
        return post_step(c->lane, [this, c] { claim_goes_on(c); });
      }
      claimed_now(*c, claimed, lease);
      finish_claim(*c, std::move(claimed), nullptr);
    } catch (...) {
      finish_claim(*c, std::nullopt, std::current_exception());
    }
  });
}

void ReviewService::claim_goes_on(const std::shared_ptr<ReviewClaim>& c) {
  try {
    lease_next(c);
  } catch (...) {
    finish_claim(*c, std::nullopt, std::current_exception());
  }
}

// The committed claim as the reviewer sees it.
void ReviewService::claimed_now(const ReviewClaim& c, ClaimedTask& claimed, const sdk::Lease& lease) {
  sdk::TaskRecord& task = claimed.task;
  task.status = name(TaskState::assigned);
  task.assignee = c.who.name;
  task.lease_expires_ms = lease.expires_ms;
  if (auto* counters = metrics_.domain(c.domain)) counters->claims++;
  spdlog::debug("task claimed domain={} decision={} task={} reviewer={}", c.domain, task.decision_id, task.task_id,
                c.who.name);
}

// Every end of a claim: the skipped items back to the queue, the turn left, the answer given.
void ReviewService::finish_claim(ReviewClaim& c, std::optional<ClaimedTask> out, std::exception_ptr error) {
  for (auto id : c.skipped) queue_.release(id, c.who.name);
  c.skipped.clear();
  locks_.leave_shared(c.who.name);
  try {
    c.done(std::move(out), error);
  } catch (const std::exception& e) {  // an answer that fails must not take the writer thread down
    spdlog::error("answering a claim failed: {}", e.what());
  }
}

// The blocking form of an asynchronous call: waits for its answer (never on the writer thread,
// which gives it).
template <class Result, class Start>
Result ReviewService::wait_for(Start&& start) {
  if (writer_.on_writer_thread() || lanes_.on_a_lane_thread())
    throw ServiceError(500, "internal", "a blocking claim or submit on the writer thread or the claim lane would wait for itself");
  std::promise<Result> answer;
  auto answered = answer.get_future();
  start([&answer](Result r, std::exception_ptr error) {
    if (error) answer.set_exception(error);
    else answer.set_value(std::move(r));
  });
  return answered.get();
}

std::optional<ClaimedTask> ReviewService::next(const std::string& domain, const Principal& who) {
  return wait_for<std::optional<ClaimedTask>>([&](auto done) { next_async(domain, who, std::move(done)); });
}

OutcomeResult ReviewService::submit(const OutcomeRequest& req, const Principal& who) {
  return *wait_for<std::optional<OutcomeResult>>([&](auto done) { submit_async(req, who, std::move(done)); });
}

void ReviewService::submit_async(const OutcomeRequest& req, const Principal& who, OutcomeDone done) {
  auto s = std::make_shared<ReviewSubmission>(req, who, std::move(done));
  // With the steps on the writer thread, the checks' reads run here, so the writer does not wait
  // for them. On step threads (a network database: each read a round trip) they run in the step,
  // which reads the task anyway: two round trips less, and none on this I/O thread.
  s->checks_in_step = lanes_.step_threads() != nullptr;
  if (!s->checks_in_step) {
    s->task = read_task(req.task_id);
    check_submission(*s);
  }
  in_turn(who.name, [this, s] { outcome_step(s); });
}

// The checks of an outcome against its task as read: the task is the reviewer's to answer, and
// the answer is one the domain allows.
void ReviewService::check_submission(ReviewSubmission& s) {
  const Principal& who = s.who;
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
  if (!decision) throw ServiceError(500, "internal", "task " + std::to_string(s.req.task_id) + " has no decision");
  s.decision = std::move(*decision);
  s.final_label = final_label_of(s.req, s.decision, *s.dom);
}

// On the writer thread (or a step thread), in the reviewer's turn: the queue's ack, the
// consensus, the batch.
void ReviewService::outcome_step(const std::shared_ptr<ReviewSubmission>& s) {
  try {
    // Read again in the turn: a release, cancel or expiry (exclusive holders) may have moved it
    // since; other claims and submits run meanwhile, but the queue's ack below is this lease
    // holder's alone (review/review_locks.hpp).
    s->task = read_task(s->req.task_id);
    if (s->checks_in_step) check_submission(*s);
    else require_assigned(s->task);
    s->now = now_ms();
    // The queue's ack is the exclusive step: only the reviewer holding a live lease gets past it.
    auto st = queue_.ack(s->req.task_id, s->who.name, s->now);
    if (st.code == sdk::Code::conflict || st.code == sdk::Code::not_found)
      throw ServiceError(409, "lease_not_held", "cannot submit task " + std::to_string(s->req.task_id) + ": " + st.message);
    if (!st.ok()) throw ServiceError(503, "queue_unavailable", "queue: " + st.message);
    weigh_consensus(*s);
    // The current lease began lease_ms before it expires: the reviewer's work time on this task.
    // A renewed lease (renew()) expires later but keeps the claim's time in updated_ms: the earlier.
    const sdk::TaskRecord& task = s->task;
    std::int64_t started = task.lease_expires_ms > s->dom->lease_ms ? task.lease_expires_ms - s->dom->lease_ms : 0;
    if (task.updated_ms > 0 && task.updated_ms < started) started = task.updated_ms;
    s->started = std::min(started, s->now);
    writer_.submit(outcome_batch(*s), [this, s](const sdk::Status& st, sdk::WriteBatch& committed) {
      outcome_committed(*s, st, committed);
    });
  } catch (...) {
    finish_outcome(*s, std::nullopt, std::current_exception());
  }
}

// The after-commit callback of an outcome (writer thread): the follow-ups, then the answer.
void ReviewService::outcome_committed(ReviewSubmission& s, const sdk::Status& st, sdk::WriteBatch& committed) {
  const sdk::TaskRecord& task = s.task;
  try {
    if (!st.ok()) {
      // Nothing was written: put the task back so the work is not lost.
      queue_.push({{task.task_id, task.domain, task.priority, task.deadline_ms, task.created_ms}});
      storage_failed(st);
    }
    if (!committed.task_updates.at(0).applied)
      spdlog::warn("task completed although storage had it in an unexpected state domain={} decision={} task={}",
                   task.domain, task.decision_id, task.task_id);
    after_outcome(s);
    OutcomeResult r{s.req.task_id, task.domain, task.decision_id, s.req.outcome, s.final_label};
    r.status = name(status_after(s.step));
    finish_outcome(s, std::move(r), nullptr);
  } catch (...) {
    finish_outcome(s, std::nullopt, std::current_exception());
  }
}

void ReviewService::finish_outcome(ReviewSubmission& s, std::optional<OutcomeResult> r, std::exception_ptr error) {
  locks_.leave_shared(s.who.name);
  try {
    s.done(std::move(r), error);
  } catch (const std::exception& e) {  // an answer that fails must not take the writer thread down
    spdlog::error("answering an outcome failed: {}", e.what());
  }
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

}  // namespace hitl::service
