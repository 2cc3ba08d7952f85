// The arithmetic of the report (docs/report.md defines every number). No I/O and no clock, so
// each figure can be checked by hand against a fixture.
#include "common/statistics.hpp"
#include "common/task_state.hpp"
#include "report/fold.hpp"
#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string_view>
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

// The share and its Wilson score interval at 95% (z = 1.96): sound at small counts and near 0 or 1.
void finish_audit(AuditEstimate& a) {
  if (a.samples == 0) return;
  const double n = static_cast<double>(a.samples);
  const auto ci = statistics::wilson(static_cast<double>(a.model_right), n, 1.96);
  a.model_accuracy = a.model_right / n;
  a.ci95_low = ci.low;
  a.ci95_high = ci.high;
}

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
  const GroupField field = group_field(spec);
  const auto doc = nlohmann::json::parse(field.in_meta ? d.meta_json : d.input_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return kMissing;
  const auto it = doc.find(field.key);
  return value_group(it == doc.end() ? nullptr : &*it, spec, bands);
}

}  // namespace

namespace detail {

void AccuracyCounter::add(const sdk::DecisionRecord& d) {
  if (!d.truth_label.empty()) ++reported;
  const auto truth = truth_of(d);
  if (!truth) return;
  ++cases;
  if (d.truth_label.empty()) ++reviewed;
  if (delivered_label(d) == *truth) ++final_right;
  if (d.label == *truth) ++model_right;
}

Accuracy AccuracyCounter::result() const {
  Accuracy a;
  a.cases = cases;
  a.reviewed_cases = reviewed;
  a.reported_truths = reported;
  a.final_accuracy = ratio(static_cast<double>(final_right), cases);
  a.model_accuracy = ratio(static_cast<double>(model_right), cases);
  a.gain = diff(a.final_accuracy, a.model_accuracy);
  return a;
}

std::int64_t TurnaroundHistogram::bin_of(std::int64_t ms) {
  if (ms < 0) return -bin_of(-ms) - 1;  // mirrored below zero, so bins stay in value order
  const auto u = static_cast<std::uint64_t>(ms);
  if (u < 2048) return ms;
  const int e = 63 - __builtin_clzll(u);  // 2^e <= u < 2^(e+1), e >= 11
  const auto sub = static_cast<std::int64_t>((u >> (e - 10)) & 1023);
  return 2048 + static_cast<std::int64_t>(e - 11) * 1024 + sub;
}

void TurnaroundHistogram::add(std::int64_t ms) {
  auto [it, fresh] = bins_.try_emplace(bin_of(ms), Bin{0, ms, ms});
  auto& b = it->second;
  ++b.count;
  b.min = std::min(b.min, ms);
  b.max = std::max(b.max, ms);
  max_ms_ = n_ == 0 ? ms : std::max(max_ms_, ms);
  ++n_;
  sum_ms_ += static_cast<long double>(ms);
}

double TurnaroundHistogram::mean_s() const {
  return static_cast<double>(sum_ms_ / 1000.0L / static_cast<long double>(n_));
}

double TurnaroundHistogram::percentile_s(int p) const {
  const std::int64_t rank = std::clamp<std::int64_t>((p * n_ + 99) / 100, 1, n_);
  std::int64_t before = 0;
  for (const auto& [_, b] : bins_) {
    if (before + b.count < rank) {
      before += b.count;
      continue;
    }
    if (b.min == b.max || b.count == 1) return static_cast<double>(b.min) / 1000.0;
    // Several distinct values share the bin: place the rank linearly between its extremes.
    const double at = static_cast<double>(rank - before - 1) / static_cast<double>(b.count - 1);
    return (static_cast<double>(b.min) + at * static_cast<double>(b.max - b.min)) / 1000.0;
  }
  return max_s();
}

BiasFold::BiasFold(const GroupSpec& spec) : spec_(spec), bands_(make_band_names(spec.bands)) {}

void BiasFold::add(const sdk::DecisionRecord& d) {
  auto& g = by_name_[group_of(d, spec_, bands_)];
  ++g.predictions;
  if (d.status == "pending_review") ++g.flagged;
  if (const auto truth = truth_of(d)) {
    ++g.cases;
    if (d.label != *truth) ++g.model_errors;
  }
}

BiasSide BiasFold::result() const {
  BiasSide side;
  auto by_name = by_name_;
  // Bands in their natural order, then other values by name, "(missing)" last.
  auto take = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it == by_name.end()) return;
    it->second.name = name;
    side.groups.push_back(std::move(it->second));
    by_name.erase(it);
  };
  for (const auto& b : bands_) take(b);
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

