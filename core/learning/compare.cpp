#include "learning/compare.hpp"

#include "data/records.hpp"
#include "dataset/marked_gold.hpp"
#include "registry/registry.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"
#include "dataset/gold.hpp"

#include <filesystem>
#include <set>
#include <stdexcept>

namespace hitl::learning {
namespace fs = std::filesystem;
using nlohmann::json;

Scorer::Scorer(const plugin::Registry& plugins, const config::ModelConfig& model, const std::string& artifact,
               const config::DomainConfig& domain, std::string positive)
    : domain_(domain), positive_(std::move(positive)) {
  json cfg = json::parse(model.ref.config_json);
  if (!artifact.empty()) cfg["artifact"] = fs::absolute(artifact).string();
  model_ = plugins.create_model(model.ref.plugin, cfg.dump());
}

std::string Scorer::version() const { return model_->version(); }

registry::ArtifactVersion artifact_versions(const plugin::Registry& plugins, const config::ServiceConfig& cfg,
                                            const std::string& domain) {
  return [&plugins, &cfg, domain](const fs::path& artifact) -> std::string {
    try {
      const auto& dom = cfg.domains.at(domain);
      return Scorer(plugins, cfg.models.at(dom.model), artifact.string(), dom, "").version();
    } catch (const std::exception&) {
      return "";  // a version the registry cannot name is left empty, as before
    }
  };
}

evaluation::Evaluation Scorer::score(const std::vector<dataset::Sample>& rows) const {
  std::vector<sdk::Record> records;
  std::vector<std::string> truth;
  std::vector<json> inputs;
  records.reserve(rows.size());
  for (auto& s : rows) {
    records.push_back(data::record_from_json(s.input));
    truth.push_back(s.label);
    inputs.push_back(s.input);
  }
  std::vector<sdk::Prediction> predictions;
  auto st = model_->predict(records, predictions);
  if (!st.ok()) throw std::runtime_error("model " + version() + " failed to predict: " + st.message);
  if (predictions.size() != records.size())
    throw std::runtime_error("model " + version() + " returned a wrong number of predictions");
  return evaluation::evaluate(predictions, truth, domain_.labels, positive_, inputs,
                              {domain_.report_group, domain_.report_bands});
}

std::vector<dataset::Sample> golden_samples(const config::ServiceConfig& cfg, const std::string& domain,
                                            std::vector<std::string>* problems) {
  std::vector<dataset::Sample> out;
  const auto& dom = cfg.domains.at(domain);
  if (!dom.gold_file.empty())
    for (auto& c : service::load_gold_set(dom.gold_file, dom.labels).cases) {
      dataset::Sample s;
      s.input = c.input;
      s.label = c.label;
      out.push_back(std::move(s));
    }
  for (auto& c : dataset::MarkedGold(cfg.datasets_dir).read(domain, problems)) {
    dataset::Sample s;
    s.decision_id = c.decision_id;
    s.input = c.input;
    s.label = c.label;
    s.tags = {"gold"};
    out.push_back(std::move(s));
  }
  return out;
}

std::size_t drop_golden_seen_by_live(const config::ServiceConfig& cfg, const std::string& domain,
                                     std::vector<dataset::Sample>& golden) {
  registry::Registry reg(cfg.registry_dir);
  const auto live = reg.live(domain);
  if (live.id.empty()) return 0;
  const auto version = reg.find(domain, live.id);
  if (!version || version->dataset.empty()) return 0;  // m0, or trained on a file
  const auto trained_on = dataset::Store(cfg.datasets_dir).find(version->dataset);
  if (!trained_on) return 0;
  std::set<std::string> seen;
  for (auto& s : dataset::Store(cfg.datasets_dir).read(*trained_on)) seen.insert(s.decision_id);
  return std::erase_if(golden, [&](const dataset::Sample& g) {
    return dataset::has_tag(g, "gold") && !g.decision_id.empty() && seen.count(g.decision_id);
  });
}

Comparison compare(const plugin::Registry& plugins, const CompareRequest& r) {
  if (!r.domain || !r.model) throw std::invalid_argument("compare: domain and model are required");
  if (r.rows.empty()) throw std::runtime_error("no labelled rows to evaluate on");
  Comparison c;
  // Binary domains rank by their second label ("bad" in {"good", "bad"}) unless told otherwise.
  c.positive = !r.positive.empty() ? r.positive : r.domain->labels.back();
  auto score = [&](const std::string& artifact) {
    const Scorer scorer(plugins, *r.model, artifact, *r.domain, c.positive);
    ScoredModel m;
    m.version = scorer.version();
    m.rows = scorer.score(r.rows);
    if (!r.golden.empty()) m.golden = scorer.score(r.golden);
    return m;
  };
  c.live = score("");
  c.json = {{"dataset", r.rows_from}, {"split", r.split}, {"rows", r.rows.size()}, {"positive", c.positive},
            {"live", {{"version", c.live.version}, {"metrics", evaluation::to_json(c.live.rows)}}}};
  if (!r.golden.empty() || r.golden_dropped || !r.golden_problems.empty()) {
    std::size_t marked = 0;
    for (auto& g : r.golden) marked += dataset::has_tag(g, "gold") ? 1 : 0;
    c.json["golden_set"] = {{"file", r.domain->gold_file.empty() ? json() : json(r.domain->gold_file.string())},
                            {"cases", r.golden.size()},
                            {"marked", marked}};
    if (!r.golden_problems.empty()) c.json["golden_set"]["skipped"] = r.golden_problems;
    if (r.golden_dropped) c.json["golden_set"]["dropped"] = r.golden_dropped;
  }
  if (c.live.golden) c.json["live"]["golden"] = evaluation::to_json(c.live.golden->overall);
  if (!r.candidate_artifact.empty()) {
    c.candidate = score(r.candidate_artifact);
    json cand = {{"version", c.candidate->version},
                 {"artifact", r.candidate_artifact},
                 {"metrics", evaluation::to_json(c.candidate->rows)}};
    if (!r.candidate_id.empty()) cand["id"] = r.candidate_id;
    if (c.candidate->golden) cand["golden"] = evaluation::to_json(c.candidate->golden->overall);
    c.json["candidate"] = std::move(cand);
  }
  return c;
}

Promotion decide_promotion(policy::PolicyEngine& policies, const std::string& domain, json& eval) {
  Promotion p;
  auto verdict = policies.promote(domain, eval, p.reason, p.failed);
  p.decided_by = verdict ? "policy" : "default";
  p.promote = verdict ? *verdict : evaluation::default_promotion(eval, p.reason);
  eval["promotion"] = {{"decided_by", p.decided_by}, {"promote", p.promote}, {"reason", p.reason}, {"failed", p.failed}};
  return p;
}

}  // namespace hitl::learning
