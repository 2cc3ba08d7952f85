#pragma once
// Model evaluation: a model's predictions on labelled rows (a dataset version's holdout, say)
// against the human labels. Pure computation: the caller runs the model.
#include <hitl/plugin_api.hpp>

#include "report/report.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace hitl::evaluation {

struct Metrics {
  std::size_t rows = 0;
  double accuracy = 0;
  // Its 95% interval: Wilson's, at Kish's effective size when the rows are weighted
  // (common/statistics.hpp). effective_rows equals rows for unweighted rows.
  double accuracy_low = 0, accuracy_high = 1, effective_rows = 0;
  bool weighted = false;
  std::optional<double> auc;  // binary label sets only: P(positive) ranks the rows (unweighted)
  double auc_low = 0, auc_high = 1;  // its 95% interval (DeLong's variance), with auc
  double log_loss = 0;        // mean -ln P(true label), P clipped to [1e-15, 1 - 1e-15]
  double calibration_error = 0;  // expected calibration error over 10 equal-width confidence bins
};

struct GroupMetrics {
  std::string group;
  Metrics metrics;
};

struct Evaluation {
  Metrics overall;
  std::string group_field;            // "" = no per-group metrics
  std::vector<GroupMetrics> groups;   // by group name
};

// P(label) of one prediction: its score for `label` when it has scores, else its confidence for
// its own label and the rest shared evenly by the other labels.
double probability(const sdk::Prediction& p, const std::string& label, std::size_t label_count);

// `labels` is the domain's label set; `positive` (one of them) is the class AUC ranks by, for a
// two-label set. `inputs` (same length, may be empty) feed the per-group split on `group`.
// `weights` (same length, may be empty = 1 each) weigh accuracy, log loss and calibration: an
// audit sample drawn with chance p weighs 1/p. Throws std::invalid_argument when the sizes
// differ, a weight is not a finite positive number, or there are no rows.
Evaluation evaluate(const std::vector<sdk::Prediction>& predictions, const std::vector<std::string>& truth,
                    const std::vector<std::string>& labels, const std::string& positive,
                    const std::vector<nlohmann::json>& inputs = {}, const report::GroupSpec& group = {},
                    const std::vector<double>& weights = {});

nlohmann::json to_json(const Metrics& m);
nlohmann::json to_json(const Evaluation& e);

}  // namespace hitl::evaluation
