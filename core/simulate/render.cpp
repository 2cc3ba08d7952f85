// A run's figures as JSON, as the closing table, and as one self-contained HTML page (no script,
// no network: inline CSS and SVG line charts). Model versions are the only text from the data on
// the page, and they are escaped.
#include "simulate/simulate.hpp"

#include "common/html.hpp"
#include "report/capture.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace hitl::simulate {
using nlohmann::json;

namespace {

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(); }

json version_json(const VersionFigures& v) {
  return {{"model_version", v.model_version},
          {"first_record", v.first_record},
          {"records", v.records},
          {"auc", optional_number(v.auc)},
          {"first_model_auc", optional_number(v.first_model_auc)},
          {"accuracy", v.accuracy},
          {"first_model_accuracy", v.first_model_accuracy}};
}

json training_json(const Training& t) {
  return {{"hours", t.hours},
          {"trigger", t.trigger},
          {"status", t.status},
          {"candidate_version", t.candidate_version},
          {"promoted", t.promoted},
          {"decision", t.decision}};
}

json judged_json(const JudgedSwap& j) {
  json out = {{"from_version", j.from_version},
              {"to_version", j.to_version},
              {"from_id", j.from_id},
              {"to_id", j.to_id},
              {"rollback", j.rollback},
              {"first_record", j.first_record},
              {"records", j.records}};
  if (!j.not_judged.empty()) {
    out["not_judged"] = j.not_judged;
    return out;
  }
  out.update({{"from_accuracy", j.from_accuracy},
              {"to_accuracy", j.to_accuracy},
              {"to_only_right", j.to_only_right},
              {"from_only_right", j.from_only_right},
              {"p_value", j.p_value},
              {"worse_beyond_noise", j.worse_beyond_noise}});
  return out;
}

json point_json(const Point& p) {
  return {{"hours", p.hours},
          {"records", p.records},
          {"flag_rate", p.flag_rate},
          {"system_accuracy", p.system_accuracy},
          {"model_accuracy", p.model_accuracy},
          {"auc", optional_number(p.auc)},
          {"model_version", p.model_version},
          {"queue_depth", p.queue_depth}};
}

json estimate_json(const report::TrafficEstimate& e, double truth) {
  json out = {{"estimate", optional_number(e.accuracy)}, {"ci95", nullptr}, {"true", truth}, {"true_within_ci95", nullptr}};
  if (e.accuracy) {
    out["ci95"] = json::array({*e.ci95_low, *e.ci95_high});
    out["true_within_ci95"] = *e.ci95_low <= truth && truth <= *e.ci95_high;
  }
  return out;
}

// The report's estimates over the run beside the true figures (docs/simulate.md).
json estimates_json(const Result& r) {
  const auto& e = r.estimated;
  return {{"system", estimate_json(e.system, r.system_accuracy)},
          {"model", estimate_json(e.model, r.model_accuracy)},
          {"reviewed", e.reviewed},
          {"automatic", e.automatic},
          {"audit_samples", e.samples},
          {"effective_samples", e.effective_samples},
          {"not_covered", e.not_covered}};
}

json capture_json(const Result& r) {
  json signals = json::object();
  for (const auto& c : r.capture) {
    json points = json::object();
    for (const auto& p : c.points) points[report::rate_key(p.review_rate)] = optional_number(p.capture);
    signals[report::name(c.signal)] = std::move(points);
  }
  return {{"policy", {{"review_share", r.flag_rate}, {"capture", optional_number(r.policy_capture)}}},
          {"signals", std::move(signals)}};
}

json review_target_json(const Result& r) {
  if (!r.options.review_target) return nullptr;
  const double target = *r.options.review_target;
  return {{"target", target}, {"actual", r.flag_rate}, {"points_off", (r.flag_rate - target) * 100.0}};
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v * 100.0);
  return buf;
}

std::string fixed(const std::optional<double>& v, const char* format = "%.3f") {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

std::string line(const std::string& name, const std::string& value) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-34s %s\n", name.c_str(), value.c_str());
  return buf;
}

// One line per swap: who replaced whom, both accuracies on the new model's records, the test.
std::string judged_text(const Result& r) {
  if (r.promotions_judged.empty()) return "";
  std::string out = "  swaps judged on the records that followed (McNemar, one-sided: is the new model worse?):\n";
  for (const auto& j : r.promotions_judged) {
    const std::string who = (j.from_id.empty() ? j.from_version : j.from_id) + " -> " +
                            (j.to_id.empty() ? j.to_version : j.to_id) + (j.rollback ? " (rollback)" : "");
    char buf[320];
    if (!j.not_judged.empty())
      std::snprintf(buf, sizeof buf, "    %-32s %6zu records  not judged: %s\n", who.c_str(), j.records, j.not_judged.c_str());
    else
      std::snprintf(buf, sizeof buf, "    %-32s %6zu records  accuracy %s -> %s  only right %zu / %zu  p %.4f%s\n",
                    who.c_str(), j.records, percent(j.from_accuracy).c_str(), percent(j.to_accuracy).c_str(),
                    j.from_only_right, j.to_only_right, j.p_value, j.worse_beyond_noise ? "  WORSE beyond noise" : "");
    out += buf;
  }
  return out;
}

}  // namespace

