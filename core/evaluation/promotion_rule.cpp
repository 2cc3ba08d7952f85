#include "evaluation/promotion_rule.hpp"

#include "common/statistics.hpp"

#include <cstdio>
#include <optional>
#include <stdexcept>

namespace hitl::evaluation {
using nlohmann::json;

namespace {

std::string format(const char* fmt, auto... args) {
  char buf[320];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

double number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

// The first guard on which the candidate is worse than the live model beyond the tolerance.
std::optional<std::string> failed_guard(const json& eval, const RuleOptions& o) {
  const double tol = o.tolerance;
  const json& golden = eval.contains("sets") ? eval["sets"].value("golden", json::object()) : json::object();
  if (golden.contains("live") && golden.contains("candidate")) {
    const double l = number(golden["live"], "accuracy"), c = number(golden["candidate"], "accuracy");
    if (c < l - tol) return format("golden-set accuracy %.4f is below the live model's %.4f by more than %.4f", c, l, tol);
  }
  const json& live = eval["unbiased"]["live"];
  const json& cand = eval["unbiased"]["candidate"];
  if (live.contains("groups") && cand.contains("groups")) {
    for (auto& [group, lm] : live["groups"]["by_group"].items()) {
      const json& cm = cand["groups"]["by_group"].value(group, json::object());
      if (number(lm, "rows") < static_cast<double>(o.min_group_rows) || !cm.contains("accuracy")) continue;
      const double le = 1 - number(lm, "accuracy"), ce = 1 - number(cm, "accuracy");
      if (ce > le + tol)
        return format("group %s: error rate %.4f is above the live model's %.4f by more than %.4f (%.0f rows)",
                      group.c_str(), ce, le, tol, number(lm, "rows"));
    }
  }
  const double lc = number(live, "calibration_error"), cc = number(cand, "calibration_error");
  if (cc > lc + tol)
    return format("calibration error %.4f is above the live model's %.4f by more than %.4f", cc, lc, tol);
  return std::nullopt;
}

}  // namespace

PairedResult paired_test(const std::vector<bool>& live_right, const std::vector<bool>& candidate_right) {
  if (live_right.size() != candidate_right.size()) throw std::invalid_argument("paired_test: the models scored different rows");
  PairedResult p;
  p.rows = live_right.size();
  for (std::size_t i = 0; i < p.rows; ++i) {
    if (candidate_right[i] && !live_right[i]) ++p.candidate_only;
    if (live_right[i] && !candidate_right[i]) ++p.live_only;
  }
  p.p_value = statistics::mcnemar_mid_p(p.candidate_only, p.live_only).p_value;
  return p;
}

json to_json(const PairedResult& p, const RuleOptions& o) {
  return {{"rows", p.rows},
          {"candidate_only_right", p.candidate_only},
          {"live_only_right", p.live_only},
          {"test", "mcnemar_mid_p"},
          {"p_value", p.p_value},
          {"confidence", o.confidence},
          {"significant", p.p_value < 1 - o.confidence}};
}

RuleVerdict default_promotion(const json& eval, const RuleOptions& o) {
  const json& unbiased = eval.value("unbiased", json::object());
  const double rows = number(unbiased, "rows");
  if (!(rows > 0) || !unbiased.contains("paired"))
    return {false, "no unbiased rows to judge on: set retrain.base_data (its base_holdout_fraction is never trained on) "
                   "or the policy's audit_rate"};
  const json& paired = unbiased["paired"];
  const double b = number(paired, "candidate_only_right"), c = number(paired, "live_only_right");
  const double p = number(paired, "p_value"), alpha = 1 - o.confidence;
  const double lacc = number(unbiased["live"], "accuracy"), cacc = number(unbiased["candidate"], "accuracy");
  if (!(p < alpha))
    return {false, format("not shown better on %.0f unbiased rows: candidate alone right on %.0f, live alone on %.0f "
                          "(McNemar mid-p %.4f, needs below %.4f); accuracy %.4f against %.4f",
                          rows, b, c, p, alpha, cacc, lacc)};
  if (auto guard = failed_guard(eval, o)) return {false, "better on the unbiased rows, but " + *guard};
  return {true, format("better on %.0f unbiased rows: candidate alone right on %.0f, live alone on %.0f "
                       "(McNemar mid-p %.4f < %.4f); accuracy %.4f against %.4f; no guard worse beyond %.4f",
                       rows, b, c, p, alpha, cacc, lacc, o.tolerance)};
}

}  // namespace hitl::evaluation
