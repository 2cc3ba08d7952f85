#pragma once
// Training a domain's model through its plugin's train(dataset), and recording the result in the
// model registry with its lineage. Shared by `hitl train`, `hitl retrain` and the service's
// retrain worker.
#include <hitl/plugin_api.hpp>

#include "config/service_config.hpp"
#include "dataset/dataset.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace hitl::plugin { class Registry; }
namespace hitl::registry { struct ModelVersion; }
namespace hitl::data { struct FeatureStats; }

namespace hitl::learning {

// The domain's base data (retrain.base_data) split once for honest evaluation: a share of its
// rows (retrain.base_holdout_fraction) is never trained on, so the live model and a candidate can
// both be judged on data like the traffic's, not only on the reviewed slice. A row belongs to the
// holdout by a hash of its content (in_base_holdout), so the split stays the same as the file
// grows and a repeated row never sits on both sides. Throws std::runtime_error naming the file
// for an unreadable base file, a missing label column or a label not of the domain.
struct BaseData {
  sdk::Dataset train;                     // the rows every retraining learns from, weight 1
  std::vector<dataset::Sample> holdout;   // the rows it never learns from (input, label)
};
BaseData read_base_data(const config::DomainConfig& domain);
bool in_base_holdout(const sdk::Record& row, const std::string& label, double fraction);

// The rows a retraining learns from: the base data's training rows (weight 1 each: the labelled
// data the first model came from, so the model does not forget the cases nobody flags) followed
// by the feedback samples with their policy weights. Golden cases (tagged "gold": for
// evaluations only) and audit samples (tagged "audit": the unbiased measurement of the traffic)
// are left out.
struct TrainingSet {
  sdk::Dataset data;
  std::size_t base_rows = 0, feedback_rows = 0;
};
TrainingSet training_set(sdk::Dataset base, const std::vector<dataset::Sample>& feedback);
// The same with the domain's base data read here (read_base_data(domain).train).
TrainingSet training_set(const config::DomainConfig& domain, const std::vector<dataset::Sample>& feedback);

struct Trained {
  sdk::TrainResult result;
  std::string plugin_version;  // the new model's version()
  double seconds = 0;
  // What it learnt from, per feature (data/feature_stats.hpp): register_model keeps them next
  // to the registered artifact, for p.ood once it is promoted.
  std::shared_ptr<const data::FeatureStats> stats;
};

// The training feature statistics of `rows` for the domain (data/feature_stats.hpp), without the
// value counts of its `sensitive` fields: those would copy personal values (names, e-mails) into
// a sidecar that payload erasure never rewrites. Such a column simply has no p.ood part.
data::FeatureStats training_feature_stats(const config::DomainConfig& domain, const std::vector<sdk::Record>& rows);

// Trains the domain's model from scratch on `data` (the configured artifact is not loaded).
// Throws std::runtime_error: no model, a plugin that cannot train, a training failure.
Trained train_model(const plugin::Registry& plugins, const config::ServiceConfig& cfg, const std::string& domain,
                    const sdk::Dataset& data);

// Lineage of a registered version besides what train_model knows.
struct Lineage {
  std::string dataset, split;
  std::string base_data;  // the base file mixed in ("" = none)
  std::size_t base_rows = 0;
  std::string trigger;    // who or what asked: "cli:alice", "policy", "schedule", "admin:root"
  nlohmann::json trigger_stats;  // the retrain(stats) the trigger saw (null = none)
  std::int64_t now_ms = 0;
};

// Records a trained model in the config's registry (parent = the version live now, policy
// hash = the domain's policy file). Returns the registered version, id filled in.
registry::ModelVersion register_model(const config::ServiceConfig& cfg, const std::string& domain,
                                      const Trained& trained, const Lineage& lineage);

// The other domains that use the domain's model (as theirs, or as an ensemble member, judge or
// shadow), comma-separated; "" when none. Promoting over a shared artifact would change their
// scores with a model trained on this domain's feedback, so promotion refuses it.
std::string shared_with(const config::ServiceConfig& cfg, const std::string& domain);

// The file the domain's model loads, which a promotion replaces. Throws std::runtime_error when
// the domain has no model or its model has no `artifact` option.
std::filesystem::path live_artifact(const config::ServiceConfig& cfg, const std::string& domain);

}  // namespace hitl::learning
