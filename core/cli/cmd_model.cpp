// hitl model evaluate: the live model and a candidate artifact scored on the same labelled rows
// (a dataset version's holdout by default): accuracy, AUC, log loss, calibration error, and the
// same per group of the domain's report.group attribute.
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "data/records.hpp"
#include "dataset/dataset.hpp"
#include "evaluation/evaluation.hpp"
#include "learning/compare.hpp"
#include "learning/cycle.hpp"
#include "learning/training.hpp"
#include "policy/policy_engine.hpp"
#include "registry/registry.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace hitl::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct EvalArgs {
  std::string config, domain, dataset, split = "holdout", candidate, candidate_id, positive, data, label;
  double holdout = -1;  // < 0: the domain's retrain.holdout_fraction
  bool as_json = false, promote = false;
};


void audit_swap(const config::ServiceConfig& cfg, const std::string& config_file, const std::string& action,
                const std::string& domain, const registry::Live& live, const std::filesystem::path& artifact);

std::string fmt(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

// The labelled rows of a CSV file as samples (input and label), for --data: the same reading
// as `hitl train --data` (data::to_dataset: rows without a label are skipped).
std::vector<dataset::Sample> csv_rows(const std::string& file, const std::string& label, const std::string& command) {
  auto table = data::read_csv(file);
  if (std::find(table.columns.begin(), table.columns.end(), label) == table.columns.end())
    fail(command + ": --label: no column \"" + label + "\" in " + file);
  const auto labelled = data::to_dataset(table, label);
  std::vector<dataset::Sample> out(labelled.rows.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].input = data::record_to_json(labelled.rows[i]);
    out[i].label = labelled.labels[i];
  }
  return out;
}

// The rows both models are scored on: a CSV file's labelled rows (--data) or a split of a
// dataset version (--dataset).
void select_rows(const EvalArgs& a, const config::ServiceConfig& cfg, const config::DomainConfig& dom,
                 const std::string& command, learning::CompareRequest& req) {
  if (!a.data.empty()) {
    if (a.label.empty()) fail(command + ": --label is required with --data");
    req.rows = csv_rows(a.data, a.label, command);
    req.rows_from = a.data;
    req.split = "all";
    return;
  }
  if (a.dataset.empty()) fail(command + ": give --dataset ID (a version's rows) or --data FILE.csv --label COLUMN");
  dataset::Store store(cfg.datasets_dir);
  std::optional<dataset::Version> v;
  try {
    v = store.require(a.dataset, a.domain);
  } catch (const std::exception& e) {
    fail(command + ": --dataset: " + e.what());
  }
  // The same cut as the retraining (retrain.holdout_fraction) unless told otherwise; golden
  // cases are the golden set's, never rows of a split.
  const double fraction = a.holdout >= 0 ? a.holdout : dom.retrain_holdout_fraction;
  const auto all = store.read(*v);
  req.rows = dataset::Store::split(all, dataset::parse_split(a.split), fraction);
  req.audit = learning::audit_rows(all, dataset::Store::split(all, dataset::Split::holdout, fraction));
  std::erase_if(req.rows, [](const dataset::Sample& s) { return dataset::has_tag(s, "gold"); });
  req.rows_from = v->id;
  req.split = a.split;
}

// The candidate: an artifact file (--candidate) or a registered version (--candidate-id).
void select_candidate(const EvalArgs& a, const registry::Registry& reg, const std::string& command,
                      learning::CompareRequest& req) {
  req.candidate_artifact = a.candidate;
  if (a.candidate_id.empty()) return;
  if (!reg.find(a.domain, a.candidate_id))
    fail(command + ": --candidate-id: no model version \"" + a.candidate_id + "\" in domain \"" + a.domain + "\"");
  req.candidate_artifact = reg.artifact_path(a.domain, a.candidate_id).string();
  req.candidate_id = a.candidate_id;
}

// --promote: promote(eval) decides (the default rule without one); a failing hook keeps the live
// model. A promotion is audited and its artifact path added to `out`.
learning::Promotion promote_if_decided(const EvalArgs& a, const config::ServiceConfig& cfg, policy::PolicyEngine& policies,
                                       registry::Registry& reg, json& out) {
  learning::Promotion decision =
      learning::decide_promotion(policies, a.domain, out, learning::rule_options(cfg.domains.at(a.domain)));
  if (decision.promote) {
    const fs::path artifact = learning::live_artifact(cfg, a.domain);
    auto live_now = reg.promote(a.domain, a.candidate_id, artifact, now_ms(), cli_actor(),
                                std::string("evaluate: ") + (decision.reason.empty() ? decision.decided_by : decision.reason));
    audit_swap(cfg, a.config, "model.promoted", a.domain, live_now, artifact);
    out["promotion"]["artifact_path"] = artifact.string();
  }
  return decision;
}

