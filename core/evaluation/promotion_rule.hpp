#pragma once
// The default promotion rule (docs/learning-loop.md, "The promotion rule"): a candidate replaces
// the live model only when it is better on the unbiased rows (the base-data holdout and the audit
// samples, each row scored by both models) by McNemar's paired test at the configured confidence,
// and no guard (golden set accuracy, any report group's error rate, calibration error) is worse
// beyond the tolerance. promote(eval) sees its verdict as eval.default.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace hitl::evaluation {

struct RuleOptions {
  double confidence = 0.95;          // retrain.promote_confidence
  double tolerance = 0.01;           // retrain.promote_tolerance
  std::size_t min_group_rows = 50;   // a report group is a guard only with this many unbiased rows
};

// Both models scored on the same rows: who was right where the other was wrong.
struct PairedResult {
  std::size_t rows = 0;
  std::size_t candidate_only = 0, live_only = 0;  // the discordant pairs
  double p_value = 1;  // McNemar, one-sided mid-p: small when the candidate is really better
};
// Throws std::invalid_argument when the two vectors differ in length.
PairedResult paired_test(const std::vector<bool>& live_right, const std::vector<bool>& candidate_right);
// {rows, candidate_only_right, live_only_right, test: "mcnemar_mid_p", p_value, confidence, significant}
nlohmann::json to_json(const PairedResult& p, const RuleOptions& options);

struct RuleVerdict {
  bool promote = false;
  std::string reason;  // names the test's figures, or the guard that failed
};
// `eval` is the comparison's JSON: unbiased {rows, paired, live, candidate (metrics with
// groups)} and sets.golden {live, candidate} when the domain has a golden set.
RuleVerdict default_promotion(const nlohmann::json& eval, const RuleOptions& options);

}  // namespace hitl::evaluation
