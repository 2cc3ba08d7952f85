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

std::vector<sdk::Prediction> Scorer::predict(const std::vector<dataset::Sample>& rows) const {
  std::vector<sdk::Record> records;
  records.reserve(rows.size());
  for (auto& s : rows) records.push_back(data::record_from_json(s.input));
  std::vector<sdk::Prediction> predictions;
  auto st = model_->predict(records, predictions);
  if (!st.ok()) throw std::runtime_error("model " + version() + " failed to predict: " + st.message);
  if (predictions.size() != records.size())
    throw std::runtime_error("model " + version() + " returned a wrong number of predictions");
  return predictions;
}

evaluation::Evaluation Scorer::evaluate(const std::vector<dataset::Sample>& rows,
                                        const std::vector<sdk::Prediction>& predictions,
                                        const std::vector<double>& weights) const {
  std::vector<std::string> truth;
  std::vector<json> inputs;
  for (auto& s : rows) {
    truth.push_back(s.label);
    inputs.push_back(s.input);
  }
  return evaluation::evaluate(predictions, truth, domain_.labels, positive_, inputs,
                              {domain_.report_group, domain_.report_bands}, weights);
}

evaluation::Evaluation Scorer::score(const std::vector<dataset::Sample>& rows) const {
  return evaluate(rows, predict(rows));
}

evaluation::RuleOptions rule_options(const config::DomainConfig& domain) {
  evaluation::RuleOptions o;
  o.confidence = domain.retrain_promote_confidence;
  o.tolerance = domain.retrain_promote_tolerance;
  return o;
}

std::vector<dataset::Sample> audit_rows(const std::vector<dataset::Sample>& all, const std::vector<dataset::Sample>& holdout) {
  std::vector<dataset::Sample> out;
  for (auto& s : all)
    if (dataset::has_tag(s, "audit") && !dataset::has_tag(s, "gold")) out.push_back(s);
  for (auto& s : holdout)
    if (s.outcome == "truth" && !dataset::has_tag(s, "audit") && !dataset::has_tag(s, "gold")) out.push_back(s);
  return out;
}

std::vector<dataset::Sample> reviewed_rows(std::vector<dataset::Sample> holdout) {
  std::erase_if(holdout, [](const dataset::Sample& s) {
    return dataset::has_tag(s, "gold") || dataset::has_tag(s, "audit") || s.outcome == "truth";
  });
  return holdout;
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

namespace {

// One model scored on every set of a request.
struct ModelRun {
  ScoredModel scored;                         // the reviewed slice and the golden set
  std::vector<sdk::Prediction> unbiased;      // the base holdout's rows, then the audit set's
  std::optional<evaluation::Evaluation> base, audit, pooled;
};

std::vector<double> audit_weights(const std::vector<dataset::Sample>& audit) {
  std::vector<double> w;
  w.reserve(audit.size());
  for (auto& s : audit) w.push_back(s.audit_p > 0 ? 1 / s.audit_p : 1.0);
  return w;
}

template <class T>
std::vector<T> part(const std::vector<T>& v, std::size_t from, std::size_t count) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(from + count)};
}

ModelRun run_model(const Scorer& scorer, const CompareRequest& r, const std::vector<dataset::Sample>& unbiased) {
  ModelRun m;
  m.scored.version = scorer.version();
  m.scored.rows = scorer.score(r.rows);
  if (!r.golden.empty()) m.scored.golden = scorer.score(r.golden);
  if (unbiased.empty()) return m;
  m.unbiased = scorer.predict(unbiased);
  const std::size_t nb = r.base_holdout.size(), na = r.audit.size();
  if (nb) m.base = scorer.evaluate(r.base_holdout, part(m.unbiased, 0, nb));
  if (na) m.audit = scorer.evaluate(r.audit, part(m.unbiased, nb, na), audit_weights(r.audit));
  // Pooled, each row once: with one audit rate the audit samples are a uniform draw of the
  // automatic traffic already; the weighted figures are sets.audit's.
  m.pooled = scorer.evaluate(unbiased, m.unbiased);
  return m;
}

// The share of `rows` the policy's flag(p) sends to review given `predictions`; a failing
// policy counts as a review (as it does in ingest).
double review_share(policy::PolicyEngine& policies, const std::string& domain, const std::vector<dataset::Sample>& rows,
                    const std::vector<sdk::Prediction>& predictions) {
  static const json no_meta = json::object();
  std::size_t review = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const policy::PredictionView view{predictions[i].label, predictions[i].confidence, predictions[i].scores, "", ""};
    const policy::FlagInput in{&domain, &rows[i].input, &no_meta, &view};
    if (policies.flag(domain, in).action == policy::Action::review) ++review;
  }
  return rows.empty() ? 0.0 : static_cast<double>(review) / static_cast<double>(rows.size());
}

json set_json(const std::optional<evaluation::Evaluation>& live, const std::optional<evaluation::Evaluation>& cand) {
  json j = {{"rows", live->overall.rows}, {"live", evaluation::to_json(*live)}};
  if (cand) j["candidate"] = evaluation::to_json(*cand);
  return j;
}

json golden_set_json(const CompareRequest& r) {
  std::size_t marked = 0;
  for (auto& g : r.golden) marked += dataset::has_tag(g, "gold") ? 1 : 0;
  json j = {{"file", r.domain->gold_file.empty() ? json() : json(r.domain->gold_file.string())},
            {"cases", r.golden.size()},
            {"marked", marked}};
  if (!r.golden_problems.empty()) j["skipped"] = r.golden_problems;
  if (r.golden_dropped) j["dropped"] = r.golden_dropped;
  return j;
}

