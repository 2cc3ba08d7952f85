// hitl plugin | train: the tools around the service (hitl token: cmd_token.cpp, hitl policy:
// cmd_policy.cpp).
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"
#include "data/feature_stats.hpp"
#include "data/records.hpp"
#include "dataset/dataset.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "learning/training.hpp"
#include "registry/registry.hpp"
#include "governance/auth.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <sstream>

namespace hitl::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Plugins = ConfiguredPlugins;

void add_plugin(CLI::App& root) {
  struct O { std::string file, config; };
  auto o = std::make_shared<O>();
  auto* plugin = root.add_subcommand("plugin", "Inspect plugins");
  plugin->require_subcommand(1);
  auto* info = plugin->add_subcommand("info", "Load a plugin file and describe it (or say why it is refused)");
  info->add_option("file", o->file, "Plugin shared object (.so)")->required();
  info->add_option("--config", o->config,
                   "Also create an instance with this JSON config (checks the factory), e.g. '{\"path\":\"x.db\"}'");
  info->callback([o] {
    plugin::LoadedPlugin lp;
    try {
      lp = plugin::load_plugin(fs::absolute(o->file));
      if (!o->config.empty()) {
        auto cfg = json::parse(o->config, nullptr, false);
        if (!cfg.is_object()) fail("hitl plugin info: --config: expected a JSON object, got: " + o->config);
        switch (lp.descriptor->kind) {  // the instance is dropped at once: this only proves it can be made
          case sdk::PluginKind::model: plugin::create_model(lp, o->config); break;
          case sdk::PluginKind::queue: plugin::create_queue(lp, o->config); break;
          case sdk::PluginKind::storage: plugin::create_storage(lp, o->config); break;
        }
      }
    } catch (const CLI::RuntimeError&) {
      throw;
    } catch (const std::exception& e) {
      fail(e.what());
    }
    auto* d = lp.descriptor;
    std::cout << "file:        " << lp.path.string() << "\n"
              << "kind:        " << sdk::kind_name(d->kind) << "\n"
              << "name:        " << d->name << "\n"
              << "version:     " << (d->version ? d->version : "") << "\n"
              << "abi_version: " << d->abi_version << " (descriptor format)\n"
              << "interface:   " << sdk::kind_name(d->kind) << " " << d->api.major << "." << d->api.minor << "\n"
              << "description: " << (d->description ? d->description : "") << "\n";
    if (!o->config.empty()) std::cout << "instance:    created with the given config\n";
    auto doc = json::parse(d->config_doc ? d->config_doc : "[]", nullptr, false);
    if (doc.is_array() && !doc.empty()) {
      std::cout << "options:\n";
      for (auto& opt : doc)
        std::cout << "  " << opt.value("name", "?") << " (" << opt.value("type", "?") << ", default "
                  << (opt.contains("default") ? opt["default"].dump() : "none") << "): "
                  << opt.value("description", "") << "\n";
    }
  });
}

struct TrainArgs {
  std::string config, domain, data, label, out, dataset, split = "train";
  double holdout = -1;  // < 0: the domain's retrain.holdout_fraction
  bool register_it = false;
};

// What a training learns from, and how the output names it.
struct TrainingData {
  sdk::Dataset dataset;
  std::string source;      // for the summary line
  std::string dataset_id;  // empty when read from a CSV file
  std::size_t base_rows = 0;
  std::optional<data::BaseHoldoutLeftOut> left_out;  // the base holdout rows it lacks, recorded with the model
};

// A dataset version's split, after the domain's retrain.base_data, as in every retraining
// (learning/training.hpp).
TrainingData from_dataset_version(const TrainArgs& o, const config::ServiceConfig& cfg, const config::DomainConfig& dom) {
  TrainingData t;
  dataset::Store store(cfg.datasets_dir);
  std::vector<dataset::Sample> samples;
  try {
    auto v = store.require(o.dataset, o.domain);
    samples = dataset::Store::split(store.read(v), dataset::parse_split(o.split),
                                    o.holdout >= 0 ? o.holdout : dom.retrain_holdout_fraction);
    t.dataset_id = v.id;
  } catch (const std::exception& e) {
    fail(std::string("hitl train: --dataset: ") + e.what());
  }
  if (samples.empty()) fail("hitl train: " + t.dataset_id + " has no " + o.split + " rows");
  try {
    auto set = learning::training_set(dom, samples);
    t.dataset = std::move(set.data);
    t.base_rows = set.base_rows;
    t.left_out = set.left_out;
  } catch (const std::exception& e) {
    fail(std::string("hitl train: retrain.base_data: ") + e.what());
  }
  t.source = t.dataset_id + " (" + o.split + " split" + (t.base_rows ? " + " + std::to_string(t.base_rows) + " base rows" : "") + ")";
  return t;
}

// The file's rows but those of the domain's base holdout: the rows every evaluation judges the
// live model on (learning::without_base_holdout), so a first model trained on the base data is
// judged on rows it never saw.
TrainingData from_csv(const TrainArgs& o, const config::DomainConfig& dom) {
  if (o.data.empty()) fail("hitl train: give --data FILE.csv --label COLUMN, or --dataset ID");
  if (o.label.empty()) fail("hitl train: --label is required with --data");
  auto table = data::read_csv(o.data);
  if (std::find(table.columns.begin(), table.columns.end(), o.label) == table.columns.end())
    fail("hitl train: --label: no column \"" + o.label + "\" in " + o.data);
  TrainingData t;
  try {
    auto kept = learning::without_base_holdout(dom, data::to_dataset(table, o.label));
    t.dataset = std::move(kept.data);
    t.left_out = kept.left_out;
  } catch (const std::exception& e) {
    fail(std::string("hitl train: retrain.base_data: ") + e.what());
  }
  t.source = o.data;
  if (t.left_out)
    t.source += " (" + std::to_string(t.left_out->rows) + " rows left out: the base holdout of " + t.left_out->file + ")";
  return t;
}

