// The figures of a run, from what storage holds at the end: the decisions of the streamed records
// (their route, the model's prediction and version, the label delivered), scored against the
// true labels; SLA and cost as the domain report computes them (report::build), so a simulated
// figure means what the same figure means in production.
#include "simulate/figures.hpp"

#include "simulate/promotions.hpp"

#include "app/app.hpp"
#include "evaluation/evaluation.hpp"
#include "governance/report_service.hpp"
#include "metrics/metrics.hpp"
#include "report/report.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace hitl::simulate {
using nlohmann::json;

namespace {

// A stored prediction ({"label", "confidence", "scores": {...}}) back as the SDK's.
sdk::Prediction prediction_of(const std::string& text) {
  sdk::Prediction p;
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return p;
  p.label = j.value("label", "");
  p.confidence = j.value("confidence", 0.0);
  if (auto s = j.find("scores"); s != j.end() && s->is_object())
    for (auto& [label, v] : s->items())
      if (v.is_number()) p.scores.emplace_back(label, v.get<double>());
  return p;
}

// The decisions of `rows`, in row order (gold decisions and anything else left out).
std::vector<sdk::DecisionRecord> stored_in_row_order(sdk::Storage& storage, const std::string& domain,
                                                     const std::vector<LabelledRow>& rows) {
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t i = 0; i < rows.size(); ++i) row_of[rows[i].id] = i;
  std::vector<sdk::DecisionRecord> out(rows.size());
  std::vector<bool> seen(rows.size(), false);
  sdk::DecisionFilter filter;
  filter.domain = domain;
  for (;;) {
    std::vector<sdk::DecisionRecord> page;
    if (auto st = storage.list_decisions(filter, page); !st.ok()) throw std::runtime_error("cannot read decisions: " + st.message);
    for (auto& d : page)
      if (auto it = row_of.find(d.id); it != row_of.end()) {
        seen[it->second] = true;
        out[it->second] = std::move(d);
      }
    if (page.size() < filter.limit) break;
    filter.after_created_ms = page.back().created_ms;
    filter.after_id = page.back().id;
  }
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (!seen[i]) throw std::runtime_error("record " + rows[i].id + " has no stored decision");
  return out;
}

struct Quality {
  double accuracy = 0;
  std::optional<double> auc;
};

// What scoring needs about every record, in row order.
struct Scoring {
  std::vector<std::string> labels;
  std::string positive;
  std::vector<std::string> truth;
  std::vector<sdk::Prediction> live;   // the prediction that was made when the record arrived
  std::vector<sdk::Prediction> first;  // the first model's

  Quality quality(const std::vector<sdk::Prediction>& preds, std::size_t from, std::size_t to) const {
    std::vector<std::size_t> rows(to - from);
    for (std::size_t i = from; i < to; ++i) rows[i - from] = i;
    return quality(preds, rows);
  }
  Quality quality(const std::vector<sdk::Prediction>& preds, const std::vector<std::size_t>& rows) const {
    std::vector<sdk::Prediction> p;
    std::vector<std::string> t;
    for (auto i : rows) {
      p.push_back(preds[i]);
      t.push_back(truth[i]);
    }
    const auto e = evaluation::evaluate(p, t, labels, positive);
    return {e.overall.accuracy, e.overall.auc};
  }
};

double share(std::size_t part, std::size_t whole) { return whole ? double(part) / double(whole) : 0.0; }

void add_totals(Result& r, const std::vector<sdk::DecisionRecord>& decisions, const Scoring& s) {
  std::size_t system_right = 0, model_right = 0;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const auto& d = decisions[i];
    if (service::is(d.status, service::DecisionState::auto_approved)) ++r.auto_handled;
    else ++r.flagged;
    // A person's answer; not the policy's default decision on an SLA breach (review/escalation.cpp).
    if (!d.final_outcome.empty() && d.final_outcome != "default") ++r.reviewed;
    system_right += report::delivered_label(d) == s.truth[i];
    model_right += d.label == s.truth[i];
  }
  r.records = decisions.size();
  r.flag_rate = share(r.flagged, r.records);
  r.reviewed_share = share(r.reviewed, r.records);
  r.auto_share = share(r.auto_handled, r.records);
  r.system_accuracy = share(system_right, r.records);
  r.model_accuracy = share(model_right, r.records);
}

