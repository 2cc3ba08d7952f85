// hitl model evaluate: the live model and a candidate artifact scored on the same labelled rows
// (a dataset version's holdout by default): accuracy, AUC, log loss, calibration error, and the
// same per group of the domain's report.group attribute.
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "data/records.hpp"
#include "dataset/dataset.hpp"
#include "evaluation/evaluation.hpp"
#include "policy/policy_engine.hpp"
#include "registry/registry.hpp"
#include "service/gold.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace hitl::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct EvalArgs {
  std::string config, domain, dataset, split = "holdout", candidate, candidate_id, positive;
  double holdout = 0.2;
  bool as_json = false, promote = false;
};


fs::path domain_artifact(const config::ServiceConfig& cfg, const std::string& command, const std::string& domain);
void audit_swap(const config::ServiceConfig& cfg, const std::string& config_file, const std::string& action,
                const std::string& domain, const registry::Live& live, const std::filesystem::path& artifact);

// The domain's model plugin loaded with `artifact` (its configured one when empty), to score
// labelled rows with. Built once per model, whatever the number of row sets.
class Scorer {
 public:
  Scorer(const ConfiguredPlugins& plugins, const config::ModelConfig& mc, const std::string& artifact,
         const config::DomainConfig& dom, std::string positive)
      : dom_(dom), positive_(std::move(positive)) {
    json cfg = json::parse(mc.ref.config_json);
    if (!artifact.empty()) cfg["artifact"] = fs::absolute(artifact).string();
    model_ = plugins.registry.create_model(mc.ref.plugin, cfg.dump());
  }
  std::string version() const { return model_->version(); }
  evaluation::Evaluation score(const std::vector<dataset::Sample>& rows) const {
    std::vector<sdk::Record> records;
    std::vector<std::string> truth;
    std::vector<json> inputs;
    for (auto& s : rows) {
      records.push_back(data::record_from_json(s.input));
      truth.push_back(s.label);
      inputs.push_back(s.input);
    }
    std::vector<sdk::Prediction> predictions;
    auto st = model_->predict(records, predictions);
    if (!st.ok()) throw std::runtime_error("model " + version() + " failed to predict: " + st.message);
    if (predictions.size() != records.size()) throw std::runtime_error("model " + version() + " returned a wrong number of predictions");
    return evaluation::evaluate(predictions, truth, dom_.labels, positive_, inputs, {dom_.report_group, dom_.report_bands});
  }

 private:
  const config::DomainConfig& dom_;
  std::string positive_;
  std::shared_ptr<sdk::Model> model_;
};

