#include "app/shared_learning.hpp"

#include "cluster/cluster.hpp"
#include "common/file_store.hpp"
#include "learning/training.hpp"
#include "plugin/plugin_registry.hpp"
#include "registry/registry.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace hitl::service {

namespace {
// Whether domain `d` has a model whose artifact a promotion replaces (the others have nothing
// to install).
bool promotable(const config::ServiceConfig& cfg, const std::string& d) {
  const auto& model = cfg.domains.at(d).model;
  if (model.empty()) return false;
  const auto j = nlohmann::json::parse(cfg.models.at(model).ref.config_json, nullptr, false);
  return j.is_object() && j.contains("artifact") && j["artifact"].is_string();
}
}  // namespace

SharedLearning::SharedLearning(const config::ServiceConfig& cfg, const std::shared_ptr<sdk::Storage>& storage,
                               std::shared_ptr<cluster::Cluster> cluster)
    : cfg_(cfg), storage_(storage), locker_([c = std::move(cluster)](const std::string& name) { return c->lock(name); }) {
  // Blobs came with storage interface 1.3: an older plugin's vtable has no such slots.
  if (const auto api = plugin::api_of(storage); api && api->minor < 3)
    throw std::runtime_error("storage \"" + cfg.storage.plugin + "\" is storage " + std::to_string(api->major) + "." +
                             std::to_string(api->minor) +
                             ": instances sharing a database keep the model registry and datasets in it, which needs "
                             "storage 1.3 (named blobs); upgrade the plugin");
  share_through_blobs(cfg.registry_dir, storage, "registry/", locker_);
  share_through_blobs(cfg.datasets_dir, storage, "datasets/", locker_);
}

std::shared_ptr<FileStore> SharedLearning::retrain_job_files() const {
  return blob_store(cfg_.registry_dir, storage_, "retrain-jobs/", locker_);
}

SharedLearning::~SharedLearning() {
  stop_sharing(cfg_.registry_dir);
  stop_sharing(cfg_.datasets_dir);
}

std::size_t SharedLearning::install_live() noexcept {
  std::lock_guard lock(mu_);
  std::size_t installed = 0;
  for (const auto& [domain, _] : cfg_.domains) {
    std::string live;
    try {
      if (!promotable(cfg_, domain)) continue;
      registry::Registry reg(cfg_.registry_dir);
      live = reg.live(domain).id;
      if (live.empty() || installed_[domain] == live) continue;
      if (reg.install_live(domain, learning::live_artifact(cfg_, domain))) {
        ++installed;
        spdlog::info("domain {}: installed model {} promoted on another instance", domain, live);
      }
      installed_[domain] = live;
      refused_.erase(domain);
    } catch (const std::exception& e) {
      if (refused_[domain] != live)
        spdlog::error("domain {}: live model {} not installed, the model in place keeps scoring: {}", domain,
                      live.empty() ? "(unknown)" : live, e.what());
      refused_[domain] = live;
    }
  }
  return installed;
}

}  // namespace hitl::service