ReportFold::ReportFold(const std::string& domain, const Settings& s, Window w, std::int64_t now_ms)
    : settings_(s), now_ms_(now_ms) {
  for (std::size_t i = 1; i < s.group.bands.size(); ++i)
    if (!(s.group.bands[i - 1] < s.group.bands[i]))
      throw std::invalid_argument("report: the bands of " + s.group.field + " must be strictly ascending");
  r_.domain = domain;
  r_.window = w;
  r_.generated_ms = now_ms;
  if (!s.group.field.empty()) bias_.emplace(s.group);
}

void ReportFold::add_decision(const sdk::DecisionRecord& d) {
  // 1. Flag rate. A flagged decision keeps status pending_review after its review.
  ++r_.predictions;
  if (d.status == "pending_review") {
    ++r_.flagged;
    ++reasons_[d.reason.empty() ? "(none)" : d.reason];
  } else if (d.status == "auto_approved") {
    ++r_.auto_approved;
  } else if (d.status == "rejected") {
    ++r_.rejected;
  }
  // 3. Accuracy, 6. per policy version (same counters, one per hash).
  accuracy_.add(d);
  auto [it, fresh] = policies_.try_emplace(d.policy_hash);
  auto& row = it->second.row;
  if (fresh) row = {d.policy_hash, d.created_ms, d.created_ms, 0, 0, std::nullopt, {}};
  row.first_ms = std::min(row.first_ms, d.created_ms);
  row.last_ms = std::max(row.last_ms, d.created_ms);
  ++row.predictions;
  if (d.status == "pending_review") ++row.flagged;
  it->second.accuracy.add(d);
  // 4. Bias.
  if (bias_) bias_->add(d);
  // 3b. Audit samples: the model on automatic traffic.
  if (d.reason == kAuditReason && human_outcome(d)) {
    ++r_.audit.samples;
    if (d.final_label == d.label) ++r_.audit.model_right;
  }
  // 5. Corrections (the cost's denominator).
  if (human_outcome(d) && d.final_label != d.label) ++r_.cost.corrections;
}

void ReportFold::add_task(const sdk::TaskRecord& t) {
  // 2. Turnaround and SLA.
  auto& sla = r_.turnaround.sla;
  if (service::is(t.status, service::TaskState::completed)) {
    turnaround_.add(t.updated_ms - t.created_ms);
    if (t.deadline_ms > 0) {
      ++sla.with_deadline;
      if (t.updated_ms <= t.deadline_ms) ++sla.met;
    }
  } else if (!service::is(t.status, service::TaskState::cancelled) && t.deadline_ms > 0 && t.deadline_ms < now_ms_) {
    ++sla.open_breached;
  }
}

void ReportFold::add_review(const sdk::ReviewRecord& rv) {
  // 5. Reviewer time.
  auto& c = r_.cost;
  ++c.reviews;
  if (rv.started_ms <= 0 || rv.started_ms > rv.created_ms) {
    ++c.reviews_without_start;  // no lease start recorded (or a clock that went back): no time
    return;
  }
  c.reviewer_seconds += static_cast<double>(rv.created_ms - rv.started_ms) / 1000.0;
}

