// model-xgboost: gradient-boosted trees through the libxgboost C API. Trains in-process
// (`hitl train`), scores batches with class probabilities and per-column contributions (TreeSHAP).
#include "xgb.hpp"

#include <hitl/json_config.hpp>
#include <hitl/model_support.hpp>
#include <hitl/plugin_entry.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace hitl::xgb {

using nlohmann::json;
using sdk::Code;
using sdk::Status;
namespace model_support = sdk::model_support;

namespace {

const char* const kConfigDoc = R"json([
  {"name":"artifact","type":"path","default":null,"description":"path of the JSON artifact written by `hitl train`; absent = untrained (predict fails with unavailable until trained)"},
  {"name":"num_round","type":"integer","default":100,"description":"boosting rounds (trees per class), 1 to 100000"},
  {"name":"max_depth","type":"integer","default":4,"description":"maximum tree depth, 1 to 32"},
  {"name":"eta","type":"number","default":0.1,"description":"learning rate (shrinkage of each tree), > 0 and <= 1"},
  {"name":"nthread","type":"integer","default":1,"description":"threads XGBoost uses to train and predict, 1 to 256"},
  {"name":"seed","type":"integer","default":0,"description":"random seed, 0 to 2147483647 (training is deterministic for a given seed)"},
  {"name":"contributions","type":"string","default":"exact","description":"per-feature contributions in predictions: exact (TreeSHAP), approx (Saabas: about 30x faster) or none"}
])json";

constexpr std::size_t kMaxContributions = 10;

// What predictions carry as contributions; the value is XGBoost's prediction type.
enum class Contributions { none = 0, exact = 2, approx = 3 };

// A trained booster with what scoring needs. Immutable once built, so predict needs no lock:
// XGBoost (>= 1.4) predicts thread-safely with tree boosters (the configuration is locked, the
// prediction cache and the result buffer are per thread), which the tests exercise.
struct Loaded {
  Trained model;
  std::string version;
  std::vector<std::size_t> slot_feature;
};

std::shared_ptr<const Loaded> make_loaded(Trained model, const std::string& artifact_text) {
  auto l = std::make_shared<Loaded>();
  l->model = std::move(model);
  l->version = model_support::artifact_version("xgboost", artifact_text);
  l->slot_feature = l->model.encoding.slot_features();
  return l;
}

Status invalid(std::string msg) { return Status::Error(Code::invalid_argument, "model-xgboost: " + std::move(msg)); }

class XgbModel final : public sdk::Model {
 public:
  XgbModel(Hyper hyper, Contributions contributions, std::shared_ptr<const Loaded> loaded)
      : hyper_(hyper), contributions_(contributions), current_(std::move(loaded)) {}

  Status predict(const std::vector<sdk::Record>& rows, std::vector<sdk::Prediction>& out) noexcept override {
    auto loaded = current_.snapshot();
    if (!loaded) return Status::Error(Code::unavailable, "model-xgboost: no artifact loaded (train one with hitl train)");
    return model_support::guarded("model-xgboost: predict failed", [&] {
      const Trained& m = loaded->model;
      const std::size_t n = rows.size(), cols = m.encoding.slots, K = m.classes.size();
      if (n == 0) {
        out.clear();
        return Status::Ok();
      }
      std::vector<float> x(n * cols);
      for (std::size_t i = 0; i < n; ++i) {
        try {
          m.encoding.encode(rows[i], &x[i * cols]);
        } catch (const XgbError& e) {
          return invalid("row " + std::to_string(i + 1) + ": " + e.what());
        }
      }
      std::vector<std::uint64_t> shape;
      const std::vector<float> probs = m.booster->predict(x, n, cols, 0, shape);
      std::vector<float> contrib;
      if (contributions_ != Contributions::none)
        contrib = m.booster->predict(x, n, cols, static_cast<int>(contributions_), shape);
      const std::size_t width = cols + 1;  // slots + bias
      if (probs.size() != n * m.groups() ||
          (contributions_ != Contributions::none && contrib.size() != n * m.groups() * width))
        return Status::Error(Code::internal, "model-xgboost: XGBoost returned an unexpected prediction shape");

      std::vector<sdk::Prediction> result(n);
      std::vector<double> p(K), per_feature(m.encoding.features.size());
      std::vector<std::size_t> order;
      for (std::size_t i = 0; i < n; ++i) {
        if (m.binary()) {
          p[1] = probs[i];
          p[0] = 1.0 - p[1];
        } else {
          for (std::size_t k = 0; k < K; ++k) p[k] = probs[i * K + k];
        }
        const std::size_t best = model_support::set_scores(result[i], m.classes, p);
        if (contributions_ == Contributions::none) continue;

        // Each column's share of the predicted class's margin, one-hot slots summed back. A
        // binary model has one margin, log(p1/p0): for class 0 it is negated, so a positive
        // contribution always pushes towards the predicted label.
        const std::size_t group = m.binary() ? 0 : best;
        const double sign = m.binary() && best == 0 ? -1.0 : 1.0;
        const float* c = &contrib[(i * m.groups() + group) * width];
        std::fill(per_feature.begin(), per_feature.end(), 0.0);
        for (std::size_t j = 0; j < cols; ++j) per_feature[loaded->slot_feature[j]] += sign * c[j];
        model_support::set_contributions(result[i], per_feature, kMaxContributions,
                                         [&](std::size_t f) { return m.encoding.features[f].name; }, order);
      }
      out = std::move(result);
      return Status::Ok();
    });
  }