// SLA, reviewer time and cost as the domain report has them, over the whole run.
void add_report(Result& r, service::App& app, const std::string& domain, std::int64_t end_ms) {
  const auto rep = report::build(app.storage(), domain, service::report_settings_of(app.config().domains.at(domain)),
                                 report::Window{}, std::nullopt, end_ms);
  r.sla_met = rep.turnaround.sla.compliance;
  r.sla_breached = rep.turnaround.sla.breached + rep.turnaround.sla.open_breached;
  r.reviewer_hours = rep.cost.reviewer_seconds / 3600.0;
  r.corrections = static_cast<std::size_t>(rep.cost.corrections);
  r.cost_per_correction = rep.cost.cost_per_correction;
  r.estimated = rep.estimated;
}

// p.ood's score of each decision, as its decision.created record kept it (absent without the
// model's feature statistics).
std::unordered_map<std::string, double> ood_scores(sdk::Storage& storage, const std::string& domain) {
  std::unordered_map<std::string, double> out;
  sdk::AuditFilter filter;
  filter.domain = domain;
  for (;;) {
    std::vector<sdk::AuditRecord> page;
    if (auto st = storage.list_audit(filter, page); !st.ok()) throw std::runtime_error("cannot read the audit trail: " + st.message);
    for (const auto& a : page) {
      if (a.action != "decision.created") continue;
      const json detail = json::parse(a.detail_json, nullptr, false);
      if (auto it = detail.find("ood_score"); detail.is_object() && it != detail.end() && it->is_number())
        out[a.entity_id] = it->get<double>();
    }
    if (page.size() < filter.limit) break;
    filter.after_seq = page.back().seq;
  }
  return out;
}

// Which signal would have caught the model's errors, record by record, and what the policy caught.
void add_capture(Result& r, sdk::Storage& storage, const std::vector<sdk::DecisionRecord>& decisions, const Scoring& s) {
  const auto ood = ood_scores(storage, decisions.empty() ? std::string() : decisions.front().domain);
  report::CaptureFold fold;
  std::size_t errors = 0, flagged_errors = 0;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const bool error = decisions[i].label != s.truth[i];
    const auto z = ood.find(decisions[i].id);
    fold.add(report::doubts_of(s.live[i].scores, s.live[i].confidence,
                               z == ood.end() ? std::nullopt : std::optional<double>(z->second)),
             error);
    errors += error;
    flagged_errors += error && !service::is(decisions[i].status, service::DecisionState::auto_approved);
  }
  r.capture = fold.curves();
  if (errors) r.policy_capture = share(flagged_errors, errors);
}

// Each model version on the records it scored while live, beside the first model on them.
void add_versions(Result& r, const std::vector<sdk::DecisionRecord>& decisions, const Scoring& s) {
  std::vector<std::pair<std::string, std::vector<std::size_t>>> by_version;  // in order of first use
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const auto& v = decisions[i].model_version;
    auto it = std::find_if(by_version.begin(), by_version.end(), [&](auto& e) { return e.first == v; });
    if (it == by_version.end()) it = by_version.insert(by_version.end(), {v, {}});
    it->second.push_back(i);
  }
  for (auto& [version, rows] : by_version) {
    const Quality live = s.quality(s.live, rows), first = s.quality(s.first, rows);
    r.versions.push_back({version, rows.front(), rows.size(), live.auc, first.auc, live.accuracy, first.accuracy});
  }
}