Report ReportFold::finish(std::optional<BiasSide> baseline, Window baseline_window) && {
  Report r = std::move(r_);
  r.flag_rate = ratio(static_cast<double>(r.flagged), r.predictions);
  for (const auto& [reason, n] : reasons_) r.flag_reasons.push_back({reason, n, ratio(static_cast<double>(n), r.predictions)});
  std::stable_sort(r.flag_reasons.begin(), r.flag_reasons.end(),
                   [](const ReasonCount& a, const ReasonCount& b) { return a.count > b.count; });

  auto& ta = r.turnaround;
  ta.completed = turnaround_.count();
  if (ta.completed > 0) {
    ta.mean_s = turnaround_.mean_s();
    ta.p50_s = turnaround_.percentile_s(50);
    ta.p95_s = turnaround_.percentile_s(95);
    ta.max_s = turnaround_.max_s();
  }
  ta.sla.breached = ta.sla.with_deadline - ta.sla.met;
  ta.sla.compliance = ratio(static_cast<double>(ta.sla.met), ta.sla.with_deadline);

  r.accuracy = accuracy_.result();
  finish_audit(r.audit);
  for (auto& [_, p] : policies_) {
    p.row.flag_rate = ratio(static_cast<double>(p.row.flagged), p.row.predictions);
    p.row.accuracy = p.accuracy.result();
    r.by_policy.push_back(std::move(p.row));
  }
  std::sort(r.by_policy.begin(), r.by_policy.end(), [](const PolicyRow& a, const PolicyRow& b) {
    return a.first_ms != b.first_ms ? a.first_ms < b.first_ms : a.policy_hash < b.policy_hash;
  });

  if (bias_) {
    Bias b;
    b.attribute = settings_.group.field;
    b.bands = settings_.group.bands;
    b.current = bias_->result();
    if (baseline) {
      b.baseline_window = baseline_window;
      b.baseline = std::move(*baseline);
      b.flag_rate_drift = diff(b.current.flag_rate_disparity, b.baseline->flag_rate_disparity);
      b.error_rate_drift = diff(b.current.error_rate_disparity, b.baseline->error_rate_disparity);
    }
    r.bias = std::move(b);
  }

  auto& c = r.cost;
  c.reviewer_cost = c.reviewer_seconds / 3600.0 * settings_.cost.reviewer_per_hour;
  c.system_cost = static_cast<double>(r.predictions) * settings_.cost.per_prediction;
  c.cost_per_correction = ratio(c.reviewer_cost + c.system_cost, c.corrections);
  return r;
}

}  // namespace detail

// Facts in memory: the window's cohort, the tasks of its decisions (each once) and their reviews.
Report compute(const std::string& domain, const Facts& facts, const Facts* baseline, const Settings& s, Window w,
               Window baseline_window, std::int64_t now_ms) {
  detail::ReportFold fold(domain, s, w, now_ms);
  std::unordered_set<std::string> ids;
  for (const auto& d : facts.decisions)
    if (w.contains(d.created_ms)) {
      fold.add_decision(d);
      ids.insert(d.id);
    }
  std::unordered_set<std::int64_t> task_ids;
  for (const auto& t : facts.tasks)
    if (ids.count(t.decision_id) && task_ids.insert(t.task_id).second) fold.add_task(t);
  for (const auto& rv : facts.reviews)
    if (task_ids.count(rv.task_id)) fold.add_review(rv);
  std::optional<BiasSide> base;
  if (baseline && !s.group.field.empty()) {
    detail::BiasFold b(s.group);
    for (const auto& d : baseline->decisions)
      if (baseline_window.contains(d.created_ms)) b.add(d);
    base = b.result();
  }
  return std::move(fold).finish(std::move(base), baseline_window);
}

std::vector<std::string> band_names(const std::vector<double>& bands) { return make_band_names(bands); }

GroupField group_field(const GroupSpec& spec) {
  const bool in_meta = spec.field.rfind("meta.", 0) == 0;
  return {in_meta, in_meta ? spec.field.substr(5) : spec.field};
}

std::optional<std::string> truth_of(const sdk::DecisionRecord& d) {
  if (!d.truth_label.empty()) return d.truth_label;
  if (human_outcome(d) && !d.final_label.empty()) return d.final_label;
  return std::nullopt;
}

// A reject may leave final_label empty: that is what was delivered.
const std::string& delivered_label(const sdk::DecisionRecord& d) { return human_outcome(d) ? d.final_label : d.label; }

std::string group_of_value(const nlohmann::json* value, const GroupSpec& spec) {
  return value_group(value, spec, make_band_names(spec.bands));
}

}  // namespace hitl::report
