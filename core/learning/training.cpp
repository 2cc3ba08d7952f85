#include "learning/training.hpp"

#include "common/files.hpp"
#include "common/hash.hpp"
#include "data/feature_stats.hpp"
#include "data/records.hpp"
#include "plugin/plugin_registry.hpp"
#include "registry/registry.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_set>

namespace hitl::learning {
using nlohmann::json;

namespace {
// A base row's identity: its JSON and label (what the holdout hash reads, and how a row of
// another file is recognised as a holdout row).
std::string row_key(const nlohmann::json& input, const std::string& label) { return input.dump() + '\x1f' + label; }
}  // namespace

bool in_base_holdout(const sdk::Record& row, const std::string& label, double fraction) {
  if (!(fraction > 0)) return false;
  // The first 8 bytes of SHA-256 over the row's JSON and label, as a share of 2^64.
  const std::string digest = sha256_hex(row_key(data::record_to_json(row), label));
  const double share = static_cast<double>(std::stoull(digest.substr(0, 16), nullptr, 16)) / 18446744073709551616.0;
  return share < fraction;
}

BaseData read_base_data(const config::DomainConfig& domain) {
  BaseData b;
  if (domain.retrain_base_data.empty()) return b;
  auto table = data::read_csv(domain.retrain_base_data);
  if (std::find(table.columns.begin(), table.columns.end(), domain.retrain_base_label) == table.columns.end())
    throw std::runtime_error(domain.retrain_base_data.string() + ": no label column \"" + domain.retrain_base_label +
                             "\" (retrain.base_label)");
  auto all = data::to_dataset(table, domain.retrain_base_label);
  for (std::size_t i = 0; i < all.rows.size(); ++i) {
    const auto& label = all.labels[i];
    if (std::find(domain.labels.begin(), domain.labels.end(), label) == domain.labels.end())
      throw std::runtime_error(domain.retrain_base_data.string() + ": label \"" + label + "\" is not a label of the domain");
    if (in_base_holdout(all.rows[i], label, domain.retrain_base_holdout_fraction)) {
      dataset::Sample s;
      s.input = data::record_to_json(all.rows[i]);
      s.label = label;
      b.holdout.push_back(std::move(s));
      continue;
    }
    b.train.rows.push_back(std::move(all.rows[i]));
    b.train.labels.push_back(label);
  }
  b.train.weights.assign(b.train.rows.size(), 1.0);
  b.left_out = data::BaseHoldoutLeftOut{domain.retrain_base_holdout_fraction, b.holdout.size(),
                                        domain.retrain_base_data.filename().string()};
  return b;
}

WithoutHoldout without_base_holdout(const config::DomainConfig& domain, sdk::Dataset data) {
  WithoutHoldout w;
  BaseData base = read_base_data(domain);
  if (!base.left_out) {
    w.data = std::move(data);
    return w;
  }
  std::unordered_set<std::string> holdout;
  for (auto& s : base.holdout) holdout.insert(row_key(s.input, s.label));
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < data.rows.size(); ++i) {
    if (holdout.count(row_key(data::record_to_json(data.rows[i]), data.labels[i]))) {
      ++dropped;
      continue;
    }
    w.data.rows.push_back(std::move(data.rows[i]));
    w.data.labels.push_back(std::move(data.labels[i]));
    if (i < data.weights.size()) w.data.weights.push_back(data.weights[i]);
  }
  w.left_out = base.left_out;
  w.left_out->rows = dropped;
  return w;
}