std::string fmt(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

void evaluate(const EvalArgs& a) {
  const std::string command = "hitl model evaluate";
  try {
    auto cfg = load(a.config);
    auto dom = cfg.domains.find(a.domain);
    if (dom == cfg.domains.end()) fail(command + ": --domain: no domain named \"" + a.domain + "\"");
    if (dom->second.model.empty()) fail(command + ": domain \"" + a.domain + "\" has no model");
    const auto& mc = cfg.models.at(dom->second.model);
    dataset::Store store(cfg.datasets_dir);
    std::optional<dataset::Version> v;
    try {
      v = store.require(a.dataset, a.domain);
    } catch (const std::exception& e) {
      fail(command + ": --dataset: " + e.what());
    }
    auto rows = dataset::Store::split(store.read(*v), dataset::parse_split(a.split), a.holdout);
    if (rows.empty()) fail(command + ": " + v->id + " has no " + a.split + " rows");
    // Binary domains rank by their second label ("bad" in {"good", "bad"}) unless told otherwise.
    const std::string positive = !a.positive.empty() ? a.positive : dom->second.labels.back();
    // The domain's golden set (its gold_file: hard cases with known answers) is scored too.
    std::vector<dataset::Sample> golden;
    if (!dom->second.gold_file.empty())
      for (auto& c : service::load_gold_set(dom->second.gold_file, dom->second.labels).cases) {
        dataset::Sample s;
        s.input = c.input;
        s.label = c.label;
        golden.push_back(std::move(s));
      }
    std::string candidate = a.candidate;
    registry::Registry reg(cfg.registry_dir);
    if (!a.candidate_id.empty()) {
      if (!reg.find(a.domain, a.candidate_id))
        fail(command + ": --candidate-id: no model version \"" + a.candidate_id + "\" in domain \"" + a.domain + "\"");
      candidate = reg.artifact_path(a.domain, a.candidate_id).string();
    }
    if (a.promote && a.candidate_id.empty()) fail(command + ": --promote needs --candidate-id (a registered version)");
    ConfiguredPlugins plugins(cfg);
    const Scorer live_model(plugins, mc, "", dom->second, positive);
    const std::string live_version = live_model.version();
    auto live = live_model.score(rows);
    json out = {{"dataset", v->id}, {"split", a.split}, {"rows", rows.size()}, {"positive", positive},
                {"live", {{"version", live_version}, {"metrics", evaluation::to_json(live)}}}};
    std::optional<evaluation::Evaluation> cand, live_gold, cand_gold;
    if (!golden.empty()) {
      live_gold = live_model.score(golden);
      out["golden_set"] = {{"file", dom->second.gold_file.string()}, {"cases", golden.size()}};
      out["live"]["golden"] = evaluation::to_json(live_gold->overall);
    }
    std::string cand_version;
    if (!candidate.empty()) {
      const Scorer cand_model(plugins, mc, candidate, dom->second, positive);
      cand_version = cand_model.version();
      cand = cand_model.score(rows);
      out["candidate"] = {{"version", cand_version}, {"artifact", candidate}, {"metrics", evaluation::to_json(*cand)}};
      if (!a.candidate_id.empty()) out["candidate"]["id"] = a.candidate_id;
      if (!golden.empty()) {
        cand_gold = cand_model.score(golden);
        out["candidate"]["golden"] = evaluation::to_json(cand_gold->overall);
      }
    }
    // promote(eval) decides (the default rule without one); a failing hook keeps the live model.
    bool promote = false;
    if (a.promote) {
      auto policies = load_domain_policy(cfg, a.domain);
      std::string reason;
      bool failed = false;
      auto verdict = policies->promote(a.domain, out, reason, failed);
      const char* by = verdict ? "policy" : "default";
      promote = verdict ? *verdict : evaluation::default_promotion(out, reason);
      out["promotion"] = {{"decided_by", by}, {"promote", promote}, {"reason", reason}, {"failed", failed}};
      if (promote) {
        const fs::path artifact = domain_artifact(cfg, command, a.domain);
        auto live_now = reg.promote(a.domain, a.candidate_id, artifact, now_ms(), cli_actor(),
                                    std::string("evaluate: ") + (reason.empty() ? by : reason));
        audit_swap(cfg, a.config, "model.promoted", a.domain, live_now, artifact);
        out["promotion"]["artifact_path"] = artifact.string();
      }
    }
    if (a.as_json) {
      std::cout << out.dump(2) << "\n";
      if (a.promote && !promote) throw CLI::RuntimeError(3);
      return;
    }
    std::cout << "evaluated on " << rows.size() << " rows of " << v->id << " (" << a.split << " split), positive label "
              << positive << "\n";
    std::printf("%-12s %-28s %9s %9s %9s %9s\n", "model", "version", "accuracy", "auc", "log_loss", "ece");
    auto line = [](const char* who, const std::string& ver, const evaluation::Metrics& m) {
      std::printf("%-12s %-28s %9s %9s %9s %9s\n", who, ver.c_str(), fmt(m.accuracy).c_str(), fmt(m.auc).c_str(),
                  fmt(m.log_loss).c_str(), fmt(m.calibration_error).c_str());
    };
    line("live", live_version, live.overall);
    if (cand) line("candidate", cand_version, cand->overall);
    if (live_gold) {
      std::cout << "golden set (" << golden.size() << " cases of " << dom->second.gold_file.filename().string() << "):\n";
      line("  live", live_version, live_gold->overall);
      if (cand_gold) line("  candidate", cand_version, cand_gold->overall);
    }
    if (!live.group_field.empty()) {
      std::cout << "by " << live.group_field << ":\n";
      for (std::size_t i = 0; i < live.groups.size(); ++i) {
        line(("  " + live.groups[i].group).c_str(), "live", live.groups[i].metrics);
        if (cand) line(("  " + cand->groups[i].group).c_str(), "candidate", cand->groups[i].metrics);
      }
    }
    if (a.promote) {
      const json& p = out["promotion"];
      std::cout << (promote ? "promoted " : "not promoted ") << a.candidate_id << " (decided by the "
                << p["decided_by"].get<std::string>() << (p["failed"].get<bool>() ? ", which failed" : "") << ")"
                << (p["reason"].get<std::string>().empty() ? "" : ": " + p["reason"].get<std::string>()) << "\n";
      if (!promote) throw CLI::RuntimeError(3);
    }
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(command + ": " + e.what());
  }
}

struct RegistryArgs {
  std::string config, domain, id, reason;
};

// Records a promotion or rollback in the service's hash-chained audit trail.
void audit_swap(const config::ServiceConfig& cfg, const std::string& config_file, const std::string& action,
                const std::string& domain, const registry::Live& live, const fs::path& artifact) {
  auto cs = open_configured_storage(config_file);
  sdk::WriteBatch batch;
  sdk::AuditRecord a;
  a.ts_ms = live.since_ms;
  a.actor = live.by;
  a.action = action;
  a.domain = domain;
  a.entity = "model";
  a.entity_id = live.id;
  a.detail_json = json{{"previous", live.previous}, {"reason", live.reason}, {"artifact_path", artifact.string()},
                       {"registry", cfg.registry_dir.string()}}
                      .dump();
  batch.audit.push_back(std::move(a));
  if (auto st = cs->storage->commit(batch); !st.ok()) throw std::runtime_error("cannot audit the " + action + ": " + st.message);
}

// The file the domain's model loads, which promotion replaces.
fs::path domain_artifact(const config::ServiceConfig& cfg, const std::string& command, const std::string& domain) {
  auto dom = cfg.domains.find(domain);
  if (dom == cfg.domains.end()) fail(command + ": --domain: no domain named \"" + domain + "\"");
  if (dom->second.model.empty()) fail(command + ": domain \"" + domain + "\" has no model");
  const auto& mc = cfg.models.at(dom->second.model);
  auto mcfg = json::parse(mc.ref.config_json);
  if (!mcfg.contains("artifact") || !mcfg["artifact"].is_string())
    fail(command + ": model \"" + mc.name + "\" has no `artifact` option to promote into");
  return mcfg["artifact"].get<std::string>();
}

void list_models(const RegistryArgs& a) {
  try {
    auto cfg = load(a.config);
    registry::Registry reg(cfg.registry_dir);
    const auto live = reg.live(a.domain);
    std::printf("%-22s %-6s %-20s %-24s %-22s %s\n", "id", "live", "dataset", "parent", "plugin version", "trigger");
    for (auto& v : reg.list(a.domain))
      std::printf("%-22s %-6s %-20s %-24s %-22s %s\n", v.id.c_str(), v.id == live.id ? "*" : "",
                  (v.dataset + "/" + v.split).c_str(), v.parent.empty() ? "(configured)" : v.parent.c_str(),
                  v.plugin_version.c_str(), v.trigger.c_str());
    if (live.id.empty()) std::cout << "live: the configured artifact (nothing promoted)\n";
  } catch (const std::exception& e) {
    fail(std::string("hitl model list: ") + e.what());
  }
}

void swap(const RegistryArgs& a, bool rollback) {
  const std::string command = rollback ? "hitl model rollback" : "hitl model promote";
  try {
    const auto cfg = load(a.config);
    const fs::path artifact = domain_artifact(cfg, command, a.domain);
    registry::Registry reg(cfg.registry_dir);
    auto live = rollback ? reg.rollback(a.domain, artifact, now_ms(), cli_actor(), a.reason)
                         : reg.promote(a.domain, a.id, artifact, now_ms(), cli_actor(), a.reason);
    audit_swap(cfg, a.config, rollback ? "model.rolled_back" : "model.promoted", a.domain, live, artifact);
    std::cout << "live model of " << a.domain << ": " << live.id << " (was "
              << (live.previous.empty() ? "the configured artifact" : live.previous) << "), written to "
              << artifact.string() << "; a running hitl serve loads it within about 2 s\n";
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(command + ": " + e.what());
  }
}

}  // namespace

