#include "app/model_set.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "data/feature_stats.hpp"
#include "metrics/metrics.hpp"
#include "plugin/plugin_registry.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace hitl::service {

namespace {
// The artifact's training feature statistics (p.ood), null when it has no sidecar. Throws
// std::runtime_error naming the sidecar when it is malformed.
// Statistics recorded for another artifact (the artifact was replaced without its sidecar) are
// not used: p.ood is nil rather than measured against another model's training data.
std::shared_ptr<const data::FeatureStats> load_stats(const std::filesystem::path& artifact) {
  auto stats = data::load_feature_stats(artifact);
  if (!stats) return nullptr;
  if (!data::feature_stats_match(*stats, read_whole_file(artifact))) {
    spdlog::warn("{} describes another artifact than {} (its artifact_sha256 differs): p.ood is nil for this model",
                 data::feature_stats_path(artifact).string(), artifact.string());
    return nullptr;
  }
  return std::make_shared<const data::FeatureStats>(std::move(*stats));
}

std::filesystem::path artifact_of(const config::ModelConfig& m) {
  auto mc = nlohmann::json::parse(m.ref.config_json, nullptr, false);
  if (mc.is_object() && mc.contains("artifact") && mc["artifact"].is_string()) return mc["artifact"].get<std::string>();
  return {};
}
}  // namespace

ModelSet::ModelSet(const std::map<std::string, config::ModelConfig>& models, const plugin::Registry& plugins)
    : models_(models), plugins_(plugins) {
  for (auto& [name, m] : models_) {
    ArtifactStamp stamp;
    stamp.path = artifact_of(m);
    if (!stamp.path.empty()) {
      std::error_code ec;
      stamp.mtime = std::filesystem::last_write_time(stamp.path, ec);
      stamp.size = std::filesystem::file_size(stamp.path, ec);
    }
    // A malformed sidecar stops the start with its path, like a malformed artifact.
    auto stats = stamp.path.empty() ? nullptr : load_stats(stamp.path);
    slots_[name] = std::make_shared<ModelSlot>(plugins_.create_model(m.ref.plugin, m.ref.config_json), std::move(stats));
    stamps_[name] = stamp;
  }
}

std::shared_ptr<sdk::Model> ModelSet::live(const std::string& name) const {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second->get();
}

std::size_t ModelSet::reload_changed(Metrics& metrics, Writer& writer) {
  std::lock_guard lock(reload_mu_);
  std::size_t swapped = 0;
  for (auto& [name, stamp] : stamps_) {
    if (stamp.path.empty()) continue;
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(stamp.path, ec);
    if (ec) continue;  // being replaced right now, or gone: the current model stays
    const auto size = std::filesystem::file_size(stamp.path, ec);
    if (ec || (mtime == stamp.mtime && size == stamp.size)) continue;
    stamp.mtime = mtime;  // tried once per change: a broken file is not retried until it changes again
    stamp.size = size;
    if (reload_one(name, stamp.path, metrics, writer)) ++swapped;
  }
  return swapped;
}

bool ModelSet::reload_one(const std::string& name, const std::filesystem::path& artifact, Metrics& metrics,
                          Writer& writer) {
  const auto& m = models_.at(name);
  auto& slot = *slots_.at(name);
  const auto current = slot.get();
  const std::string before = current ? current->version() : "";
  std::shared_ptr<sdk::Model> fresh;
  std::shared_ptr<const data::FeatureStats> stats;
  try {
    // The sidecar is written before the artifact (hitl train), so it is in place by now.
    stats = load_stats(artifact);
    fresh = plugins_.create_model(m.ref.plugin, m.ref.config_json);
  } catch (const std::exception& e) {
    metrics.plugin_error("model", name);
    spdlog::error("model {}: the changed artifact {} does not load, keeping {}: {}", name, artifact.string(), before,
                  e.what());
    return false;
  }
  slot.set(fresh, stats);  // model and statistics swap together
  spdlog::info("model {} reloaded from {}: {} -> {}", name, artifact.string(), before, fresh->version());
  sdk::WriteBatch batch;
  batch.audit.push_back(audit::make_record(
      now_ms(), audit::kSystemActor, "model.loaded", "", audit::Entity::model, name,
      nlohmann::json{{"from_version", before}, {"to_version", fresh->version()}, {"artifact", artifact.string()}}.dump()));
  if (auto st = writer.submit_sync(batch); !st.ok()) spdlog::warn("model {}: cannot audit the reload: {}", name, st.message);
  return true;
}

}  // namespace hitl::service
