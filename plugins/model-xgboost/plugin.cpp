// model-xgboost: gradient-boosted trees through the libxgboost C API. Trains in-process
// (`hitl train`), scores batches with class probabilities and per-column contributions (TreeSHAP).
#include "xgb.hpp"

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

namespace hitl::xgb {

using nlohmann::json;
using sdk::Code;
using sdk::Status;

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
  l->version = "xgboost-" + fnv1a_hex(artifact_text).substr(0, 12);
  l->slot_feature = l->model.encoding.slot_features();
  return l;
}

Status invalid(std::string msg) { return Status::Error(Code::invalid_argument, "model-xgboost: " + std::move(msg)); }

class XgbModel final : public sdk::Model {
 public:
  XgbModel(Hyper hyper, Contributions contributions, std::shared_ptr<const Loaded> loaded)
      : hyper_(hyper), contributions_(contributions), loaded_(std::move(loaded)) {}

  Status predict(const std::vector<sdk::Record>& rows, std::vector<sdk::Prediction>& out) noexcept override {
    auto loaded = snapshot();
    if (!loaded) return Status::Error(Code::unavailable, "model-xgboost: no artifact loaded (train one with hitl train)");
    try {
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
      std::vector<std::size_t> order(per_feature.size());
      for (std::size_t i = 0; i < n; ++i) {
        if (m.binary()) {
          p[1] = probs[i];
          p[0] = 1.0 - p[1];
        } else {
          for (std::size_t k = 0; k < K; ++k) p[k] = probs[i * K + k];
        }
        const auto best = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
        sdk::Prediction& pred = result[i];
        pred.label = m.classes[best];
        pred.confidence = p[best];
        pred.scores.reserve(K);
        for (std::size_t k = 0; k < K; ++k) pred.scores.emplace_back(m.classes[k], p[k]);
        if (contributions_ == Contributions::none) continue;

        // Each column's share of the predicted class's margin, one-hot slots summed back. A
        // binary model has one margin, log(p1/p0): for class 0 it is negated, so a positive
        // contribution always pushes towards the predicted label.
        const std::size_t group = m.binary() ? 0 : best;
        const double sign = m.binary() && best == 0 ? -1.0 : 1.0;
        const float* c = &contrib[(i * m.groups() + group) * width];
        std::fill(per_feature.begin(), per_feature.end(), 0.0);
        for (std::size_t j = 0; j < cols; ++j) per_feature[loaded->slot_feature[j]] += sign * c[j];
        for (std::size_t f = 0; f < order.size(); ++f) order[f] = f;
        const std::size_t top = std::min(kMaxContributions, order.size());
        std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](std::size_t a, std::size_t b) {
          const double fa = std::fabs(per_feature[a]), fb = std::fabs(per_feature[b]);
          return fa != fb ? fa > fb : a < b;  // ties by column order: deterministic output
        });
        pred.contributions.reserve(top);
        for (std::size_t t = 0; t < top; ++t)
          pred.contributions.emplace_back(m.encoding.features[order[t]].name, per_feature[order[t]]);
      }
      out = std::move(result);
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("model-xgboost: predict failed: ") + e.what());
    }
  }

  bool can_train() const noexcept override { return true; }

  Status train(const sdk::Dataset& data, sdk::TrainResult& out) noexcept override {
    try {
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
      std::lock_guard lock(mu_);
      loaded_ = std::move(loaded);  // later predictions use the new model
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("model-xgboost: train failed: ") + e.what());
    }
  }

  std::string version() const noexcept override {
    try {
      auto loaded = snapshot();
      return loaded ? loaded->version : "xgboost-untrained";
    } catch (...) {
      return "xgboost-unknown";
    }
  }

 private:
  std::shared_ptr<const Loaded> snapshot() const {
    std::lock_guard lock(mu_);
    return loaded_;
  }

  const Hyper hyper_;
  const Contributions contributions_;
  mutable std::mutex mu_;
  std::shared_ptr<const Loaded> loaded_;  // null until an artifact is loaded or trained
};

Status load_artifact(const std::string& path, int nthread, std::shared_ptr<const Loaded>& out) {
  std::string text;
  if (auto error = sdk::json_config::read_file(path, text)) return invalid(*error);
  try {
    out = make_loaded(from_json(text, nthread), text);
  } catch (const XgbError& e) {
    return invalid("artifact \"" + path + "\": " + e.what());
  }
  return Status::Ok();
}

using sdk::json_config::integer_in;

Status create(const char* config_json, std::unique_ptr<sdk::Model>& out) {
  try {
    json cfg;
    if (auto error = sdk::json_config::parse_object(config_json, cfg)) return invalid(*error);

    Hyper hyper;
    Contributions contributions = Contributions::exact;
    std::string artifact;
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      const std::string& key = it.key();
      const json& v = it.value();
      auto wrong = [&](const char* want) { return invalid(sdk::json_config::wrong_value(key, want, v)); };
      if (key == "artifact") {
        if (v.is_null()) continue;  // same as absent
        if (!v.is_string() || v.get<std::string>().empty()) return wrong("a non-empty string (file path)");
        artifact = v.get<std::string>();
      } else if (key == "num_round") {
        if (!integer_in(v, 1, 100000)) return wrong("an integer from 1 to 100000");
        hyper.num_round = static_cast<int>(v.get<double>());
      } else if (key == "max_depth") {
        if (!integer_in(v, 1, 32)) return wrong("an integer from 1 to 32");
        hyper.max_depth = static_cast<int>(v.get<double>());
      } else if (key == "eta") {
        if (!v.is_number() || !(v.get<double>() > 0.0 && v.get<double>() <= 1.0)) return wrong("a number > 0 and <= 1");
        hyper.eta = v.get<double>();
      } else if (key == "nthread") {
        if (!integer_in(v, 1, 256)) return wrong("an integer from 1 to 256");
        hyper.nthread = static_cast<int>(v.get<double>());
      } else if (key == "seed") {
        if (!integer_in(v, 0, 2147483647)) return wrong("an integer from 0 to 2147483647");
        hyper.seed = static_cast<std::int64_t>(v.get<double>());
      } else if (key == "contributions") {
        const std::string c = v.is_string() ? v.get<std::string>() : "";
        if (c == "exact") contributions = Contributions::exact;
        else if (c == "approx") contributions = Contributions::approx;
        else if (c == "none") contributions = Contributions::none;
        else return wrong("\"exact\", \"approx\" or \"none\"");
      } else {
        return invalid("unknown config key \"" + key +
                       "\" (known: artifact, num_round, max_depth, eta, nthread, seed, contributions)");
      }
    }

    std::shared_ptr<const Loaded> loaded;
    if (!artifact.empty())
      if (auto st = load_artifact(artifact, hyper.nthread, loaded); !st.ok()) return st;
    out = std::make_unique<XgbModel>(hyper, contributions, std::move(loaded));
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("model-xgboost: ") + e.what());
  }
}

}  // namespace

const sdk::PluginDescriptor* descriptor() {
  static const sdk::PluginDescriptor d = sdk::model_descriptor(
      "xgboost", "1.0.0", "Gradient-boosted trees (libxgboost), trained in-process; scores with per-feature contributions",
      kConfigDoc, &create);
  return &d;
}

}  // namespace hitl::xgb

HITL_DECLARE_PLUGIN(hitl::xgb::descriptor)