  bool can_train() const noexcept override { return true; }

  Status train(const sdk::Dataset& data, sdk::TrainResult& out) noexcept override {
    return model_support::guarded("model-xgboost: train failed", [&] {
      Trained m;
      try {
        m = hitl::xgb::train(data, hyper_);
      } catch (const XgbError& e) {
        return invalid(std::string("train: ") + e.what());
      }
      std::string artifact = to_json(m);
      std::string metrics = m.metrics_json;
      auto loaded = make_loaded(std::move(m), artifact);
      out.artifact_json = std::move(artifact);
      out.metrics_json = std::move(metrics);
      current_.replace(std::move(loaded));  // later predictions use the new model
      return Status::Ok();
    });
  }

  std::string version() const noexcept override {
    try {
      auto loaded = current_.snapshot();
      return loaded ? loaded->version : "xgboost-untrained";
    } catch (...) {
      return "xgboost-unknown";
    }
  }

 private:
  const Hyper hyper_;
  const Contributions contributions_;
  model_support::CurrentArtifact<Loaded> current_;
};

// eta: a number > 0 and <= 1.
sdk::json_config::OptionReader eta_option(double& dst) {
  return [&dst](const std::string& key, const json& v) -> std::optional<std::string> {
    if (!v.is_number() || !(v.get<double>() > 0.0 && v.get<double>() <= 1.0))
      return sdk::json_config::wrong_value(key, "a number > 0 and <= 1", v);
    dst = v.get<double>();
    return std::nullopt;
  };
}

Status create(const char* config_json, std::unique_ptr<sdk::Model>& out) {
  namespace cfgs = sdk::json_config;
  return model_support::guarded("model-xgboost", [&] {
    Hyper hyper;
    Contributions contributions = Contributions::exact;
    std::string artifact;
    const std::vector<std::pair<std::string, Contributions>> kinds = {
        {"exact", Contributions::exact}, {"approx", Contributions::approx}, {"none", Contributions::none}};
    if (auto error = cfgs::read_config(config_json, {{"artifact", cfgs::path_option(artifact)},
                                                     {"num_round", cfgs::integer_option(hyper.num_round, 1, 100000)},
                                                     {"max_depth", cfgs::integer_option(hyper.max_depth, 1, 32)},
                                                     {"eta", eta_option(hyper.eta)},
                                                     {"nthread", cfgs::integer_option(hyper.nthread, 1, 256)},
                                                     {"seed", cfgs::integer_option(hyper.seed, 0, 2147483647)},
                                                     {"contributions", cfgs::choice_option(contributions, kinds)}}))
      return invalid(*error);
    std::shared_ptr<const Loaded> loaded;
    auto parse = [&](const std::string& text) { return make_loaded(from_json(text, hyper.nthread), text); };
    if (auto error = model_support::load_artifact<XgbError>(artifact, parse, loaded)) return invalid(*error);
    out = std::make_unique<XgbModel>(hyper, contributions, std::move(loaded));
    return Status::Ok();
  });
}

}  // namespace

}  // namespace hitl::xgb

HITL_PLUGIN_ENTRY(hitl::xgb, model,
    "xgboost", "1.0.0", "Gradient-boosted trees (libxgboost), trained in-process; scores with per-feature contributions",
    kConfigDoc, &create)