// sets {reviewed, base_holdout?, audit?, golden?}, each with both models' figures.
json sets_json(const CompareRequest& r, const ModelRun& live, const ModelRun* cand) {
  json sets = {{"reviewed", set_json(live.scored.rows, cand ? std::optional(cand->scored.rows) : std::nullopt)}};
  sets["reviewed"]["slice"] = "hard: the cases the policy sent to review, where the live model was least sure";
  if (live.base) {
    sets["base_holdout"] = set_json(live.base, cand ? cand->base : std::nullopt);
    sets["base_holdout"]["file"] = r.domain->retrain_base_data.string();
    sets["base_holdout"]["fraction"] = r.domain->retrain_base_holdout_fraction;
  }
  if (live.audit) {
    sets["audit"] = set_json(live.audit, cand ? cand->audit : std::nullopt);
    std::size_t samples = 0;
    for (auto& s : r.audit) samples += dataset::has_tag(s, "audit") ? 1 : 0;
    sets["audit"]["audit_samples"] = samples;
    sets["audit"]["truths"] = r.audit.size() - samples;
  }
  if (live.scored.golden) sets["golden"] = set_json(live.scored.golden, cand ? cand->scored.golden : std::nullopt);
  return sets;
}

// unbiased {rows, live, candidate, paired} and projected_review_share, for a candidate.
void add_unbiased(const CompareRequest& r, const std::vector<dataset::Sample>& unbiased, const ModelRun& live,
                  const ModelRun& cand, json& out) {
  std::vector<bool> live_right, cand_right;
  for (std::size_t i = 0; i < unbiased.size(); ++i) {
    live_right.push_back(live.unbiased[i].label == unbiased[i].label);
    cand_right.push_back(cand.unbiased[i].label == unbiased[i].label);
  }
  out["unbiased"] = {{"rows", unbiased.size()},
                     {"live", evaluation::to_json(*live.pooled)},
                     {"candidate", evaluation::to_json(*cand.pooled)},
                     {"paired", evaluation::to_json(evaluation::paired_test(live_right, cand_right), r.rule)}};
  if (!r.policies) return;
  out["projected_review_share"] = {
      {"rows", unbiased.size()},
      {"method", "flag(p) of the policy in force on each unbiased row, with each model's prediction"},
      {"live", review_share(*r.policies, r.domain->name, unbiased, live.unbiased)},
      {"candidate", review_share(*r.policies, r.domain->name, unbiased, cand.unbiased)}};
}

}  // namespace

Comparison compare(const plugin::Registry& plugins, const CompareRequest& r) {
  if (!r.domain || !r.model) throw std::invalid_argument("compare: domain and model are required");
  if (r.rows.empty()) throw std::runtime_error("no labelled rows to evaluate on");
  Comparison c;
  // Binary domains rank by their second label ("bad" in {"good", "bad"}) unless told otherwise.
  c.positive = !r.positive.empty() ? r.positive : r.domain->labels.back();
  std::vector<dataset::Sample> unbiased = r.base_holdout;
  unbiased.insert(unbiased.end(), r.audit.begin(), r.audit.end());
  const ModelRun live = run_model(Scorer(plugins, *r.model, "", *r.domain, c.positive), r, unbiased);
  c.live = live.scored;
  c.json = {{"dataset", r.rows_from}, {"split", r.split}, {"rows", r.rows.size()}, {"positive", c.positive},
            {"live", {{"version", c.live.version}, {"metrics", evaluation::to_json(c.live.rows)}}}};
  if (!r.golden.empty() || r.golden_dropped || !r.golden_problems.empty()) c.json["golden_set"] = golden_set_json(r);
  if (c.live.golden) c.json["live"]["golden"] = evaluation::to_json(c.live.golden->overall);
  if (r.candidate_artifact.empty()) {
    c.json["sets"] = sets_json(r, live, nullptr);
    return c;
  }
  const ModelRun cand = run_model(Scorer(plugins, *r.model, r.candidate_artifact, *r.domain, c.positive), r, unbiased);
  c.candidate = cand.scored;
  json cj = {{"version", c.candidate->version},
             {"artifact", r.candidate_artifact},
             {"metrics", evaluation::to_json(c.candidate->rows)}};
  if (!r.candidate_id.empty()) cj["id"] = r.candidate_id;
  if (c.candidate->golden) cj["golden"] = evaluation::to_json(c.candidate->golden->overall);
  c.json["candidate"] = std::move(cj);
  c.json["sets"] = sets_json(r, live, &cand);
  if (!unbiased.empty()) add_unbiased(r, unbiased, live, cand, c.json);
  return c;
}

Promotion decide_promotion(policy::PolicyEngine& policies, const std::string& domain, json& eval,
                           const evaluation::RuleOptions& rule) {
  const auto by_default = evaluation::default_promotion(eval, rule);
  eval["default"] = {{"promote", by_default.promote}, {"reason", by_default.reason}};
  Promotion p;
  auto verdict = policies.promote(domain, eval, p.reason, p.failed);
  p.decided_by = verdict ? "policy" : "default";
  p.promote = verdict ? *verdict : by_default.promote;
  if (!verdict) p.reason = by_default.reason;
  eval["promotion"] = {{"decided_by", p.decided_by}, {"promote", p.promote}, {"reason", p.reason}, {"failed", p.failed}};
  return p;
}

}  // namespace hitl::learning
