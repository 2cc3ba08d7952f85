// The arithmetic of the report (docs/report.md defines every number). No I/O and no clock, so
// each figure can be checked by hand against a fixture.
#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace hitl::report {

namespace {

const char* const kMissing = "(missing)";

Rate ratio(double num, std::int64_t den) {
  if (den == 0) return std::nullopt;
  return num / static_cast<double>(den);
}

Rate diff(const Rate& a, const Rate& b) {
  if (!a || !b) return std::nullopt;
  return *a - *b;
}

bool human_outcome(const sdk::DecisionRecord& d) { return !d.final_outcome.empty(); }

// The truth of a decision: the reported truth, else the label a human settled on, else none.
std::optional<std::string> truth_of(const sdk::DecisionRecord& d) {
  if (!d.truth_label.empty()) return d.truth_label;
  if (human_outcome(d) && !d.final_label.empty()) return d.final_label;
  return std::nullopt;
}

// What the system delivered: the human's label once there is one (a reject may leave it empty),
// else the model's.
const std::string& delivered(const sdk::DecisionRecord& d) { return human_outcome(d) ? d.final_label : d.label; }

struct AccuracyCounter {
  std::int64_t cases = 0, reviewed = 0, reported = 0, final_right = 0, model_right = 0;
  void add(const sdk::DecisionRecord& d) {
    if (!d.truth_label.empty()) ++reported;
    const auto truth = truth_of(d);
    if (!truth) return;
    ++cases;
    if (d.truth_label.empty()) ++reviewed;
    if (delivered(d) == *truth) ++final_right;
    if (d.label == *truth) ++model_right;
  }
  Accuracy result() const {
    Accuracy a;
    a.cases = cases;
    a.reviewed_cases = reviewed;
    a.reported_truths = reported;
    a.final_accuracy = ratio(static_cast<double>(final_right), cases);
    a.model_accuracy = ratio(static_cast<double>(model_right), cases);
    a.gain = diff(a.final_accuracy, a.model_accuracy);
    return a;
  }
};

// Integral values print without a decimal point ("25", not "25.000000"), others with up to 15
// significant digits, so band names read like the configured cut points.
std::string number_name(double v) {
  char buf[64];
  if (std::nearbyint(v) == v && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::vector<std::string> make_band_names(const std::vector<double>& bands) {
  std::vector<std::string> names;
  if (bands.empty()) return names;
  names.push_back("<" + number_name(bands.front()));
  for (std::size_t i = 0; i + 1 < bands.size(); ++i) names.push_back(number_name(bands[i]) + "-" + number_name(bands[i + 1]));
  names.push_back(">=" + number_name(bands.back()));
  return names;
}

std::string value_group(const nlohmann::json* v, const GroupSpec& spec, const std::vector<std::string>& bands) {
  if (!v) return kMissing;
  if (v->is_number()) {
    const double x = v->get<double>();
    if (spec.bands.empty()) return number_name(x);
    // upper_bound: a value equal to a cut point belongs to the band starting there.
    const auto i = std::upper_bound(spec.bands.begin(), spec.bands.end(), x) - spec.bands.begin();
    return bands[static_cast<std::size_t>(i)];
  }
  if (v->is_string()) return v->get<std::string>();
  if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
  return kMissing;  // null, object or array: no group value
}

// The group of one decision under `spec` (its field is non-empty).
std::string group_of(const sdk::DecisionRecord& d, const GroupSpec& spec, const std::vector<std::string>& bands) {
  if (d.erased_ms != 0) return kMissing;  // the payload is gone ("{}"), whatever it said before
  const bool meta = spec.field.rfind("meta.", 0) == 0;
  const std::string key = meta ? spec.field.substr(5) : spec.field;
  const auto doc = nlohmann::json::parse(meta ? d.meta_json : d.input_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return kMissing;
  const auto it = doc.find(key);
  return value_group(it == doc.end() ? nullptr : &*it, spec, bands);
}

BiasSide bias_side(const std::vector<const sdk::DecisionRecord*>& cohort, const GroupSpec& spec) {
  const auto bands = make_band_names(spec.bands);
  std::map<std::string, GroupStats> by_name;
  for (const auto* d : cohort) {
    auto& g = by_name[group_of(*d, spec, bands)];
    ++g.predictions;
    if (d->status == "pending_review") ++g.flagged;
    if (const auto truth = truth_of(*d)) {
      ++g.cases;
      if (d->label != *truth) ++g.model_errors;
    }
  }
  BiasSide side;
  // Bands in their natural order, then other values by name, "(missing)" last.
  auto take = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it == by_name.end()) return;
    it->second.name = name;
    side.groups.push_back(std::move(it->second));
    by_name.erase(it);
  };
  for (const auto& b : bands) take(b);
  auto missing = by_name.extract(kMissing);
  for (auto& [name, g] : by_name) {
    g.name = name;
    side.groups.push_back(std::move(g));
  }
  if (!missing.empty()) {
    missing.mapped().name = kMissing;
    side.groups.push_back(std::move(missing.mapped()));
  }
  std::optional<double> flag_lo, flag_hi, err_lo, err_hi;
  for (auto& g : side.groups) {
    g.flag_rate = ratio(static_cast<double>(g.flagged), g.predictions);
    g.error_rate = ratio(static_cast<double>(g.model_errors), g.cases);
    if (g.flag_rate) {
      flag_lo = std::min(flag_lo.value_or(*g.flag_rate), *g.flag_rate);
      flag_hi = std::max(flag_hi.value_or(*g.flag_rate), *g.flag_rate);
    }
    if (g.error_rate) {
      err_lo = std::min(err_lo.value_or(*g.error_rate), *g.error_rate);
      err_hi = std::max(err_hi.value_or(*g.error_rate), *g.error_rate);
    }
  }
  side.flag_rate_disparity = diff(flag_hi, flag_lo);
  side.error_rate_disparity = diff(err_hi, err_lo);
  return side;
}

std::vector<const sdk::DecisionRecord*> cohort_of(const Facts& f, Window w) {
  std::vector<const sdk::DecisionRecord*> out;
  for (const auto& d : f.decisions)
    if (w.contains(d.created_ms)) out.push_back(&d);
  return out;
}

// Nearest rank on a sorted list: the value at 1-based rank ceil(p/100 * n).
double percentile(const std::vector<double>& sorted, int p) {
  const auto n = static_cast<std::int64_t>(sorted.size());
  const std::int64_t rank = std::clamp<std::int64_t>((p * n + 99) / 100, 1, n);
  return sorted[static_cast<std::size_t>(rank - 1)];
}

}  // namespace

Report compute(const std::string& domain, const Facts& facts, const Facts* baseline, const Settings& s, Window w,
               Window baseline_window, std::int64_t now_ms) {
  for (std::size_t i = 1; i < s.group.bands.size(); ++i)
    if (!(s.group.bands[i - 1] < s.group.bands[i]))
      throw std::invalid_argument("report: the bands of " + s.group.field + " must be strictly ascending");

  Report r;
  r.domain = domain;
  r.window = w;
  r.generated_ms = now_ms;
  const auto cohort = cohort_of(facts, w);

  // 1. Flag rate. A flagged decision keeps status pending_review after its review.
  std::map<std::string, std::int64_t> reasons;
  for (const auto* d : cohort) {
    ++r.predictions;
    if (d->status == "pending_review") {
      ++r.flagged;
      ++reasons[d->reason.empty() ? "(none)" : d->reason];
    } else if (d->status == "auto_approved") {
      ++r.auto_approved;
    } else if (d->status == "rejected") {
      ++r.rejected;
    }
  }
  r.flag_rate = ratio(static_cast<double>(r.flagged), r.predictions);
  for (const auto& [reason, n] : reasons) r.flag_reasons.push_back({reason, n, ratio(static_cast<double>(n), r.predictions)});
  std::stable_sort(r.flag_reasons.begin(), r.flag_reasons.end(),
                   [](const ReasonCount& a, const ReasonCount& b) { return a.count > b.count; });

  // Tasks and reviews count only when they belong to the cohort.
  std::unordered_set<std::string> ids;
  for (const auto* d : cohort) ids.insert(d->id);
  std::unordered_set<std::int64_t> task_ids;
  std::vector<const sdk::TaskRecord*> tasks;
  for (const auto& t : facts.tasks)
    if (ids.count(t.decision_id) && task_ids.insert(t.task_id).second) tasks.push_back(&t);

  // 2. Turnaround and SLA.
  std::vector<double> secs;
  for (const auto* t : tasks) {
    if (t->status == "completed") {
      secs.push_back(static_cast<double>(t->updated_ms - t->created_ms) / 1000.0);
      if (t->deadline_ms > 0) {
        ++r.turnaround.sla.with_deadline;
        if (t->updated_ms <= t->deadline_ms) ++r.turnaround.sla.met;
      }
    } else if (t->status != "cancelled" && t->deadline_ms > 0 && t->deadline_ms < now_ms) {
      ++r.turnaround.sla.open_breached;
    }
  }
  auto& ta = r.turnaround;
  ta.completed = static_cast<std::int64_t>(secs.size());
  if (!secs.empty()) {
    std::sort(secs.begin(), secs.end());
    double sum = 0;
    for (double x : secs) sum += x;
    ta.mean_s = sum / static_cast<double>(secs.size());
    ta.p50_s = percentile(secs, 50);
    ta.p95_s = percentile(secs, 95);
    ta.max_s = secs.back();
  }
  ta.sla.breached = ta.sla.with_deadline - ta.sla.met;
  ta.sla.compliance = ratio(static_cast<double>(ta.sla.met), ta.sla.with_deadline);

  // 3. Accuracy, 6. per policy version (same counters, one per hash).
  AccuracyCounter acc;
  std::unordered_map<std::string, std::size_t> row_of;
  std::vector<AccuracyCounter> row_acc;
  for (const auto* d : cohort) {
    acc.add(*d);
    auto [it, fresh] = row_of.try_emplace(d->policy_hash, r.by_policy.size());
    if (fresh) {
      r.by_policy.push_back({d->policy_hash, d->created_ms, d->created_ms, 0, 0, std::nullopt, {}});
      row_acc.emplace_back();
    }
    auto& row = r.by_policy[it->second];
    row.first_ms = std::min(row.first_ms, d->created_ms);
    row.last_ms = std::max(row.last_ms, d->created_ms);
    ++row.predictions;
    if (d->status == "pending_review") ++row.flagged;
    row_acc[it->second].add(*d);
  }
  r.accuracy = acc.result();
  for (std::size_t i = 0; i < r.by_policy.size(); ++i) {
    auto& row = r.by_policy[i];
    row.flag_rate = ratio(static_cast<double>(row.flagged), row.predictions);
    row.accuracy = row_acc[i].result();
  }
  std::sort(r.by_policy.begin(), r.by_policy.end(), [](const PolicyRow& a, const PolicyRow& b) {
    return a.first_ms != b.first_ms ? a.first_ms < b.first_ms : a.policy_hash < b.policy_hash;
  });

  // 4. Bias and its drift against the baseline window.
  if (!s.group.field.empty()) {
    Bias b;
    b.attribute = s.group.field;
    b.bands = s.group.bands;
    b.current = bias_side(cohort, s.group);
    if (baseline) {
      b.baseline_window = baseline_window;
      b.baseline = bias_side(cohort_of(*baseline, baseline_window), s.group);
      b.flag_rate_drift = diff(b.current.flag_rate_disparity, b.baseline->flag_rate_disparity);
      b.error_rate_drift = diff(b.current.error_rate_disparity, b.baseline->error_rate_disparity);
    }
    r.bias = std::move(b);
  }

  // 5. Cost per corrected prediction.
  auto& c = r.cost;
  for (const auto& rv : facts.reviews) {
    if (!task_ids.count(rv.task_id)) continue;
    ++c.reviews;
    if (rv.started_ms <= 0 || rv.started_ms > rv.created_ms) {
      ++c.reviews_without_start;  // no lease start recorded (or a clock that went back): no time
      continue;
    }
    c.reviewer_seconds += static_cast<double>(rv.created_ms - rv.started_ms) / 1000.0;
  }
  c.reviewer_cost = c.reviewer_seconds / 3600.0 * s.cost.reviewer_per_hour;
  c.system_cost = static_cast<double>(r.predictions) * s.cost.per_prediction;
  for (const auto* d : cohort)
    if (human_outcome(*d) && d->final_label != d->label) ++c.corrections;
  c.cost_per_correction = ratio(c.reviewer_cost + c.system_cost, c.corrections);
  return r;
}

std::vector<std::string> band_names(const std::vector<double>& bands) { return make_band_names(bands); }

std::string group_of_value(const nlohmann::json* value, const GroupSpec& spec) {
  return value_group(value, spec, make_band_names(spec.bands));
}

}  // namespace hitl::report
