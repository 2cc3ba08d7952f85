// hitl report | erase: the operating metrics of a domain, and payload erasure on request.
#include "cli/common.hpp"
#include "dataset/dataset.hpp"
#include "common/clock.hpp"
#include "governance/governance.hpp"
#include "governance/report_service.hpp"
#include "common/service_error.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <iostream>

namespace hitl::cli {

namespace {

const config::DomainConfig& domain_of(const ConfiguredStorage& cs, const std::string& command, const std::string& d) {
  auto it = cs.cfg.domains.find(d);
  if (it == cs.cfg.domains.end()) {
    std::string known;
    for (auto& [name, _] : cs.cfg.domains) known += (known.empty() ? "" : ", ") + name;
    fail(command + ": --domain: no domain named \"" + d + "\" in " + cs.cfg.file.string() + " (known: " + known + ")");
  }
  return it->second;
}

std::int64_t time_option(const std::string& command, const char* name, const std::string& text) {
  if (text.empty()) return 0;
  auto t = parse_time_ms(text);
  if (!t) fail(command + ": " + name + ": expected milliseconds since the epoch, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got \"" + text + "\"");
  return *t;
}

// Who did it, in the audit trail: the operator's login when known.
std::string cli_actor() {
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user && *user ? user : "unknown");
}

void add_report(CLI::App& root) {
  struct O {
    std::string config, domain, from, to, baseline_from, baseline_to;
    bool json = false;
  };
  auto o = std::make_shared<O>();
  auto* cmd = root.add_subcommand("report", "The five operating metrics of a domain over a time window");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain to report on")->required();
  cmd->add_option("--from", o->from, "Window start (ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ; default: the beginning)");
  cmd->add_option("--to", o->to, "Window end, exclusive (default: now)");
  cmd->add_option("--baseline-from", o->baseline_from, "Baseline window start for bias drift (default: the window of equal length before --from)");
  cmd->add_option("--baseline-to", o->baseline_to, "Baseline window end, exclusive");
  cmd->add_flag("--json", o->json, "Print the JSON the API serves instead of a table");
  cmd->callback([o] {
    const std::string command = "hitl report";
    std::unique_ptr<ConfiguredStorage> cs;
    try {
      cs = open_configured_storage(o->config);
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
    const auto& d = domain_of(*cs, command, o->domain);
    service::ReportQuery q;
    q.from_ms = time_option(command, "--from", o->from);
    q.to_ms = time_option(command, "--to", o->to);
    q.baseline_from_ms = time_option(command, "--baseline-from", o->baseline_from);
    q.baseline_to_ms = time_option(command, "--baseline-to", o->baseline_to);
    try {
      if (o->json) std::cout << service::build_report_json(*cs->storage, d, q).dump(2) << "\n";
      else std::cout << service::build_report_table(*cs->storage, d, q);
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
  });
}

void add_erase(CLI::App& root) {
  struct O {
    std::string config, domain, reason;
    std::vector<std::string> ids;
    int older_than_days = 0;
  };
  auto o = std::make_shared<O>();
  auto* cmd = root.add_subcommand(
      "erase", "Erase decision payloads (input, meta, contributions, comments); the audit chain stays verifiable");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain of the decisions")->required();
  auto* ids = cmd->add_option("--id", o->ids, "Decision id to erase (repeatable)");
  auto* older = cmd->add_option("--older-than-days", o->older_than_days,
                                "Erase every decision older than this many days (open reviews excepted)")
                    ->check(CLI::Range(1, 100 * 365));
  ids->excludes(older);
  cmd->add_option("--reason", o->reason, "Why (an erasure request id, a retention rule); recorded in the audit trail")
      ->required();
  cmd->callback([o] {
    const std::string command = "hitl erase";
    if (o->ids.empty() && o->older_than_days == 0) fail(command + ": give --id ID (repeatable) or --older-than-days N");
    std::unique_ptr<ConfiguredStorage> cs;
    try {
      cs = open_configured_storage(o->config);
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
    domain_of(*cs, command, o->domain);
    sdk::Storage& storage = *cs->storage;
    // Straight to storage: a running `hitl serve` on the same database sees the result at its
    // next read (SQLite serialises the two writers).
    service::Governance gov(storage, [&storage](sdk::WriteBatch& b) { return storage.commit(b); },
                            [dir = cs->cfg.datasets_dir](const std::string& d, const std::set<std::string>& ids) {
                              return dataset::forget(dir, d, ids);
                            });
    try {
      if (o->older_than_days) {
        const std::int64_t cutoff = now_ms() - std::int64_t{o->older_than_days} * 86'400'000;
        auto n = gov.erase_older_than(o->domain, cutoff, cli_actor(), o->reason);
        std::cout << "erased " << n << " payloads of decisions created before " << format_time_ms(cutoff) << "\n";
        return;
      }
      for (auto& id : o->ids) {
        auto r = gov.erase(o->domain, id, o->reason, cli_actor());
        std::cout << id << ": " << (r.erased ? "erased" : "already erased") << " (input_hash " << r.input_hash << ")\n";
      }
    } catch (const std::exception& e) {
      fail(command + ": " + e.what());
    }
  });
}

}  // namespace

void add_governance(CLI::App& root) {
  add_report(root);
  add_erase(root);
}

}  // namespace hitl::cli