// The unbiased sets' accuracy with its 95% interval, the paired test and the projected review
// share (docs/learning-loop.md, "Evaluating a candidate").
void print_unbiased(const json& e) {
  if (!e.contains("sets")) return;
  auto acc = [](const json& m) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f [%.4f, %.4f]", m["accuracy"].get<double>(), m["accuracy_ci95"][0].get<double>(),
                  m["accuracy_ci95"][1].get<double>());
    return std::string(buf);
  };
  for (const char* set : {"base_holdout", "audit"}) {
    if (!e["sets"].contains(set)) continue;
    const json& s = e["sets"][set];
    std::cout << set << " (" << s["rows"] << " rows): live accuracy " << acc(s["live"]);
    if (s.contains("candidate")) std::cout << ", candidate " << acc(s["candidate"]);
    std::cout << "\n";
    // A model that may have trained on the base holdout would be judged on what it memorised.
    const json seen = s.value("possibly_seen_by", json::object());
    for (const auto& [who, why] : seen.items())
      std::cout << "  not counted in the paired test: the " << who << " model may have trained on these rows ("
                << why.get<std::string>() << ")\n";
  }
  if (e.contains("unbiased")) {
    const json& p = e["unbiased"]["paired"];
    std::printf("paired on %s unbiased rows: candidate alone right on %s, live alone on %s, McNemar mid-p %.4f\n",
                p["rows"].dump().c_str(), p["candidate_only_right"].dump().c_str(), p["live_only_right"].dump().c_str(),
                p["p_value"].get<double>());
  }
  if (e.contains("projected_review_share"))
    std::printf("projected review share: live %.3f, candidate %.3f\n", e["projected_review_share"]["live"].get<double>(),
                e["projected_review_share"]["candidate"].get<double>());
}

// Each signal's share of the model's errors caught when the most doubtful 15% are reviewed.
void print_capture(const char* who, const evaluation::Evaluation& e) {
  std::printf("%-12s errors caught reviewing the most doubtful 15%%:", who);
  for (const auto& c : e.capture)
    for (const auto& p : c.points)
      if (std::abs(p.review_rate - 0.15) < 1e-9) std::printf(" %s %s", report::name(c.signal), fmt(p.capture).c_str());
  std::printf("\n");
}

// The comparison as a table: overall, on the golden set, and per group of report.group.
void print_comparison(const learning::CompareRequest& req, const learning::Comparison& c,
                      const config::DomainConfig& dom) {
  std::cout << "evaluated on " << req.rows.size() << " rows of " << req.rows_from << " (" << req.split
            << " split), positive label " << c.positive << "\n";
  std::printf("%-12s %-28s %9s %9s %9s %9s\n", "model", "version", "accuracy", "auc", "log_loss", "ece");
  auto line = [](const char* who, const std::string& ver, const evaluation::Metrics& m) {
    std::printf("%-12s %-28s %9s %9s %9s %9s\n", who, ver.c_str(), fmt(m.accuracy).c_str(), fmt(m.auc).c_str(),
                fmt(m.log_loss).c_str(), fmt(m.calibration_error).c_str());
  };
  line("live", c.live.version, c.live.rows.overall);
  if (c.candidate) line("candidate", c.candidate->version, c.candidate->rows.overall);
  print_capture("live", c.live.rows);
  if (c.candidate) print_capture("candidate", c.candidate->rows);
  if (c.live.golden) {
    std::cout << "golden set (" << req.golden.size() << " cases: " << c.json.at("golden_set").at("marked").get<std::size_t>()
              << " marked by reviewers, the rest from "
              << (dom.gold_file.empty() ? std::string("no gold_file") : dom.gold_file.filename().string())
              << "):\n";
    line("  live", c.live.version, c.live.golden->overall);
    if (c.candidate) line("  candidate", c.candidate->version, c.candidate->golden->overall);
  }
  print_unbiased(c.json);
  const auto& live = c.live.rows;
  if (!live.group_field.empty()) {
    std::cout << "by " << live.group_field << ":\n";
    for (std::size_t i = 0; i < live.groups.size(); ++i) {
      line(("  " + live.groups[i].group).c_str(), "live", live.groups[i].metrics);
      if (c.candidate) line(("  " + c.candidate->rows.groups[i].group).c_str(), "candidate", c.candidate->rows.groups[i].metrics);
    }
  }
}

