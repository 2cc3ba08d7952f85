#include "review/assignment.hpp"

#include "common/clock.hpp"
#include "domain/domains.hpp"
#include "review/reviewers.hpp"
#include "common/service_error.hpp"
#include "common/task_state.hpp"

#include <algorithm>

namespace hitl::service {
using nlohmann::json;

namespace {
[[noreturn]] void storage_failed(const sdk::Status& st) {
  throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
}

json parse_object(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

bool has_all(const std::string& have_csv, const std::vector<std::string>& need) {
  for (auto& s : need)
    if (!list_contains(have_csv, s)) return false;
  return true;
}
}  // namespace

std::unique_ptr<TaskContext> TaskContext::make(const sdk::TaskRecord& t, const sdk::DecisionRecord& d) {
  auto c = std::make_unique<TaskContext>();
  c->task = t;
  c->decision = d;
  c->input = parse_object(d.input_json);
  c->meta = parse_object(d.meta_json);
  const json pred = parse_object(d.prediction_json);
  c->prediction.label = d.label;
  c->prediction.confidence = d.confidence;
  if (auto s = pred.find("scores"); s != pred.end() && s->is_object())
    for (auto& [k, v] : s->items())
      if (v.is_number()) c->prediction.scores.emplace_back(k, v.get<double>());
  c->priority = t.priority;
  auto& v = c->view;
  v.base = policy::TaskView{&c->task.domain, &c->task.reason, &c->input, &c->meta, &c->prediction, &c->priority};
  v.task_id = t.task_id;
  v.skills = split_list(t.skills);
  v.pool = t.pool;
  v.deadline_ms = t.deadline_ms;
  v.reviews_done = t.reviews_done;
  v.reviews_required = t.reviews_required;
  return c;
}

std::optional<double> ReviewerStats::gold_accuracy() const {
  if (gold_answers == 0) return std::nullopt;
  return static_cast<double>(gold_correct) / static_cast<double>(gold_answers);
}

std::optional<double> ReviewerStats::agreement() const {
  if (consensus_rounds == 0) return std::nullopt;
  return static_cast<double>(agreed) / static_cast<double>(consensus_rounds);
}

Assignment::Assignment(sdk::Storage& storage, ReviewerDirectory& reviewers, policy::PolicyEngine& policies)
    : storage_(storage), reviewers_(reviewers), policies_(policies) {}

// The last day of their reviews: enough for the consecutive and hourly fatigue limits.
void Assignment::count_recent(const std::string& reviewer, const std::string& domain, std::int64_t now,
                              ReviewerStats& s) {
  std::vector<sdk::ReviewRecord> recent;
  sdk::ReviewFilter rf;
  rf.reviewer = reviewer;
  rf.from_ms = now - 24 * 3600 * 1000;
  rf.limit = 100000;
  if (auto st = storage_.list_reviews(rf, recent); !st.ok()) storage_failed(st);
  for (auto it = recent.rbegin(); it != recent.rend() && it->domain == domain; ++it) ++s.consecutive;
  for (auto& r : recent)
    if (r.domain == domain && r.created_ms >= now - 3600 * 1000) ++s.last_hour;
}

ReviewerStats Assignment::stats(const std::string& reviewer, const std::string& domain, bool quality, bool recent) {
  ReviewerStats s;
  const std::int64_t now = now_ms();
  std::vector<sdk::TaskRecord> held;
  sdk::TaskFilter tf;
  tf.assignee = reviewer;
  tf.status = name(TaskState::assigned);
  tf.limit = 100000;
  auto st = storage_.list_tasks(tf, held);
  if (!st.ok()) storage_failed(st);
  s.held = static_cast<std::int64_t>(held.size());
  if (recent) count_recent(reviewer, domain, now, s);
  if (!quality) return s;
  // Gold accuracy: their answers on gold tasks against the known label. Agreement: on completed
  // consensus tasks, how often their answer was the final label.
  sdk::ReviewFilter all;
  all.reviewer = reviewer;
  all.domain = domain;
  all.limit = 100000;
  std::vector<sdk::ReviewRecord> mine;
  st = storage_.list_reviews(all, mine);
  if (!st.ok()) storage_failed(st);
  for (auto& r : mine) {
    std::optional<sdk::TaskRecord> t;
    if (!storage_.get_task(r.task_id, t).ok() || !t) continue;
    if (t->gold) {
      ++s.gold_answers;
      s.gold_correct += r.final_label == t->gold_label;
      continue;
    }
    if (t->reviews_required > 1 && is(t->status, TaskState::completed)) {
      std::optional<sdk::DecisionRecord> d;
      if (!storage_.get_decision(r.domain, r.decision_id, d).ok() || !d) continue;
      ++s.consensus_rounds;
      s.agreed += r.final_label == d->final_label;
    }
  }
  return s;
}

std::string Assignment::limit_refusal(const sdk::ReviewerRecord& r, const DomainSettings& dom,
                                      const ReviewerStats& stats) {
  if (stats.held >= r.capacity)
    return "capacity: reviewer \"" + r.id + "\" holds " + std::to_string(stats.held) + " of " +
           std::to_string(r.capacity) + " tasks";
  if (dom.fatigue_max_consecutive > 0 && stats.consecutive >= dom.fatigue_max_consecutive)
    return "fatigue: " + std::to_string(stats.consecutive) + " tasks of domain \"" + dom.name +
           "\" in a row (fatigue.max_consecutive " + std::to_string(dom.fatigue_max_consecutive) + ")";
  if (dom.fatigue_max_per_hour > 0 && stats.last_hour >= dom.fatigue_max_per_hour)
    return "fatigue: " + std::to_string(stats.last_hour) + " tasks of domain \"" + dom.name +
           "\" in the last hour (fatigue.max_per_hour " + std::to_string(dom.fatigue_max_per_hour) + ")";
  return "";
}

std::string Assignment::refusal(const TaskContext& ctx, const sdk::ReviewerRecord& r, const DomainSettings& dom,
                                const ReviewerStats& stats, bool limits) {
  const auto& t = ctx.task;
  if (r.disabled) return "reviewer \"" + r.id + "\" is disabled";
  if (!r.domains.empty() && !list_contains(r.domains, t.domain))
    return "reviewer \"" + r.id + "\" is not registered for domain \"" + t.domain + "\"";
  if (limits)
    if (auto why = limit_refusal(r, dom, stats); !why.empty()) return why;
  if (!t.pool.empty() && !list_contains(r.roles, t.pool)) return "the task is for the " + t.pool + " pool";
  if (!has_all(r.skills, ctx.view.skills)) return "the task needs skills " + t.skills;
  if (!t.preassigned.empty() && t.preassigned != r.id) return "the task is assigned to \"" + t.preassigned + "\"";
  if (!t.origin.empty() && t.origin == r.id) return "four-eyes: the case was submitted from this reviewer's account";
  std::vector<sdk::ReviewRecord> prior;
  sdk::ReviewFilter f;
  f.domain = t.domain;
  f.decision_id = t.decision_id;
  f.reviewer = r.id;
  f.limit = 1;
  auto st = storage_.list_reviews(f, prior);
  if (!st.ok()) storage_failed(st);
  if (!prior.empty()) return "four-eyes: this reviewer already reviewed the case";
  const double bound = policies_.min_gold_accuracy(t.domain);
  if (auto acc = stats.gold_accuracy(); bound > 0 && acc && *acc < bound)
    return "quality: gold accuracy below the policy's min_gold_accuracy";
  return "";
}

std::optional<std::vector<std::string>> Assignment::policy_choice(const TaskContext& ctx,
                                                                  const std::vector<sdk::ReviewerRecord>& eligible,
                                                                  const std::vector<ReviewerStats>& stats) {
  if (!policies_.has_assign(ctx.task.domain)) return std::nullopt;
  std::vector<policy::CandidateView> cands;
  for (std::size_t i = 0; i < eligible.size(); ++i) {
    const auto& r = eligible[i];
    policy::CandidateView c;
    c.id = r.id;
    c.name = r.name;
    c.roles = split_list(r.roles);
    c.skills = split_list(r.skills);
    c.load = stats[i].held;
    c.capacity = r.capacity;
    c.cost_per_hour = r.cost_per_hour;
    c.gold_accuracy = stats[i].gold_accuracy();
    c.gold_answers = stats[i].gold_answers;
    c.agreement = stats[i].agreement();
    c.consecutive = stats[i].consecutive;
    c.last_hour = stats[i].last_hour;
    cands.push_back(std::move(c));
  }
  bool failed = false;
  return policies_.assign(ctx.task.domain, ctx.view, cands, failed);
}

std::vector<std::string> Assignment::ranked_candidates(const TaskContext& ctx, const DomainSettings& dom) {
  std::vector<sdk::ReviewerRecord> eligible;
  std::vector<ReviewerStats> stats;
  for (auto& r : reviewers_.list()) {
    auto s = this->stats(r.id, ctx.task.domain);
    if (!refusal(ctx, r, dom, s).empty()) continue;
    eligible.push_back(r);
    stats.push_back(s);
  }
  if (auto chosen = policy_choice(ctx, eligible, stats)) return *chosen;
  std::vector<std::size_t> order(eligible.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double la = static_cast<double>(stats[a].held) / static_cast<double>(eligible[a].capacity);
    const double lb = static_cast<double>(stats[b].held) / static_cast<double>(eligible[b].capacity);
    if (la != lb) return la < lb;
    return eligible[a].id < eligible[b].id;
  });
  std::vector<std::string> ids;
  for (auto i : order) ids.push_back(eligible[i].id);
  return ids;
}

std::string Assignment::check(const TaskContext& ctx, const sdk::ReviewerRecord& reviewer, const DomainSettings& dom) {
  auto s = stats(reviewer.id, ctx.task.domain);
  if (auto why = refusal(ctx, reviewer, dom, s); !why.empty()) return why;
  if (!policies_.has_assign(ctx.task.domain)) return "";
  // The policy sees every eligible registered reviewer plus this one (who may be unregistered).
  std::vector<sdk::ReviewerRecord> eligible{reviewer};
  std::vector<ReviewerStats> stats{s};
  for (auto& r : reviewers_.list()) {
    if (r.id == reviewer.id) continue;
    auto rs = this->stats(r.id, ctx.task.domain);
    if (!refusal(ctx, r, dom, rs).empty()) continue;
    eligible.push_back(r);
    stats.push_back(rs);
  }
  auto chosen = policy_choice(ctx, eligible, stats);
  if (!chosen) return "";
  if (std::find(chosen->begin(), chosen->end(), reviewer.id) == chosen->end()) return "the policy's assign() did not choose this reviewer";
  return "";
}

}  // namespace hitl::service
