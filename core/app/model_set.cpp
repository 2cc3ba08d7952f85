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

namespace fs = std::filesystem;

namespace {
// A file's training feature statistics (p.ood), null when it has no sidecar. Throws
// std::runtime_error naming the sidecar when it is malformed.
// Statistics recorded for another file (the artifact was replaced without its sidecar) are not
// used: p.ood is nil rather than measured against another model's training data.
std::shared_ptr<const data::FeatureStats> load_stats(const fs::path& file) {
  auto stats = data::load_feature_stats(file);
  if (!stats) return nullptr;
  if (!data::feature_stats_match(*stats, read_whole_file(file))) {
    spdlog::warn("{} describes another artifact than {} (its artifact_sha256 differs): p.ood is nil for this model",
                 data::feature_stats_path(file).string(), file.string());
    return nullptr;
  }
  return std::make_shared<const data::FeatureStats>(std::move(*stats));
}

// The statistics of the first watched file that has a sidecar (null: none has).
std::shared_ptr<const data::FeatureStats> stats_of(const std::vector<fs::path>& files) {
  for (const auto& f : files)
    if (auto stats = load_stats(f)) return stats;
  return nullptr;
}

// The values of the options the model's plugin declares as paths, as the config sets them (the
// config loader made them absolute). A declared option the config leaves out is not watched.
std::vector<fs::path> path_option_values(const config::ModelConfig& m, const plugin::Registry& plugins) {
  const auto& plugin = plugins.require(sdk::PluginKind::model, m.ref.plugin);
  const auto options = nlohmann::json::parse(m.ref.config_json, nullptr, false);
  std::vector<fs::path> files;
  if (!options.is_object()) return files;
  for (const auto& name : plugin::declared_path_options(*plugin.descriptor))
    if (auto it = options.find(name); it != options.end() && it->is_string() && !it->get<std::string>().empty())
      files.emplace_back(it->get<std::string>());
  return files;
}
}  // namespace

ModelSet::ModelSet(const std::map<std::string, config::ModelConfig>& models, const plugin::Registry& plugins)
    : models_(models), plugins_(plugins) {
  for (auto& [name, m] : models_) {
    const auto files = path_option_values(m, plugins_);
    auto& stamps = watched_[name];
    for (const auto& f : files) {
      FileStamp stamp{f};
      stamp.changed();  // stamps it as it is now
      stamps.push_back(std::move(stamp));
    }
    // A malformed sidecar stops the start with its path, like a malformed artifact.
    auto stats = stats_of(files);
    slots_[name] = std::make_shared<ModelSlot>(plugins_.create_model(m.ref.plugin, m.ref.config_json), std::move(stats));
  }
}

std::shared_ptr<sdk::Model> ModelSet::live(const std::string& name) const {
  auto it = slots_.find(name);
  return it == slots_.end() ? nullptr : it->second->get();
}

std::vector<fs::path> ModelSet::watched(const std::string& name) const {
  std::vector<fs::path> files;
  if (auto it = watched_.find(name); it != watched_.end())
    for (const auto& s : it->second) files.push_back(s.path);
  return files;
}

std::size_t ModelSet::reload_changed(Metrics& metrics, Writer& writer) {
  std::lock_guard lock(reload_mu_);
  std::size_t swapped = 0;
  for (auto& [name, stamps] : watched_) {
    const FileStamp* first_changed = nullptr;
    for (auto& s : stamps)
      if (s.changed() && !first_changed) first_changed = &s;
    if (first_changed && reload_one(name, first_changed->path, metrics, writer)) ++swapped;
  }
  return swapped;
}

bool ModelSet::reload_one(const std::string& name, const fs::path& changed_file, Metrics& metrics, Writer& writer) {
  const auto& m = models_.at(name);
  auto& slot = *slots_.at(name);
  const auto current = slot.get();
  const std::string before = current ? current->version() : "";
  std::shared_ptr<sdk::Model> fresh;
  std::shared_ptr<const data::FeatureStats> stats;
  try {
    // The sidecar is written before the artifact (hitl train), so it is in place by now.
    stats = stats_of(watched(name));
    fresh = plugins_.create_model(m.ref.plugin, m.ref.config_json);
  } catch (const std::exception& e) {
    metrics.plugin_error("model", name);
    spdlog::error("model {}: the changed file {} does not load, keeping {}: {}", name, changed_file.string(), before,
                  e.what());
    return false;
  }
  slot.set(fresh, stats);  // model and statistics swap together
  spdlog::info("model {} reloaded from {}: {} -> {}", name, changed_file.string(), before, fresh->version());
  sdk::WriteBatch batch;
  batch.audit.push_back(audit::make_record(
      now_ms(), audit::kSystemActor, "model.loaded", "", audit::Entity::model, name,
      nlohmann::json{{"from_version", before}, {"to_version", fresh->version()}, {"artifact", changed_file.string()}}.dump()));
  if (auto st = writer.submit_sync(batch); !st.ok()) spdlog::warn("model {}: cannot audit the reload: {}", name, st.message);
  if (on_swap_) on_swap_(name, *fresh);
  return true;
}

}  // namespace hitl::service
