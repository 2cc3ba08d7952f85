#pragma once
// The live models of the config's `models` entries, and the files they were loaded from, so a
// changed file (a `hitl model promote`, a retraining) swaps a new model in without a restart.
//
// Which files: every option the model's plugin declares with "type": "path" in its config_doc
// (docs/plugin-sdk.md) and the model's config sets, e.g. model-logreg's `artifact`. The host reads
// no option by its name: a plugin whose model depends on a file declares that option as a path.
// The feature statistics behind p.ood are the sidecar (`<file>.features.json`) of the first of
// those files, in the order the config_doc declares them, that has one.
#include "common/files.hpp"
#include "config/service_config.hpp"
#include "ingest/model_slot.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
  // The files a model's reload watches (its path-typed options), in declaration order.
  std::vector<std::filesystem::path> watched(const std::string& name) const;

  // Reloads every model one of whose watched files changed since it was loaded: the new model is
  // built first and swapped in only when it loads, so a broken file keeps the old model (logged,
  // counted in `metrics`). Audited as model.loaded through `writer`. Returns how many swapped.
  std::size_t reload_changed(Metrics& metrics, Writer& writer);
  // Called after each swap with the model's name and the new model (on the reloading thread).
  using SwapHook = std::function<void(const std::string& name, sdk::Model& fresh)>;
  void on_swap(SwapHook hook) { on_swap_ = std::move(hook); }

 private:
  // A changed file is tried once per change (FileStamp::changed), so a broken file is not
  // retried until it changes again; a file being replaced right now keeps the current model.
  bool reload_one(const std::string& name, const std::filesystem::path& changed_file, Metrics& metrics, Writer& writer);

  const std::map<std::string, config::ModelConfig>& models_;
  const plugin::Registry& plugins_;
  ModelSlots slots_;
  std::map<std::string, std::vector<FileStamp>> watched_;  // by model name; empty = never reloaded
  std::mutex reload_mu_;
  SwapHook on_swap_;  // reload_changed runs on the housekeeping thread and after a promotion
};

}  // namespace hitl::service