json to_json(const Result& r) {
  json versions = json::array(), series = json::array(), trainings = json::array(), judged = json::array();
  for (auto& v : r.versions) versions.push_back(version_json(v));
  for (auto& j : r.promotions_judged) judged.push_back(judged_json(j));
  for (auto& t : r.training_runs) trainings.push_back(training_json(t));
  for (auto& p : r.series) series.push_back(point_json(p));
  return {{"domain", r.options.domain},
          {"settings",
           {{"reviewers", r.options.reviewers},
            {"reviewer_accuracy", r.options.reviewer_accuracy},
            {"handle_time", r.handle_time},
            {"rate", r.options.rate},
            {"seed", r.options.seed}}},
          {"records", r.records},
          {"flagged", r.flagged},
          {"flag_rate", r.flag_rate},
          {"reviewed", r.reviewed},
          {"reviewed_share", r.reviewed_share},
          {"auto_handled", r.auto_handled},
          {"auto_share", r.auto_share},
          {"system_accuracy", r.system_accuracy},
          {"model_accuracy", r.model_accuracy},
          {"sla_met", optional_number(r.sla_met)},
          {"sla_breached", r.sla_breached},
          {"open_tasks_at_end", r.open_tasks_at_end},
          {"reviewer_hours", r.reviewer_hours},
          {"corrections", r.corrections},
          {"cost_per_correction", optional_number(r.cost_per_correction)},
          {"gold", {{"answers", r.gold_answers}, {"right", r.gold_right}}},
          {"lost_answers", r.lost_answers},
          {"trainings", r.trainings},
          {"promotions", r.promotions},
          {"training_runs", std::move(trainings)},
          {"auc_positive_label", r.positive},
          {"versions", std::move(versions)},
          {"promotions_judged", std::move(judged)},
          {"series", std::move(series)},
          {"estimates", estimates_json(r)},
          {"capture", capture_json(r)},
          {"review_target", review_target_json(r)},
          {"simulated_hours", r.simulated_hours},
          {"wall_seconds", r.wall_seconds}};
}

std::string to_text(const Result& r) {
  std::string out = "simulation of " + r.options.domain + ": " + std::to_string(r.records) + " records over " +
                    fixed(r.simulated_hours, "%.1f") + " simulated hours (" + fixed(r.wall_seconds, "%.1f") + " s)\n";
  out += line("flag rate", percent(r.flag_rate) + " (" + std::to_string(r.flagged) + ")");
  out += line("reviewed by a person", percent(r.reviewed_share) + " (" + std::to_string(r.reviewed) + ")");
  out += line("handled automatically", percent(r.auto_share) + " (" + std::to_string(r.auto_handled) + ")");
  out += line("system accuracy (auto + human)", percent(r.system_accuracy));
  out += line("model alone, same records", percent(r.model_accuracy));
  if (const auto& e = r.estimated.system; e.accuracy)
    out += line("estimated system accuracy", percent(*e.accuracy) + " (95% " + percent(*e.ci95_low) + " - " +
                                                 percent(*e.ci95_high) + ", " + std::to_string(r.estimated.samples) +
                                                 " audit samples)");
  if (r.options.review_target) out += line("review target", percent(*r.options.review_target));
  if (r.policy_capture) out += line("model errors the policy flagged", percent(*r.policy_capture));
  out += line("SLA met", r.sla_met ? percent(*r.sla_met) : "-");
  out += line("reviewer hours", fixed(r.reviewer_hours, "%.1f"));
  out += line("cost per corrected prediction", fixed(r.cost_per_correction, "%.2f") + " (" +
                                                   std::to_string(r.corrections) + " corrections)");
  out += line("trainings, promotions", std::to_string(r.trainings) + ", " + std::to_string(r.promotions));
  for (auto& t : r.training_runs)
    out += "    at " + fixed(t.hours, "%.1f") + " h: " + (t.candidate_version.empty() ? t.status : t.candidate_version) +
           (t.promoted ? " promoted" : " not promoted") + (t.decision.empty() ? "" : " (" + t.decision + ")") + "\n";
  out += "  model versions (AUC on the records each scored, ranking \"" + r.positive + "\"; the first model's on the same):\n";
  for (auto& v : r.versions) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "    %-24s from record %-6zu %6zu records  AUC %s (first %s)  accuracy %s (first %s)\n",
                  v.model_version.substr(0, 24).c_str(), v.first_record + 1, v.records, fixed(v.auc).c_str(),
                  fixed(v.first_model_auc).c_str(), percent(v.accuracy).c_str(), percent(v.first_model_accuracy).c_str());
    out += buf;
  }
  return out + judged_text(r);
}

}  // namespace hitl::simulate