std::string base_holdout_possibly_seen(const std::filesystem::path& artifact, const config::DomainConfig& domain) {
  std::optional<data::FeatureStats> stats;
  try {
    stats = data::load_feature_stats(artifact);
  } catch (const std::exception& e) {
    return std::string("its training record is unreadable (") + e.what() + ")";
  }
  if (!stats || !stats->base_holdout_left_out)
    return "no record that its training left the base holdout out (a model of unknown lineage)";
  std::string text;
  try {
    text = read_whole_file(artifact);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (stats->artifact_sha256.empty() || !data::feature_stats_match(*stats, text))
    return "its training record does not name this artifact (" + data::feature_stats_path(artifact).filename().string() + ")";
  const double recorded = stats->base_holdout_left_out->fraction;
  if (recorded < domain.retrain_base_holdout_fraction)
    return "its training left out a base holdout of " + std::to_string(recorded) + ", smaller than the " +
           std::to_string(domain.retrain_base_holdout_fraction) + " judged on";
  return "";
}

TrainingSet training_set(sdk::Dataset base, const std::vector<dataset::Sample>& feedback) {
  TrainingSet t;
  t.data = std::move(base);
  t.base_rows = t.data.rows.size();
  t.data.weights.resize(t.base_rows, 1.0);
  for (auto& s : feedback) {
    // A golden case is for evaluations only; an audit sample measures the traffic.
    if (dataset::has_tag(s, "gold") || dataset::has_tag(s, "audit")) continue;
    t.data.rows.push_back(data::record_from_json(s.input));
    t.data.labels.push_back(s.label);
    t.data.weights.push_back(s.weight);
  }
  t.feedback_rows = t.data.rows.size() - t.base_rows;
  return t;
}

TrainingSet training_set(const config::DomainConfig& domain, const std::vector<dataset::Sample>& feedback) {
  BaseData base = read_base_data(domain);
  TrainingSet t = training_set(std::move(base.train), feedback);
  t.left_out = base.left_out;
  return t;
}

data::FeatureStats training_feature_stats(const config::DomainConfig& domain, const std::vector<sdk::Record>& rows) {
  auto stats = data::compute_feature_stats(rows);
  for (auto& field : domain.sensitive) stats.categorical.erase(field);  // "meta.x" is never a column
  return stats;
}

Trained train_model(const plugin::Registry& plugins, const config::ServiceConfig& cfg, const std::string& domain,
                    const sdk::Dataset& data, std::optional<data::BaseHoldoutLeftOut> left_out) {
  const auto& dom = cfg.domains.at(domain);
  if (dom.model.empty()) throw std::runtime_error("domain \"" + domain + "\" has no model");
  const auto& mc = cfg.models.at(dom.model);
  auto mcfg = json::parse(mc.ref.config_json);
  mcfg.erase("artifact");  // train from scratch, not from the current artifact
  auto model = plugins.create_model(mc.ref.plugin, mcfg.dump());
  if (!model->can_train()) throw std::runtime_error("model plugin \"" + mc.ref.plugin + "\" cannot train");
  if (data.rows.empty()) throw std::runtime_error("no rows to train on");
  Trained t;
  const auto start = std::chrono::steady_clock::now();
  auto st = model->train(data, t.result);
  if (!st.ok()) throw std::runtime_error("training failed: " + st.message);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.plugin_version = model->version();
  auto stats = training_feature_stats(dom, data.rows);
  stats.base_holdout_left_out = std::move(left_out);
  t.stats = std::make_shared<const data::FeatureStats>(std::move(stats));
  return t;
}

registry::ModelVersion register_model(const config::ServiceConfig& cfg, const std::string& domain, const Trained& trained,
                                      const Lineage& lineage) {
  const auto& dom = cfg.domains.at(domain);
  const auto& mc = cfg.models.at(dom.model);
  registry::Registry reg(cfg.registry_dir);
  registry::ModelVersion mv;
  mv.domain = domain;
  mv.model = mc.name;
  mv.plugin = mc.ref.plugin;
  mv.plugin_version = trained.plugin_version;
  mv.dataset = lineage.dataset;
  mv.split = lineage.split;
  mv.base_data = lineage.base_data;
  mv.base_rows = lineage.base_rows;
  mv.parent = reg.live(domain).id;
  mv.policy_hash = sha256_hex(read_whole_file(dom.policy));  // as PolicyEngine::policy_hash
  mv.train_metrics = json::parse(trained.result.metrics_json, nullptr, false);
  if (!mv.train_metrics.is_object()) mv.train_metrics = json::object();
  mv.trigger = lineage.trigger;
  mv.trigger_stats = lineage.trigger_stats;
  mv.created_ms = lineage.now_ms;
  auto added = reg.add(mv, trained.result.artifact_json);
  // The training feature statistics (p.ood) travel with the artifact; promotion copies them.
  if (trained.stats) {
    auto stats = *trained.stats;
    stats.artifact_sha256 = added.artifact_sha256;
    reg.add_sidecar(domain, added.id, data::feature_stats_to_json(stats));
  }
  return added;
}

std::string shared_with(const config::ServiceConfig& cfg, const std::string& domain) {
  const std::string& model = cfg.domains.at(domain).model;
  std::string out;
  for (auto& [name, d] : cfg.domains) {
    if (name == domain) continue;
    const bool uses = d.model == model || d.shadow_model == model || d.judge_model == model ||
                      std::find(d.ensemble.begin(), d.ensemble.end(), model) != d.ensemble.end();
    if (uses) out += (out.empty() ? "domain " : ", ") + name;
  }
  const auto& own = cfg.domains.at(domain);
  if (own.shadow_model == model || own.judge_model == model ||
      std::find(own.ensemble.begin(), own.ensemble.end(), model) != own.ensemble.end())
    out += (out.empty() ? "" : ", ") + std::string("its own ensemble, judge or shadow");
  return out;
}

std::filesystem::path live_artifact(const config::ServiceConfig& cfg, const std::string& domain) {
  auto dom = cfg.domains.find(domain);
  if (dom == cfg.domains.end()) throw std::runtime_error("no domain named \"" + domain + "\"");
  if (dom->second.model.empty()) throw std::runtime_error("domain \"" + domain + "\" has no model");
  const auto& mc = cfg.models.at(dom->second.model);
  auto mcfg = json::parse(mc.ref.config_json);
  if (!mcfg.contains("artifact") || !mcfg["artifact"].is_string())
    throw std::runtime_error("model \"" + mc.name + "\" has no `artifact` option to promote into");
  return mcfg["artifact"].get<std::string>();
}

}  // namespace hitl::learning