// Writes the artifact to `out` (atomically: a running service never reads half an artifact).
// From a CSV the training feature statistics (p.ood) go next to it, written first so a service
// reloading the new artifact finds its statistics already in place.
void write_artifact(const learning::Trained& trained, const TrainingData& t, const fs::path& out) {
  if (t.dataset_id.empty()) {
    auto stats = *trained.stats;  // computed once, by train_model
    stats.artifact_sha256 = sha256_hex(trained.result.artifact_json);  // ties them to this artifact
    data::save_feature_stats(stats, out);
  }
  replace_file(out, trained.result.artifact_json);
}

// The registry records the model with its lineage: a dataset version's split, or the CSV file.
void register_trained(const TrainArgs& o, const config::ServiceConfig& cfg, const config::DomainConfig& dom,
                      const learning::Trained& trained, const TrainingData& t) {
  learning::Lineage lineage{t.dataset_id.empty() ? "file:" + fs::absolute(o.data).string() : t.dataset_id,
                            t.dataset_id.empty() ? "all" : o.split,
                            t.base_rows ? dom.retrain_base_data.string() : "", t.base_rows, cli_actor(), nullptr,
                            now_ms()};
  auto added = learning::register_model(cfg, o.domain, trained, lineage);
  std::cout << "registered " << added.id << " (dataset " << lineage.dataset << ", parent "
            << (added.parent.empty() ? "the configured artifact" : added.parent) << "); promote it with "
            << "hitl model promote --domain " << o.domain << " --id " << added.id << "\n";
}

void train(const TrainArgs& o) {
  auto cfg = load(o.config);
  const auto shared = storage_if_shared(o.config);  // the datasets and registry are the database's then
  auto dom = cfg.domains.find(o.domain);
  if (dom == cfg.domains.end()) fail("hitl train: unknown domain \"" + o.domain + "\"");
  if (dom->second.model.empty()) fail("hitl train: domain \"" + o.domain + "\" has no model");
  auto& mc = cfg.models.at(dom->second.model);
  auto mcfg = json::parse(mc.ref.config_json);
  // From a dataset version the artifact goes to the registry (and to --out if given): it becomes
  // live only by `hitl model promote`. From a CSV it replaces the model's artifact (or --out).
  const bool to_registry = !o.dataset.empty() || o.register_it;
  fs::path out = !o.out.empty() ? fs::absolute(o.out) : to_registry ? fs::path() : fs::path(mcfg.value("artifact", ""));
  if (out.empty() && !to_registry) fail("hitl train: no --out and model \"" + mc.name + "\" has no `artifact` option");
  const TrainingData t = !o.dataset.empty() ? from_dataset_version(o, cfg, dom->second) : from_csv(o, dom->second);
  Plugins p(cfg);
  learning::Trained trained;
  try {
    trained = learning::train_model(p.registry, cfg, o.domain, t.dataset, t.left_out);
  } catch (const std::exception& e) {
    fail(std::string("hitl train: ") + e.what());
  }
  if (!out.empty()) write_artifact(trained, t, out);
  if (to_registry) register_trained(o, cfg, dom->second, trained, t);
  std::cout << "trained " << mc.name << " (" << trained.plugin_version << ") on " << t.dataset.rows.size()
            << " rows of " << t.source << " in " << trained.seconds << " s; artifact: " << (out.empty() ? std::string("(registry only)") : out.string()) << "\nmetrics: " << trained.result.metrics_json
            << std::endl;
}

void add_train(CLI::App& root) {
  auto o = std::make_shared<TrainArgs>();
  auto* train_cmd = root.add_subcommand("train", "Train the domain's model from a CSV file or a dataset version and save its artifact");
  train_cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  train_cmd->add_option("--domain", o->domain, "Domain whose model to train")->required();
  auto* data_opt = train_cmd->add_option("--data", o->data, "Training data (CSV with a header row)")->check(CLI::ExistingFile);
  train_cmd->add_option("--label", o->label, "Column holding the label (with --data)");
  train_cmd->add_option("--dataset", o->dataset, "Train on a dataset version (hitl dataset list), with its sample weights")
      ->excludes(data_opt);
  train_cmd->add_option("--split", o->split, "With --dataset: train (older rows), holdout (newest) or all")
      ->check(CLI::IsMember({"all", "train", "holdout"}))
      ->capture_default_str();
  train_cmd->add_option("--holdout-fraction", o->holdout,
                        "With --dataset: share of the newest rows held out (default: the domain's retrain.holdout_fraction, 0.2)")
      ->check(CLI::Range(0.0, 1.0));
  train_cmd->add_option("--out", o->out, "Where to write the artifact (default: the model's `artifact` option)");
  train_cmd->add_flag("--register", o->register_it,
                      "With --data: record the model in the registry as a candidate (promote it with hitl model "
                      "evaluate --promote or hitl model promote) instead of writing the live artifact");
  train_cmd->callback([o] { train(*o); });
}

}  // namespace

void add_tools(CLI::App& root) {
  add_token(root);
  add_policy(root);
  add_plugin(root);
  add_train(root);
}

}  // namespace hitl::cli
