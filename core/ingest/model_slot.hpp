#pragma once
// The live models of the config's `models.<name>` entries, by name. The pipeline scores with
// them; App builds them and swaps a reloaded model in (app/model_watch.hpp).
#include <hitl/plugin_api.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hitl::data { struct FeatureStats; }

namespace hitl::service {

// The live model of one `models.<name>` with the feature statistics of its training data (the
// artifact's `.features.json` sidecar; null when it has none), swappable while requests run.
// A batch takes one LiveModel and scores, computes p.ood and records the version with it, so no
// request sees half of a swap (a new model with the old statistics).
struct LiveModel {
  std::shared_ptr<sdk::Model> model;
  std::shared_ptr<const data::FeatureStats> stats;
};

class ModelSlot {
 public:
  explicit ModelSlot(std::shared_ptr<sdk::Model> m, std::shared_ptr<const data::FeatureStats> stats = nullptr)
      : live_{std::move(m), std::move(stats)} {}
  std::shared_ptr<sdk::Model> get() const {
    std::lock_guard lock(mu_);
    return live_.model;
  }
  LiveModel live() const {
    std::lock_guard lock(mu_);
    return live_;
  }
  void set(std::shared_ptr<sdk::Model> m, std::shared_ptr<const data::FeatureStats> stats = nullptr) {
    std::lock_guard lock(mu_);
    live_ = LiveModel{std::move(m), std::move(stats)};
  }

 private:
  mutable std::mutex mu_;
  LiveModel live_;
};

using ModelSlots = std::map<std::string, std::shared_ptr<ModelSlot>>;

}  // namespace hitl::service