void add_model(CLI::App& root) {
  auto* cmd = root.add_subcommand("model", "Evaluate, list, promote and roll back model versions");
  cmd->require_subcommand(1);
  auto a = std::make_shared<EvalArgs>();
  auto* ev = cmd->add_subcommand("evaluate", "Score the live model (and a candidate artifact) on a dataset version");
  ev->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  ev->add_option("--domain", a->domain, "Domain")->required();
  ev->add_option("--dataset", a->dataset, "Dataset version id (hitl dataset list)")->required();
  ev->add_option("--split", a->split, "holdout (newest rows), train or all")
      ->check(CLI::IsMember({"all", "train", "holdout"}))
      ->capture_default_str();
  ev->add_option("--holdout-fraction", a->holdout, "Share of the newest rows in the holdout")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  auto* cand_file = ev->add_option("--candidate", a->candidate, "A candidate artifact for the domain's model plugin")
                        ->check(CLI::ExistingFile);
  ev->add_option("--candidate-id", a->candidate_id, "A registered version as the candidate (hitl model list)")->excludes(cand_file);
  ev->add_flag("--promote", a->promote,
               "Let the policy's promote(eval) (or the default rule) decide, and promote the candidate if it says so; "
               "exit status 3 when it is refused");
  ev->add_option("--positive", a->positive, "The label AUC ranks by (default: the domain's last label)");
  ev->add_flag("--json", a->as_json, "Print JSON");
  ev->callback([a] { evaluate(*a); });

  auto r = std::make_shared<RegistryArgs>();
  auto* ls = cmd->add_subcommand("list", "The domain's registered model versions, with their lineage");
  ls->add_option("--config", r->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  ls->add_option("--domain", r->domain, "Domain")->required();
  ls->callback([r] { list_models(*r); });
  auto* pr = cmd->add_subcommand("promote", "Make a registered version the domain's live model (atomic file swap, audited)");
  pr->add_option("--config", r->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  pr->add_option("--domain", r->domain, "Domain")->required();
  pr->add_option("--id", r->id, "Version id (hitl model list)")->required();
  pr->add_option("--reason", r->reason, "Why (kept in the history and the audit trail)");
  pr->callback([r] { swap(*r, false); });
  auto* rb = cmd->add_subcommand("rollback", "Make the version live before the current one live again");
  rb->add_option("--config", r->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  rb->add_option("--domain", r->domain, "Domain")->required();
  rb->add_option("--reason", r->reason, "Why");
  rb->callback([r] { swap(*r, true); });
}

}  // namespace hitl::cli
