#pragma once
// Review workflow: claim the next task (queue lease + storage transition), submit an outcome
// (lease ack + review + feedback + final label + audit in one transaction), expire leases,
// release a lease, send a completed task back, cancel a task.
//
// Task lifecycle (enforced by storage-sqlite's schema v3 trigger; every move is audited):
//   pending -> assigned (claim)        assigned -> assigned (re-claim)
//   assigned -> pending (lease expired, released)
//   assigned -> completed (review)     completed -> pending (sent back by an admin)
//   pending|assigned -> escalated, escalated -> pending|assigned (reserved for escalation)
//   pending|assigned|escalated -> cancelled (admin)
#include <hitl/plugin_api.hpp>

#include "review/claim_lane.hpp"
#include "review/review_locks.hpp"
#include "review/sla_timers.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <exception>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace hitl::policy { class PolicyEngine; }

namespace hitl::service {

class Domains;
struct DomainSettings;
class ReviewerDirectory;
class Assignment;
class Writer;
class Metrics;
struct Principal;
// What the steps of one claim, and of one outcome, carry between them (review.cpp).
struct ReviewClaim;
struct ReviewSubmission;

struct ClaimedTask {
  sdk::TaskRecord task;
  sdk::DecisionRecord decision;
};

struct OutcomeRequest {
  std::int64_t task_id = 0;
  std::string outcome;           // approve | reject | correct
  std::string correction_label;  // required for correct
  std::string comment;
};

struct OutcomeResult {
  std::int64_t task_id = 0;
  std::string domain;
  std::string decision_id;
  std::string outcome;
  std::string final_label;
  std::string status;  // the task's status after: completed | pending (more answers) | escalated
};

// A lifecycle move made by release / send_back / cancel.
struct TransitionResult {
  std::int64_t task_id = 0;
  std::string domain;
  std::string decision_id;
  std::string from;
  std::string to;
};

// Hooks the waiting-clients side (notify/) sets: a webhook delivery row committed in the
// same transaction as the final outcome (so none is lost), and a call after that commit (wakes
// long-polls, nudges the delivery worker). `decision` has its final fields set.
struct FinalHooks {
  std::function<std::optional<sdk::DeliveryRecord>(const sdk::DecisionRecord& decision)> delivery_for;
  std::function<void(const sdk::DecisionRecord& decision)> on_final;
};

class ReviewService {
 public:
  // Every reference must outlive the service. `hooks` hear of each final human outcome
  // (App joins the notifier's and the retrain worker's, app/app.cpp).
  ReviewService(sdk::Storage& storage, sdk::Queue& queue, Writer& writer, const Domains& domains,
                Metrics& metrics, ReviewerDirectory& reviewers, Assignment& assignment,
                policy::PolicyEngine& policies, FinalHooks hooks);

