#pragma once
// The live models of the config's `models` entries, and the files they were loaded from, so a
// changed file (a `hitl model promote`, a retraining) swaps a new model in without a restart.
#include "config/service_config.hpp"
#include "ingest/model_slot.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace hitl::plugin { class Registry; }

namespace hitl::service {

class Metrics;
class Writer;

class ModelSet {
 public:
  // Creates every model through `plugins` (which, like `models`, must outlive the set). Throws
  // PluginError, or std::runtime_error naming a malformed feature statistics sidecar.
  ModelSet(const std::map<std::string, config::ModelConfig>& models, const plugin::Registry& plugins);

  const ModelSlots& slots() const { return slots_; }
  std::shared_ptr<sdk::Model> live(const std::string& name) const;  // null: no such model

  // Reloads every model whose artifact file changed since it was loaded: the new model is built
  // first and swapped in only when it loads, so a broken file keeps the old model (logged,
  // counted in `metrics`). Audited as model.loaded through `writer`. Returns how many swapped.
  std::size_t reload_changed(Metrics& metrics, Writer& writer);

 private:
  struct ArtifactStamp {
    std::filesystem::path path;  // "" = the model has no artifact option: never reloaded
    std::filesystem::file_time_type mtime{};
    std::uintmax_t size = 0;
  };
  bool reload_one(const std::string& name, const std::filesystem::path& artifact, Metrics& metrics, Writer& writer);

  const std::map<std::string, config::ModelConfig>& models_;
  const plugin::Registry& plugins_;
  ModelSlots slots_;
  std::map<std::string, ArtifactStamp> stamps_;
  std::mutex reload_mu_;  // reload_changed runs on the housekeeping thread and after a promotion
};

}  // namespace hitl::service
