// model-logreg: the embedded default model. Multinomial logistic regression that trains
// in-process (`hitl train`) and scores batches with per-feature contributions.
#include "logreg.hpp"

#include <boost/dll/alias.hpp>
#include <hitl/json_config.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>

namespace hitl::logreg {

using nlohmann::json;
using sdk::Code;
using sdk::Status;

namespace {

const char* const kConfigDoc = R"json([
  {"name":"artifact","type":"path","default":null,"description":"path of the JSON artifact written by `hitl train`; absent = untrained (predict fails with unavailable until trained)"},
  {"name":"l2","type":"number","default":0.001,"description":"L2 penalty on the weights (not the bias), >= 0"},
  {"name":"epochs","type":"integer","default":300,"description":"maximum full-batch gradient steps; training stops earlier once the loss stops changing"},
  {"name":"learning_rate","type":"number","default":1.0,"description":"initial gradient step, > 0 (features are standardized, so 1 suits most data; halved automatically whenever a step raises the loss)"}
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
  l->version = "logreg-" + fnv1a_hex(artifact_text).substr(0, 12);
  l->slot_feature.resize(l->params.dims);
  for (std::size_t i = 0; i < l->params.features.size(); ++i) {
    const Feature& f = l->params.features[i];
    for (std::uint32_t s = 0; s < f.width; ++s) l->slot_feature[f.slot + s] = i;
  }
  return l;
}

class LogregModel final : public sdk::Model {
 public:
  LogregModel(Hyper hyper, std::shared_ptr<const Loaded> loaded) : hyper_(hyper), loaded_(std::move(loaded)) {}

  Status predict(const std::vector<sdk::Record>& rows, std::vector<sdk::Prediction>& out) noexcept override {
    auto model = snapshot();
    if (!model) return Status::Error(Code::unavailable, "model-logreg: no artifact loaded (train one with hitl train)");
    try {
      const Params& p = model->params;
      const std::size_t K = p.num_classes();
      std::vector<sdk::Prediction> result(rows.size());
      SparseRow encoded;
      std::vector<double> logits, probs, contrib(p.features.size());
      std::vector<std::size_t> order(p.features.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        try {
          p.encode(rows[i], encoded);
        } catch (const LogregError& e) {
          return Status::Error(Code::invalid_argument, "model-logreg: row " + std::to_string(i + 1) + ": " + e.what());
        }
        p.probabilities(encoded, logits, probs);
        const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
        sdk::Prediction& pred = result[i];
        pred.label = p.classes[best];
        pred.confidence = probs[best];
        pred.scores.reserve(K);
        for (std::size_t k = 0; k < K; ++k) pred.scores.emplace_back(p.classes[k], probs[k]);

        // Each input column's share of the predicted class's logit (one-hot slots summed back).
        std::fill(contrib.begin(), contrib.end(), 0.0);
        for (const auto& [j, x] : encoded) contrib[model->slot_feature[j]] += p.weights[j * K + best] * x;
        for (std::size_t f = 0; f < order.size(); ++f) order[f] = f;
        const std::size_t top = std::min(kMaxContributions, order.size());
        std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](std::size_t a, std::size_t b) {
          const double fa = std::fabs(contrib[a]), fb = std::fabs(contrib[b]);
          return fa != fb ? fa > fb : a < b;  // ties by column order: deterministic output
        });
        pred.contributions.reserve(top);
        for (std::size_t n = 0; n < top; ++n) pred.contributions.emplace_back(p.features[order[n]].name, contrib[order[n]]);
      }
      out = std::move(result);
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("model-logreg: predict failed: ") + e.what());
    }
  }

  bool can_train() const noexcept override { return true; }

  Status train(const sdk::Dataset& data, sdk::TrainResult& out) noexcept override {
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
      std::lock_guard lock(mu_);
      loaded_ = std::move(loaded);  // later predictions use the new model
      return Status::Ok();
    } catch (const LogregError& e) {
      return Status::Error(Code::invalid_argument, std::string("model-logreg: train: ") + e.what());
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("model-logreg: train failed: ") + e.what());
    }
  }

  std::string version() const noexcept override {
    try {
      auto model = snapshot();
      return model ? model->version : "logreg-untrained";
    } catch (...) {
      return "logreg-unknown";
    }
  }

 private:
  std::shared_ptr<const Loaded> snapshot() const {
    std::lock_guard lock(mu_);
    return loaded_;
  }

  const Hyper hyper_;
  mutable std::mutex mu_;
  std::shared_ptr<const Loaded> loaded_;  // null until an artifact is loaded or trained
};

Status invalid(std::string msg) { return Status::Error(Code::invalid_argument, "model-logreg: " + std::move(msg)); }

Status load_artifact(const std::string& path, std::shared_ptr<const Loaded>& out) {
  std::string text;
  if (auto error = sdk::json_config::read_file(path, text)) return invalid(*error);
  try {
    out = make_loaded(from_json(text), text);
  } catch (const LogregError& e) {
    return invalid("artifact \"" + path + "\": " + e.what());
  }
  return Status::Ok();
}

Status create(const char* config_json, std::unique_ptr<sdk::Model>& out) {
  try {
    json cfg;
    if (auto error = sdk::json_config::parse_object(config_json, cfg)) return invalid(*error);

    Hyper hyper;
    std::string artifact;
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      auto wrong = [&](const char* want) { return invalid(sdk::json_config::wrong_value(key, want, v)); };
      if (key == "artifact") {
        if (v.is_null()) continue;  // same as absent
        if (!v.is_string() || v.get<std::string>().empty()) return wrong("a non-empty string (file path)");
        artifact = v.get<std::string>();
      } else if (key == "l2") {
        if (!sdk::json_config::number_above(v, 0.0, true)) return wrong("a number >= 0");
        hyper.l2 = v.get<double>();
      } else if (key == "epochs") {
        if (!sdk::json_config::integer_in(v, 1, 1e7)) return wrong("an integer from 1 to 10000000");
        hyper.epochs = static_cast<int>(v.get<double>());
      } else if (key == "learning_rate") {
        if (!sdk::json_config::number_above(v, 0.0, false)) return wrong("a number > 0");
        hyper.learning_rate = v.get<double>();
      } else {
        return invalid("unknown config key \"" + key + "\" (known: artifact, l2, epochs, learning_rate)");
      }
    }

    std::shared_ptr<const Loaded> loaded;
    if (!artifact.empty())
      if (auto st = load_artifact(artifact, loaded); !st.ok()) return st;
    out = std::make_unique<LogregModel>(hyper, std::move(loaded));
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("model-logreg: ") + e.what());
  }
}

}  // namespace

const sdk::PluginDescriptor* descriptor() {
  static const sdk::PluginDescriptor d = sdk::model_descriptor(
      "logreg", "1.0.0", "Multinomial logistic regression, trained in-process; scores with per-feature contributions",
      kConfigDoc, &create);
  return &d;
}

}  // namespace hitl::logreg

HITL_DECLARE_PLUGIN(hitl::logreg::descriptor)
