// model-logreg: the embedded default model. Multinomial logistic regression that trains
// in-process (`hitl train`) and scores batches with per-feature contributions.
#include "logreg.hpp"

#include <hitl/json_config.hpp>
#include <hitl/model_support.hpp>
#include <hitl/plugin_entry.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace hitl::logreg {

using nlohmann::json;
using sdk::Code;
using sdk::Status;
namespace model_support = sdk::model_support;

namespace {

const char* const kConfigDoc = R"json([
  {"name":"artifact","type":"path","default":null,"description":"path of the JSON artifact written by `hitl train`; absent = untrained (predict fails with unavailable until trained)"},
  {"name":"l2","type":"number","default":0.001,"description":"L2 penalty on the weights (not the bias), >= 0"},
  {"name":"epochs","type":"integer","default":300,"description":"maximum full-batch gradient steps; training stops earlier once the loss stops changing"},
  {"name":"learning_rate","type":"number","default":1.0,"description":"initial gradient step, > 0 (features are standardized, so 1 suits most data; halved automatically whenever a step raises the loss)"},
  {"name":"text_columns","type":"array of strings","default":[],"description":"columns trained as free text: their words and word pairs hashed into text_buckets slots (the artifact records it; prediction reads it from there)"},
  {"name":"text_buckets","type":"integer","default":4096,"description":"hashed slots per text column, 16..1048576: more slots, fewer words sharing one"}
])json";

constexpr std::size_t kMaxContributions = 10;

struct Loaded {
  Params params;
  std::string version;
  std::vector<std::size_t> slot_feature;  // feature index of each slot, for contributions
};

std::shared_ptr<const Loaded> make_loaded(Params params, const std::string& artifact_text) {
  auto l = std::make_shared<Loaded>();
  l->params = std::move(params);
  l->version = model_support::artifact_version("logreg", artifact_text);
  l->slot_feature.resize(l->params.dims);
  for (std::size_t i = 0; i < l->params.features.size(); ++i) {
    const Feature& f = l->params.features[i];
    for (std::uint32_t s = 0; s < f.width; ++s) l->slot_feature[f.slot + s] = i;
  }
  return l;
}

class LogregModel final : public sdk::Model {
 public:
  LogregModel(Hyper hyper, std::shared_ptr<const Loaded> loaded) : hyper_(hyper), current_(std::move(loaded)) {}

  Status predict(const std::vector<sdk::Record>& rows, std::vector<sdk::Prediction>& out) noexcept override {
    auto model = current_.snapshot();
    if (!model) return Status::Error(Code::unavailable, "model-logreg: no artifact loaded (train one with hitl train)");
    return model_support::guarded("model-logreg: predict failed", [&] {
      const Params& p = model->params;
      const std::size_t K = p.num_classes();
      std::vector<sdk::Prediction> result(rows.size());
      SparseRow encoded;
      std::vector<double> logits, probs, contrib(p.features.size());
      std::vector<std::size_t> order;
      for (std::size_t i = 0; i < rows.size(); ++i) {
        try {
          p.encode(rows[i], encoded);
        } catch (const LogregError& e) {
          return Status::Error(Code::invalid_argument, "model-logreg: row " + std::to_string(i + 1) + ": " + e.what());
        }
        p.probabilities(encoded, logits, probs);
        const std::size_t best = model_support::set_scores(result[i], p.classes, probs);
        // Each input column's share of the predicted class's logit (one-hot slots summed back).
        std::fill(contrib.begin(), contrib.end(), 0.0);
        for (const auto& [j, x] : encoded) contrib[model->slot_feature[j]] += p.weights[j * K + best] * x;
        model_support::set_contributions(result[i], contrib, kMaxContributions,
                                         [&](std::size_t f) { return p.features[f].name; }, order);
      }
      out = std::move(result);
      return Status::Ok();
    });
  }

  bool can_train() const noexcept override { return true; }

  Status train(const sdk::Dataset& data, sdk::TrainResult& out) noexcept override {
    return model_support::guarded("model-logreg: train failed", [&] {
      try {
        Params p = hitl::logreg::train(data, hyper_);
        std::string artifact = to_json(p);
        json metrics = {{"accuracy", p.report.accuracy},
                        {"log_loss", p.report.log_loss},
                        {"rows", p.report.rows},
                        {"classes", p.classes.size()},
                        {"epochs", p.report.epochs_run},
                        {"converged", p.report.converged}};
        auto loaded = make_loaded(std::move(p), artifact);
        out.artifact_json = std::move(artifact);
        out.metrics_json = metrics.dump();
        current_.replace(std::move(loaded));  // later predictions use the new model
        return Status::Ok();
      } catch (const LogregError& e) {
        return Status::Error(Code::invalid_argument, std::string("model-logreg: train: ") + e.what());
      }
    });
  }

  std::string version() const noexcept override {
    try {
      auto model = current_.snapshot();
      return model ? model->version : "logreg-untrained";
    } catch (...) {
      return "logreg-unknown";
    }
  }

 private:
  const Hyper hyper_;
  model_support::CurrentArtifact<Loaded> current_;
};

Status invalid(std::string msg) { return Status::Error(Code::invalid_argument, "model-logreg: " + std::move(msg)); }

Status create(const char* config_json, std::unique_ptr<sdk::Model>& out) {
  namespace cfgs = sdk::json_config;
  return model_support::guarded("model-logreg", [&] {
    Hyper hyper;
    std::string artifact;
    if (auto error = cfgs::read_config(config_json, {{"artifact", cfgs::path_option(artifact)},
                                                     {"l2", cfgs::number_option(hyper.l2, 0.0, true)},
                                                     {"epochs", cfgs::integer_option(hyper.epochs, 1, 10000000)},
                                                     {"learning_rate", cfgs::number_option(hyper.learning_rate, 0.0, false)},
                                                     {"text_columns", cfgs::string_list_option(hyper.text_columns)},
                                                     {"text_buckets", cfgs::integer_option(hyper.text_buckets, 16, static_cast<int>(kMaxTextBuckets))}}))
      return invalid(*error);
    std::shared_ptr<const Loaded> loaded;
    auto parse = [](const std::string& text) { return make_loaded(from_json(text), text); };
    if (auto error = model_support::load_artifact<LogregError>(artifact, parse, loaded)) return invalid(*error);
    out = std::make_unique<LogregModel>(hyper, std::move(loaded));
    return Status::Ok();
  });
}

}  // namespace

}  // namespace hitl::logreg

HITL_PLUGIN_ENTRY(hitl::logreg, model,
    "logreg", "1.0.0", "Multinomial logistic regression, trained in-process; scores with per-feature contributions",
    kConfigDoc, &create)