void add_series(Result& r, const std::vector<sdk::DecisionRecord>& decisions, const Scoring& s, const RunLog& log) {
  std::size_t from = 0;
  for (const auto& step : log.samples) {
    if (step.records_so_far <= from) continue;
    Point p;
    p.hours = double(step.at_ms - log.start_ms) / 3'600'000.0;
    p.records = step.records_so_far - from;
    std::size_t flagged = 0, system_right = 0;
    for (std::size_t i = from; i < step.records_so_far; ++i) {
      flagged += !service::is(decisions[i].status, service::DecisionState::auto_approved);
      system_right += report::delivered_label(decisions[i]) == s.truth[i];
    }
    const Quality live = s.quality(s.live, from, step.records_so_far);
    p.flag_rate = share(flagged, p.records);
    p.system_accuracy = share(system_right, p.records);
    p.model_accuracy = live.accuracy;
    p.auc = live.auc;
    p.model_version = decisions[step.records_so_far - 1].model_version;
    p.queue_depth = step.queue_depth;
    r.series.push_back(std::move(p));
    from = step.records_so_far;
  }
}

// Every model swap judged on the records the new model decided (promotions.hpp).
void add_promotions_judged(Result& r, service::App& app, const std::string& domain, const std::vector<LabelledRow>& rows,
                           const std::vector<sdk::DecisionRecord>& decisions) {
  std::vector<std::string> versions, labels;
  for (const auto& d : decisions) {
    versions.push_back(d.model_version);
    labels.push_back(d.label);
  }
  r.promotions_judged = judge_swaps(app, domain, rows, versions, labels);
}

// The worker's jobs, oldest first, with the candidate each produced and what became of it.
void add_trainings(Result& r, const RunLog& log) {
  if (!log.jobs.is_array()) return;
  for (auto it = log.jobs.rbegin(); it != log.jobs.rend(); ++it) {
    const json& job = *it;
    const json result = job.value("result", json::object());
    Training t;
    t.hours = double(job.value("created_ms", log.start_ms) - log.start_ms) / 3'600'000.0;
    t.trigger = job.value("trigger", "");
    t.status = job.value("status", "");
    t.candidate_version = result.value("candidate_version", "");
    t.promoted = result.value("promoted", false);
    t.decision = t.status == "failed" ? job.value("error", "") : result.value("decision", "");
    r.training_runs.push_back(std::move(t));
  }
}

}  // namespace

Result score(service::App& app, const Options& o, const std::vector<LabelledRow>& rows,
             const std::vector<sdk::Prediction>& first, const RunLog& log) {
  Result r;
  r.options = o;
  r.handle_time = to_string(o.handle_time);
  const auto decisions = stored_in_row_order(app.storage(), o.domain, rows);
  Scoring s;
  s.labels = app.config().domains.at(o.domain).labels;
  s.positive = s.labels.back();  // as the learning loop's comparison ranks (learning/compare.cpp)
  for (std::size_t i = 0; i < rows.size(); ++i) {
    s.truth.push_back(rows[i].truth);
    s.live.push_back(prediction_of(decisions[i].prediction_json));
  }
  s.first = first;
  r.positive = s.positive;
  add_totals(r, decisions, s);
  add_report(r, app, o.domain, log.end_ms);
  add_versions(r, decisions, s);
  add_promotions_judged(r, app, o.domain, rows, decisions);
  add_capture(r, app.storage(), decisions, s);
  add_series(r, decisions, s, log);
  add_trainings(r, log);
  if (auto* c = app.metrics().domain(o.domain)) {
    r.promotions = std::int64_t(c->trainings_promoted.load());
    r.trainings = r.promotions + std::int64_t(c->trainings_kept.load()) + std::int64_t(c->trainings_failed.load());
  }
  r.gold_answers = log.gold_answers;
  r.gold_right = log.gold_right;
  r.lost_answers = log.lost_answers;
  r.open_tasks_at_end = log.open_at_end;
  r.simulated_hours = double(log.end_ms - log.start_ms) / 3'600'000.0;
  return r;
}

}  // namespace hitl::simulate
