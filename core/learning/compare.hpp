#pragma once
// Comparing a candidate model with the live one, and deciding whether it replaces it: the step
// shared by `hitl model evaluate`, `hitl retrain` and the service's retrain worker.
//
// Both models are the domain's model plugin, loaded with their artifacts, scored on the same
// evaluation sets (docs/learning-loop.md, "Evaluate"): the reviewed slice (a dataset version's
// time holdout: the hard cases), the base-data holdout never trained on, the audit samples and
// reported truths (weighted 1/p), and the golden set; each with its figures and 95% intervals.
#include "config/service_config.hpp"
#include "dataset/dataset.hpp"
#include "evaluation/evaluation.hpp"
#include "evaluation/promotion_rule.hpp"
#include "registry/registry.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::plugin { class Registry; }
namespace hitl::policy { class PolicyEngine; }

namespace hitl::learning {

// The domain's model plugin loaded with `artifact` (its configured one when empty), to score
// labelled rows with. Built once per model, whatever the number of row sets.
class Scorer {
 public:
  Scorer(const plugin::Registry& plugins, const config::ModelConfig& model, const std::string& artifact,
         const config::DomainConfig& domain, std::string positive);
  std::string version() const;
  // Throws std::runtime_error when the model fails or answers a wrong number of predictions.
  std::vector<sdk::Prediction> predict(const std::vector<dataset::Sample>& rows) const;
  // The metrics of `predictions` (of `rows`), per report group too; `weights` as for evaluate().
  evaluation::Evaluation evaluate(const std::vector<dataset::Sample>& rows, const std::vector<sdk::Prediction>& predictions,
                                  const std::vector<double>& weights = {}) const;
  evaluation::Evaluation score(const std::vector<dataset::Sample>& rows) const;

 private:
  const config::DomainConfig& domain_;
  std::string positive_;
  std::shared_ptr<sdk::Model> model_;
};

// The version the domain's model plugin reports for an artifact file (registry::ArtifactVersion),
// "" when it cannot load it. `plugins` and `cfg` must outlive the function.
registry::ArtifactVersion artifact_versions(const plugin::Registry& plugins, const config::ServiceConfig& cfg,
                                            const std::string& domain);

struct ScoredModel {
  std::string version;
  evaluation::Evaluation rows;
  std::optional<evaluation::Evaluation> golden;  // set when the domain has a golden set
};

struct CompareRequest {
  const config::DomainConfig* domain = nullptr;
  const config::ModelConfig* model = nullptr;
  std::vector<dataset::Sample> rows;    // labelled rows both models are scored on
  std::string rows_from, split;         // for the JSON: the dataset version (or file) and split
  std::vector<dataset::Sample> golden;  // the domain's golden set (may be empty); marked cases tagged "gold"
  std::vector<std::string> golden_problems;  // skipped lines of the marked file (golden_set.skipped)
  std::size_t golden_dropped = 0;            // marked cases the live model trained on (golden_set.dropped)
  std::string candidate_artifact;       // "" = score the live model only
  std::string candidate_id;             // the registered version, when it is one
  std::string positive;                 // "" = the domain's last label
  // The unbiased rows (docs/learning-loop.md, "Evaluate"): the base data's holdout
  // (BaseData::holdout, never trained on) and the audit samples and reported truths
  // (audit_rows), each scored by both models and paired for the promotion rule.
  std::vector<dataset::Sample> base_holdout;
  std::vector<dataset::Sample> audit;  // an audit sample weighs 1 / audit_p, a truth 1
  // Set: the projected review share runs the policy's flag(p) on each unbiased row with each
  // model's prediction. Null: not projected.
  policy::PolicyEngine* policies = nullptr;
  evaluation::RuleOptions rule;  // the confidence the paired test reports against
};

// The domain's retrain.promote_confidence and promote_tolerance as the rule's options.
evaluation::RuleOptions rule_options(const config::DomainConfig& domain);

// The audit set of a dataset version's rows: every audit sample (tagged "audit", never trained
// on) and the reported truths of decisions nobody reviewed among `holdout` (the newest rows:
// the older ones trained the candidate). Golden cases are left out.
std::vector<dataset::Sample> audit_rows(const std::vector<dataset::Sample>& all, const std::vector<dataset::Sample>& holdout);
// The reviewed slice of `holdout`: what is neither golden, an audit sample nor a bare truth.
std::vector<dataset::Sample> reviewed_rows(std::vector<dataset::Sample> holdout);

struct Comparison {
  ScoredModel live;
  std::optional<ScoredModel> candidate;
  std::string positive;
  // `hitl model evaluate --json`: dataset, split, rows, positive, live {version, metrics,
  // golden?}, candidate {version, artifact, id?, metrics, golden?}, golden_set {file, cases}?,
  // sets {reviewed, base_holdout, audit, golden} (each {rows, live, candidate?}), unbiased {rows,
  // live, candidate, paired}, projected_review_share. This is also what promote(eval) sees,
  // with `default` (the default rule's verdict) added by decide_promotion.
  nlohmann::json json;
};

// Throws std::runtime_error (no rows, a model that fails to load or predict).
Comparison compare(const plugin::Registry& plugins, const CompareRequest& request);

// The domain's golden set as samples (input and known label): its gold_file's cases, then the
// cases reviewers marked golden (dataset/marked_gold.hpp). Empty when it has neither.
// Lines of the marked file that do not parse are skipped and described in `problems`.
std::vector<dataset::Sample> golden_samples(const config::ServiceConfig& cfg, const std::string& domain,
                                            std::vector<std::string>* problems = nullptr);

// Drops the marked golden cases the live model may have learnt from: those in the dataset
// version the live registry version was trained on (a case marked after that training was a
// training row then). Returns how many were dropped (0 while the configured artifact is live).
// Without this a candidate, which never trains on golden cases, would be judged on them against
// a live model that did.
std::size_t drop_golden_seen_by_live(const config::ServiceConfig& cfg, const std::string& domain,
                                     std::vector<dataset::Sample>& golden);

struct Promotion {
  bool promote = false;
  std::string decided_by;  // "policy" (promote(eval)) or "default" (evaluation::default_promotion)
  std::string reason;
  bool failed = false;     // the hook failed: the live model stays
};

// The default rule's verdict is added as eval["default"] {promote, reason}; then promote(eval)
// decides, or that verdict without the hook; a failing hook keeps the live model (fail closed).
// Also records the decision as eval["promotion"].
Promotion decide_promotion(policy::PolicyEngine& policies, const std::string& domain, nlohmann::json& eval,
                           const evaluation::RuleOptions& rule);

}  // namespace hitl::learning
