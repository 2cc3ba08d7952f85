#pragma once
// Comparing a candidate model with the live one, and deciding whether it replaces it: the step
// shared by `hitl model evaluate`, `hitl retrain` and the service's retrain worker.
//
// Both models are the domain's model plugin, loaded with their artifacts, scored on the same
// labelled rows (a dataset version's time holdout, say) and on the domain's golden set.
#include "config/service_config.hpp"
#include "dataset/dataset.hpp"
#include "evaluation/evaluation.hpp"
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
};

struct Comparison {
  ScoredModel live;
  std::optional<ScoredModel> candidate;
  std::string positive;
  // `hitl model evaluate --json`: dataset, split, rows, positive, live {version, metrics,
  // golden?}, candidate {version, artifact, id?, metrics, golden?}, golden_set {file, cases}?.
  // This is also what the policy's promote(eval) sees.
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

// promote(eval) decides, or the default rule without the hook; a failing hook keeps the live
// model (fail closed). Also records the decision as eval["promotion"].
Promotion decide_promotion(policy::PolicyEngine& policies, const std::string& domain, nlohmann::json& eval);

}  // namespace hitl::learning
