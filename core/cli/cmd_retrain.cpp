// hitl retrain: one turn of the learning loop for a domain, now, from the shell (the manual
// trigger; a running `hitl serve` runs the same cycle when its policy's retrain(stats) says so,
// or on POST /v1/admin/domains/{d}/retrain). See docs/learning-loop.md.
#include "cli/common.hpp"
#include "learning/cycle.hpp"
#include "policy/policy_engine.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace hitl::cli {
using nlohmann::json;

void add_retrain(CLI::App& root) {
  struct O {
    std::string config, domain, reason;
    bool no_promote = false, as_json = false;
  };
  auto o = std::make_shared<O>();
  auto* cmd = root.add_subcommand(
      "retrain", "Snapshot the feedback, train a candidate on it (and retrain.base_data), evaluate it against the live "
                 "model and promote it if promote(eval) says so; exit status 3 when the live model stays");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain")->required();
  cmd->add_option("--reason", o->reason, "Why (kept in the lineage and the audit trail)");
  cmd->add_flag("--no-promote", o->no_promote, "Train and register the candidate only");
  cmd->add_flag("--json", o->as_json, "Print the result as JSON");
  cmd->callback([o] {
    const std::string command = "hitl retrain";
    learning::CycleResult r;
    try {
      auto cs = open_configured_storage(o->config);
      const auto& cfg = cs->cfg;
      if (!cfg.domains.count(o->domain)) fail(command + ": --domain: no domain named \"" + o->domain + "\"");
      ConfiguredPlugins plugins(cfg);
      auto policies = load_domain_policy(cfg, o->domain);
      sdk::Storage& storage = *cs->storage;
      learning::CycleContext ctx{cfg, plugins.registry, storage, *policies,
                                 [&storage](sdk::WriteBatch& b) { return storage.commit(b); }, cli_actor()};
      learning::CycleRequest req;
      req.domain = o->domain;
      req.trigger = cli_actor();
      req.reason = o->reason;
      req.promote = !o->no_promote && cfg.domains.at(o->domain).retrain_promote;
      r = learning::run_cycle(ctx, req);
    } catch (const CLI::RuntimeError&) {
      throw;
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
    if (o->as_json) {
      std::cout << learning::to_json(r).dump(2) << "\n";
    } else {
      std::cout << "dataset " << r.dataset_id << (r.dataset_created ? "" : " (unchanged)") << ": " << r.samples
                << " samples, " << r.train_rows << " to train on, " << r.holdout_rows << " held out\n";
      std::printf("trained %s (%s) on %zu rows (%zu base) in %.2f s\n", r.candidate_id.c_str(),
                  r.candidate_version.c_str(), r.train_rows + r.base_rows, r.base_rows, r.train_seconds);
      if (r.evaluated) {
        auto auc = [&](const char* who) {
          const json& m = r.eval[who]["metrics"];
          return m.contains("auc") && m["auc"].is_number() ? std::to_string(m["auc"].get<double>()) : std::string("-");
        };
        std::cout << "holdout auc: live " << auc("live") << ", candidate " << auc("candidate") << "\n";
      }
      std::cout << (r.promoted ? "promoted " : "not promoted ") << r.candidate_id
                << (r.decided_by.empty() ? "" : " (decided by the " + r.decided_by + ")")
                << (r.decision.empty() ? "" : ": " + r.decision) << "\n";
    }
    if (!o->no_promote && !r.promoted) throw CLI::RuntimeError(3);
  });
}

}  // namespace hitl::cli