void evaluate(const EvalArgs& a) {
  const std::string command = "hitl model evaluate";
  try {
    auto cfg = load(a.config);
    const auto shared = storage_if_shared(a.config);  // the registry is the database's then
    auto dom = cfg.domains.find(a.domain);
    if (dom == cfg.domains.end()) fail(command + ": --domain: no domain named \"" + a.domain + "\"");
    if (dom->second.model.empty()) fail(command + ": domain \"" + a.domain + "\" has no model");
    learning::CompareRequest req;
    req.domain = &dom->second;
    req.model = &cfg.models.at(dom->second.model);
    req.positive = a.positive;
    select_rows(a, cfg, dom->second, command, req);
    if (req.rows.empty()) fail(command + ": " + req.rows_from + " has no " + req.split + " rows");
    // The domain's golden set (its gold_file: hard cases with known answers) is scored too.
    req.golden = learning::golden_samples(cfg, a.domain, &req.golden_problems);
    for (auto& problem : req.golden_problems) std::cerr << "warning: skipped " << problem << "\n";
    req.golden_dropped = learning::drop_golden_seen_by_live(cfg, a.domain, req.golden);
    req.base_holdout = learning::read_base_data(dom->second).holdout;  // the rows no retraining learns from
    auto policies = load_domain_policy(cfg, a.domain);
    req.policies = policies.get();
    req.rule = learning::rule_options(dom->second);
    ConfiguredPlugins plugins(cfg);
    registry::Registry reg(cfg.registry_dir, learning::artifact_versions(plugins.registry, cfg, a.domain));
    select_candidate(a, reg, command, req);
    if (a.promote && a.candidate_id.empty()) fail(command + ": --promote needs --candidate-id (a registered version)");
    auto c = learning::compare(plugins.registry, req);
    const learning::Promotion decision = a.promote ? promote_if_decided(a, cfg, *policies, reg, c.json) : learning::Promotion{};
    if (a.as_json) {
      std::cout << c.json.dump(2) << "\n";
    } else {
      print_comparison(req, c, dom->second);
      if (a.promote)
        std::cout << (decision.promote ? "promoted " : "not promoted ") << a.candidate_id << " (decided by the "
                  << decision.decided_by << (decision.failed ? ", which failed" : "") << ")"
                  << (decision.reason.empty() ? "" : ": " + decision.reason) << "\n";
    }
    if (a.promote && !decision.promote) throw CLI::RuntimeError(3);
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
  batch.audit.push_back(learning::swap_audit(action, domain, live, artifact, cfg.registry_dir));
  if (auto st = cs->storage->commit(batch); !st.ok()) throw std::runtime_error("cannot audit the " + action + ": " + st.message);
}

void list_models(const RegistryArgs& a) {
  try {
    auto cfg = load(a.config);
    const auto shared = storage_if_shared(a.config);  // the registry is the database's then
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
    const auto shared = storage_if_shared(a.config);  // the registry is the database's then
    const fs::path artifact = learning::live_artifact(cfg, a.domain);
    if (auto others = learning::shared_with(cfg, a.domain); !others.empty())
      std::cerr << "warning: model " << cfg.domains.at(a.domain).model << " is also used by " << others
                << ": their scores change too (the retrain worker never promotes over a shared model)\n";
    ConfiguredPlugins plugins(cfg);
    registry::Registry reg(cfg.registry_dir, learning::artifact_versions(plugins.registry, cfg, a.domain));
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
  auto* ds = ev->add_option("--dataset", a->dataset, "Dataset version id (hitl dataset list): evaluate on its rows");
  ev->add_option("--data", a->data, "Or evaluate on a labelled CSV file (with --label)")->check(CLI::ExistingFile)->excludes(ds);
  ev->add_option("--label", a->label, "The label column of --data");
  ev->add_option("--split", a->split, "holdout (newest rows), train or all")
      ->check(CLI::IsMember({"all", "train", "holdout"}))
      ->capture_default_str();
  ev->add_option("--holdout-fraction", a->holdout,
                 "Share of the newest rows in the holdout (default: the domain's retrain.holdout_fraction, 0.2)")
      ->check(CLI::Range(0.0, 1.0));
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
