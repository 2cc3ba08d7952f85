#pragma once
// Who may take a review task: the rules every claim (pull, GET /v1/review/next) and every push
// (pre-assignment to a named reviewer) goes through, in this order:
//   1. the reviewer is registered and enabled (or an unregistered reviewer token: no limits),
//      and the registry's domains include the task's domain;
//   2. capacity: fewer assigned tasks held than the reviewer's capacity;
//   3. fatigue: fewer than fatigue.max_consecutive tasks of this domain in a row, and fewer than
//      fatigue.max_per_hour of this domain in the last hour;
//   4. the task's pool: a task with a pool ("senior", "adjudicator") goes only to reviewers with
//      that role;
//   5. skills: the reviewer has every skill the task needs;
//   6. four-eyes: never a case the reviewer already reviewed, nor one submitted from their own
//      account; a task pushed to someone else is theirs only;
//   7. quality: below the policy's min_gold_accuracy on gold answers, no tasks (route away);
//   8. the policy's assign(task, candidates), when it has one, may filter and rank.
#include "policy/policy_engine.hpp"

#include <hitl/plugin_api.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

class ReviewerDirectory;
struct DomainSettings;

// A task with its decision, in the shape the policy hooks take. The JSON members own what the
// view points at, so keep the object alive while the view is used.
struct TaskContext {
  sdk::TaskRecord task;
  sdk::DecisionRecord decision;
  nlohmann::json input, meta;
  policy::PredictionView prediction;
  double priority = 0;
  policy::WorkflowTaskView view;
  static std::unique_ptr<TaskContext> make(const sdk::TaskRecord& t, const sdk::DecisionRecord& d);
};

struct ReviewerStats {
  std::int64_t held = 0;         // tasks assigned to them now
  std::int64_t consecutive = 0;  // their latest reviews in a row in this domain
  std::int64_t last_hour = 0;    // their reviews of this domain in the last hour
  std::int64_t gold_answers = 0, gold_correct = 0;
  std::int64_t consensus_rounds = 0, agreed = 0;
  std::optional<double> gold_accuracy() const;
  std::optional<double> agreement() const;
};

class Assignment {
 public:
  Assignment(sdk::Storage& storage, ReviewerDirectory& reviewers, policy::PolicyEngine& policies);

  // `quality` adds gold accuracy and agreement, which read every past review of the reviewer in
  // the domain (with its task): only worth it when the policy bounds gold accuracy or ranks.
  // `recent` reads their last day of reviews for `consecutive` and `last_hour`: a claim needs it
  // only when the domain sets a fatigue limit (it grows with the reviewer's day of work).
  ReviewerStats stats(const std::string& reviewer, const std::string& domain, bool quality = true, bool recent = true);
  // The first rule (1..7 above) that keeps `reviewer` from `ctx`'s task, or "" when none does.
  // `limits` = also check capacity and fatigue (a claim or push adds a task; a re-check does not).
  std::string refusal(const TaskContext& ctx, const sdk::ReviewerRecord& reviewer, const DomainSettings& dom,
                      const ReviewerStats& stats, bool limits = true);
  // Rules 2 and 3 alone (capacity, fatigue): "" when the reviewer may take one more task.
  std::string limit_refusal(const sdk::ReviewerRecord& reviewer, const DomainSettings& dom, const ReviewerStats& stats);
  // Rule 8: the ids the policy lets take the task, in its order, among `eligible` (nullopt: the
  // policy has no assign() or it returned nil or failed; then the default order applies).
  std::optional<std::vector<std::string>> policy_choice(const TaskContext& ctx,
                                                        const std::vector<sdk::ReviewerRecord>& eligible,
                                                        const std::vector<ReviewerStats>& stats);
  // Every registered reviewer allowed to take the task, best first: the policy's order, else skill
  // match then least loaded (held / capacity, then id).
  std::vector<std::string> ranked_candidates(const TaskContext& ctx, const DomainSettings& dom);
  // May `reviewer` take it, the policy's assign() included? Returns the refusal or "".
  std::string check(const TaskContext& ctx, const sdk::ReviewerRecord& reviewer, const DomainSettings& dom);

 private:
  void count_recent(const std::string& reviewer, const std::string& domain, std::int64_t now, ReviewerStats& s);
  sdk::Storage& storage_;
  ReviewerDirectory& reviewers_;
  policy::PolicyEngine& policies_;
};

}  // namespace hitl::service