  // Claims and submits are asynchronous (issue 19; review_claims.cpp): the checks that need no
  // turn run on the calling thread and throw ServiceError; the rest runs on the writer thread (or
  // a step thread: set_step_threads) in the reviewer's turn (review_locks.hpp). `done` is called
  // with the result once the storage move is committed (on the writer thread), never before, or
  // with the error (a ServiceError) on the thread where it arose. They never block, so
  // an HTTP I/O thread hands the request off and returns to its event loop, and the writer merges
  // many reviewers' claims and submits into one transaction. `done` must be short and not throw.
  using ClaimDone = std::function<void(std::optional<ClaimedTask>, std::exception_ptr)>;
  using OutcomeDone = std::function<void(std::optional<OutcomeResult>, std::exception_ptr)>;
  // Claims the best ready task of `domain` for the reviewer; nullopt when there is none.
  void next_async(const std::string& domain, const Principal& reviewer, ClaimDone done);
  // Errors: 404 unknown task, 403 out of scope, 409 lease not held / completed, 422 bad outcome
  // or label.
  void submit_async(const OutcomeRequest& req, const Principal& reviewer, OutcomeDone done);
  // The blocking forms (tests, `hitl simulate`): wait for `done`; they throw its ServiceError.
  // Not on the writer thread (500 there instead of waiting for itself).
  std::optional<ClaimedTask> next(const std::string& domain, const Principal& reviewer);
  OutcomeResult submit(const OutcomeRequest& req, const Principal& reviewer);
  // The following throw ServiceError: 404 unknown task, 403 out of scope or not allowed,
  // 409 "illegal_transition" when the task's state has no such move.
  // assigned -> pending, by the lease holder or an admin (409 "lease_not_held" for anyone else).
  TransitionResult release(std::int64_t task_id, const std::string& reason, const Principal& who);
  // Releases every task `reviewer` holds (admin; e.g. when they are disabled) and returns their
  // ids. A task that moved meanwhile (submitted, expired) is skipped.
  std::vector<std::int64_t> release_all_held(const std::string& reviewer, const std::string& reason, const Principal& who);
  // completed -> pending and back into the queue (admin). The decision keeps its final label
  // until the next review replaces it.
  TransitionResult send_back(std::int64_t task_id, const std::string& reason, const Principal& who);
  // pending|assigned|escalated -> cancelled (admin). A queue item left behind is dropped by next().
  TransitionResult cancel(std::int64_t task_id, const std::string& reason, const Principal& who);
  // Returns expired leases to the queue and the tasks to pending; returns how many.
  std::size_t expire_leases();
  // Extends the live lease `who` holds on the task to a full lease_seconds from now (the web UI
  // renews while its reviewer is active) and returns the new expiry. Audited task.lease_renewed.
  // Throws ServiceError: 404, 403, 409 "lease_not_held" (not theirs, or already expired),
  // 409 "illegal_transition" (not assigned), 501 "not_supported" (a queue plugin older than 1.1).
  std::int64_t renew(std::int64_t task_id, const Principal& who);
  // Whether the queue plugin has renew() (queue interface 1.1; App sets it from the plugin).
  void set_queue_renews(bool renews) { queue_renews_ = renews; }
  // At start, before serving (issue 14: a kill -9 between the queue lease and the storage commit
  // of a claim left the task leased in the queue and pending in storage until the lease ran
  // out). Makes every queue lease agree with storage: a lease storage does not back is freed at
  // once; a task storage has assigned with a live lease keeps (gets back) its holder's lease, and
  // one whose lease cannot be restored or has run out goes back to pending (audited). Its cost is
  // bounded by the leases, not by the backlog. Returns the tasks whose state changed.
  std::size_t reconcile_leases();
  // With several instances on one database, on the leader (housekeeping, every second): a task
  // storage has assigned whose lease ran out more than `grace_ms` ago, yet no instance's lease
  // expiry took back, has no queue item (its instance died between the queue's ack of an answer
  // and the answer's commit): back to pending (audited task.lease_expired) and to the queue.
  // Reads the assigned tasks only (one per claim held), never the backlog. Returns how many.
  std::size_t return_orphaned_claims(std::int64_t grace_ms);
  // After a restart, on a background thread while the service answers: pushes every open task
  // to the queue again (push is idempotent) and schedules its SLA moments, a page at a time.
  // Runs the claims already on the claim lane and ends its thread; claims from then on run on the
  // thread that asks. Before the writer stops (the claims submit to it). Idempotent.
  void stop_claim_lane() { lanes_.stop(); }
  // Where the claims and submits without a lane of their own run their steps: `threads` threads
  // (writer.step_threads), or the writer thread when 0. Before serving.
  void set_step_threads(int threads) { lanes_.start_step_threads(threads); }

  // Stops early when `stop` is set. Returns the tasks walked.
  std::size_t requeue_open_tasks(const std::atomic<bool>& stop);
  // Schedules the SLA moments of an open task (see SlaTimers).
  void track_sla(const sdk::TaskRecord& task);

  // The SLA timer (review/escalation.cpp): marks open tasks at risk (sla_at_risk_fraction of
  // their SLA passed) and breached (past the deadline), each once, and applies what the policy's
  // escalate(task, event) returns: raise the priority, move the task to another pool (releasing a
  // held lease), notify (a webhook delivery), or a default decision (the task is cancelled and
  // the decision final with outcome "default"). Everything audited. Only tasks whose moment has
  // come are visited (SlaTimers), at most kSlaEventsPerCheck per call: a caller seeing that many
  // handled calls again soon. Returns the events handled.
  static constexpr std::size_t kSlaEventsPerCheck = 2000;
  std::size_t check_slas();

