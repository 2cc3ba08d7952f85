// What a run needs before it starts: the labelled stream, and a config that keeps the simulated
// instance inside its work folder.
#include "simulate/simulate.hpp"

#include "data/records.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace hitl::simulate {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<LabelledRow> read_stream(const fs::path& file, const std::string& label,
                                     const std::vector<std::string>& labels, std::size_t limit) {
  const auto dataset = data::to_dataset(data::read_csv(file), label);
  const std::string stem = file.stem().string();
  std::vector<LabelledRow> rows;
  const std::size_t n = limit ? std::min(limit, dataset.rows.size()) : dataset.rows.size();
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& truth = dataset.labels[i];
    if (std::find(labels.begin(), labels.end(), truth) == labels.end())
      throw std::runtime_error(file.string() + ": row " + std::to_string(i + 1) + ": label \"" + truth +
                               "\" is not one of the domain's labels");
    rows.push_back({stem + ":" + std::to_string(i + 1), data::record_to_json(dataset.rows[i]), truth});
  }
  if (rows.empty()) throw std::runtime_error(file.string() + ": no labelled rows");
  return rows;
}

namespace {

// Points every path option the plugin declares at `file`; false when it declares none.
bool point_paths_at(config::PluginRef& ref, const plugin::Registry& plugins, sdk::PluginKind kind, const fs::path& file) {
  const auto* loaded = plugins.find(kind, ref.plugin);
  if (!loaded) return false;
  const auto names = plugin::declared_path_options(*loaded->descriptor);
  if (names.empty()) return false;
  json options = json::parse(ref.config_json.empty() ? "{}" : ref.config_json);
  for (const auto& name : names) options[name] = file.string();
  ref.config_json = options.dump();
  return true;
}

// Copies each file a model's path options name into `dir` (with its feature statistics beside
// it) and points the options at the copies.
void copy_model_files(config::ModelConfig& model, const plugin::Registry& plugins, const fs::path& dir) {
  const auto* loaded = plugins.find(sdk::PluginKind::model, model.ref.plugin);
  if (!loaded) return;  // App refuses it with the config's own message
  json options = json::parse(model.ref.config_json.empty() ? "{}" : model.ref.config_json);
  for (const auto& name : plugin::declared_path_options(*loaded->descriptor)) {
    if (!options.contains(name) || !options[name].is_string()) continue;
    const fs::path from = options[name].get<std::string>();
    const fs::path to = dir / (model.name + "." + from.filename().string());
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
    if (fs::path sidecar = from.string() + ".features.json"; fs::exists(sidecar))
      fs::copy_file(sidecar, to.string() + ".features.json", fs::copy_options::overwrite_existing);
    options[name] = to.string();
  }
  model.ref.config_json = options.dump();
}

// The models a domain scores with: primary, ensemble, judge and shadow.
std::vector<std::string> models_of(const config::DomainConfig& d) {
  std::vector<std::string> names = d.ensemble;
  for (const auto* name : {&d.model, &d.judge_model, &d.shadow_model})
    if (!name->empty()) names.push_back(*name);
  return names;
}

}  // namespace

config::ServiceConfig sandbox_config(config::ServiceConfig cfg, const plugin::Registry& plugins, const std::string& domain,
                                     const fs::path& work_dir) {
  auto it = cfg.domains.find(domain);
  if (it == cfg.domains.end()) throw std::runtime_error("unknown domain \"" + domain + "\"");
  config::DomainConfig dom = it->second;
  dom.webhook_url.clear();  // a simulation tells no one
  cfg.domains = {{domain, dom}};
  fs::create_directories(work_dir / "models");
  const fs::path db = work_dir / "simulation.db";
  if (!point_paths_at(cfg.storage, plugins, sdk::PluginKind::storage, db) ||
      !point_paths_at(cfg.queue, plugins, sdk::PluginKind::queue, db))
    throw std::runtime_error("simulate needs a storage and a queue plugin with a path option (such as sqlite): "
                             "it never writes to the configured ones");
  cfg.datasets_dir = work_dir / "datasets";
  cfg.registry_dir = work_dir / "registry";
  std::map<std::string, config::ModelConfig> models;
  for (const auto& name : models_of(dom)) {
    auto model = cfg.models.at(name);
    copy_model_files(model, plugins, work_dir / "models");
    models.emplace(name, std::move(model));
  }
  cfg.models = std::move(models);
  return cfg;
}

}  // namespace hitl::simulate