  // Push assignment (admin): pre-assigns a pending task to `reviewer` (or, when empty, to the best
  // eligible registered reviewer). The same rules as a claim apply. Throws ServiceError 404/409/422.
  std::string assign(std::int64_t task_id, const std::string& reviewer, const std::string& reason, const Principal& who);

 private:
  sdk::Storage& storage_;
  sdk::Queue& queue_;
  Writer& writer_;
  const Domains& domains_;
  Metrics& metrics_;
  ReviewerDirectory& reviewers_;
  Assignment& assignment_;
  policy::PolicyEngine& policies_;
  // The queue step and the storage step of one lifecycle move are two stores: the turns keep two
  // moves of the same task from interleaving between them.
  ReviewLocks locks_;  // review/review_locks.hpp: which paths run together
  ClaimLanes lanes_;   // the claims with policy code or per-reviewer reads, a lane per domain (claim_lane.hpp)
  bool queue_renews_ = false;
  FinalHooks hooks_;
  SlaTimers sla_timers_;
  // Tasks up to this id have been seen for their SLA moments (-1: the start-up walk has not
  // finished). New tasks, from this process or another (`hitl ingest`), have higher ids: each
  // SLA check reads them through the primary key from here on.
  std::atomic<std::int64_t> sla_seen_up_to_{-1};
  static constexpr std::int64_t kSlaRetryMs = 5000;  // a timer whose check failed comes back after this

  sdk::TaskRecord load_task(std::int64_t task_id, const Principal& who);
  void escalate_one(const sdk::TaskRecord& task, const std::string& kind, std::int64_t now);
  bool sla_step(std::int64_t task_id, std::int64_t now);
  void track_new_tasks();
  bool restore_lease(const sdk::TaskRecord& task, std::int64_t now);
  // `why`: the audit detail's reason for a task whose lease had run out.
  void reconcile_to_pending(const std::vector<sdk::TaskRecord>& tasks, std::int64_t now,
                            const char* why = "lease expired while stopped");
  void commit_move(sdk::WriteBatch& batch, const sdk::TaskRecord& task, const char* verb);
  struct PersonMove {
    std::string guard;   // the state(s) the task must be in (TaskUpdate::from)
    TaskState to;
    const char* action;  // the audit action, e.g. "task.released"
    const char* verb;    // for the refusal: "cannot <verb>"
  };
  TransitionResult move_by(const sdk::TaskRecord& task, const PersonMove& m, const Principal& who,
                           const std::string& reason, nlohmann::json detail, sdk::WriteBatch batch = {});
  sdk::TaskRecord read_task(std::int64_t task_id);
  // The steps of a claim and of a submit, in order (review_claims.cpp).
  // `lane`: on that claim lane instead of the writer thread (null: the writer; claim_lane.hpp).
  void in_turn(const std::string& reviewer, std::function<void()> step, ClaimLane* lane = nullptr);
  void post_step(ClaimLane* lane, std::function<void()> step);
  template <class Result, class Start>
  Result wait_for(Start&& start);
  std::shared_ptr<ReviewClaim> check_claimant(const std::string& domain, const Principal& who, ClaimDone done);
  void claim_step(const std::shared_ptr<ReviewClaim>& c);
  void lease_next(const std::shared_ptr<ReviewClaim>& c);
  std::optional<ClaimedTask> take_leased(ReviewClaim& c, const sdk::Lease& lease, std::int64_t now);
  void commit_claim(const std::shared_ptr<ReviewClaim>& c, ClaimedTask claimed, const sdk::Lease& lease, std::int64_t now);
  void claim_goes_on(const std::shared_ptr<ReviewClaim>& c);
  void claimed_now(const ReviewClaim& c, ClaimedTask& claimed, const sdk::Lease& lease);
  void finish_claim(ReviewClaim& c, std::optional<ClaimedTask> out, std::exception_ptr error);
  void check_submission(ReviewSubmission& s);
  void outcome_step(const std::shared_ptr<ReviewSubmission>& s);
  void weigh_consensus(ReviewSubmission& s);
  sdk::WriteBatch outcome_batch(ReviewSubmission& s);
  void outcome_committed(ReviewSubmission& s, const sdk::Status& st, sdk::WriteBatch& committed);
  void after_outcome(const ReviewSubmission& s);
  void finish_outcome(ReviewSubmission& s, std::optional<OutcomeResult> r, std::exception_ptr error);
};

}  // namespace hitl::service
