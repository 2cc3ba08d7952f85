// hitl dataset snapshot | list | show | export: the learning loop's versioned training data
// (core/dataset). Snapshots read the final human outcomes straight from storage.
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "dataset/dataset.hpp"
#include "dataset/marked_gold.hpp"
#include "policy/policy_engine.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>

namespace hitl::cli {

namespace {

struct DatasetArgs {
  std::string config, domain, id, format = "jsonl", split = "all", out;
  double holdout = 0.2;
};

void snapshot(const DatasetArgs& a) {
  const std::string command = "hitl dataset snapshot";
  try {
    auto cs = open_configured_storage(a.config);
    auto dom = cs->cfg.domains.find(a.domain);
    if (dom == cs->cfg.domains.end()) fail(command + ": --domain: no domain named \"" + a.domain + "\" in " + cs->cfg.file.string());
    auto policies = load_domain_policy(cs->cfg, a.domain);
    dataset::CollectStats stats;
    auto samples = dataset::collect(*cs->storage, a.domain, *policies, &stats,
                                    dataset::MarkedGold(cs->cfg.datasets_dir).decision_ids(a.domain));
    if (samples.empty())  // an empty version would only be a version nothing can train on
      fail(command + ": domain \"" + a.domain + "\" has no final human outcomes or reported truths yet: nothing to snapshot" +
           (stats.erased ? " (" + std::to_string(stats.erased) + " left out: erased payloads)" : ""));
    dataset::Store store(cs->cfg.datasets_dir);
    bool created = false;
    auto v = store.snapshot(a.domain, samples, now_ms(), policies->policy_hash(a.domain), cli_actor(), created);
    if (created)
      std::cout << "dataset " << v.id << ": " << v.rows << " samples (" << v.new_rows << " new), parent "
                << (v.parent.empty() ? "none" : v.parent) << ", sha256 " << v.content_hash << "\n";
    else
      std::cout << "dataset " << v.id << " unchanged: no new final outcomes since it was taken\n";
    if (stats.reported_truths)
      std::cout << "  " << stats.reported_truths << " of them from truths reported for decisions nobody reviewed\n";
    if (stats.erased) std::cout << "  left out: " << stats.erased << " erased payloads\n";
    if (stats.weight_failures)
      std::cout << "  weight(): " << stats.weight_failures << " failures, default weight used (see the log)\n";
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(command + ": " + e.what());
  }
}

void list(const DatasetArgs& a) {
  try {
    auto cfg = load(a.config);
    const auto shared = storage_if_shared(a.config);  // the datasets are the database's then
    dataset::Store store(cfg.datasets_dir);
    auto all = store.list(a.domain);
    std::cout << std::left << std::setw(24) << "id" << std::setw(24) << "parent" << std::setw(8) << "rows"
              << std::setw(8) << "new" << "sha256\n";
    for (auto& v : all)
      std::cout << std::left << std::setw(24) << v.id << std::setw(24) << (v.parent.empty() ? "-" : v.parent)
                << std::setw(8) << v.rows << std::setw(8) << v.new_rows << v.content_hash.substr(0, 16) << "\n";
    if (all.empty()) std::cout << "(no dataset versions in " << cfg.datasets_dir.string() << ")\n";
  } catch (const std::exception& e) {
    fail(std::string("hitl dataset list: ") + e.what());
  }
}

void show(const DatasetArgs& a) {
  try {
    auto cfg = load(a.config);
    const auto shared = storage_if_shared(a.config);  // the datasets are the database's then
    dataset::Store store(cfg.datasets_dir);
    auto v = store.require(a.id);
    store.read(v);  // checks the content hash
    std::cout << dataset::version_json(v).dump(2) << "\n";
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(std::string("hitl dataset show: ") + e.what());
  }
}

void export_rows(const DatasetArgs& a) {
  const std::string command = "hitl dataset export";
  try {
    auto cfg = load(a.config);
    const auto shared = storage_if_shared(a.config);  // the datasets are the database's then
    dataset::Store store(cfg.datasets_dir);
    auto v = store.require(a.id);
    auto rows = dataset::Store::split(store.read(v), dataset::parse_split(a.split), a.holdout);
    std::ofstream file;
    if (!a.out.empty()) {
      file.open(a.out, std::ios::binary | std::ios::trunc);
      if (!file) fail(command + ": --out: cannot write " + a.out);
    }
    std::ostream& out = a.out.empty() ? std::cout : file;
    if (a.format == "csv") dataset::Store::write_csv(rows, out);
    else dataset::Store::write_jsonl(rows, out);
    out.flush();
    if (!out) fail(command + ": write failed");
    if (!a.out.empty()) std::cerr << "wrote " << rows.size() << " samples of " << v.id << " (" << a.split << ") to " << a.out << "\n";
  } catch (const CLI::RuntimeError&) {
    throw;
  } catch (const std::exception& e) {
    fail(command + ": " + e.what());
  }
}

}  // namespace

void add_dataset(CLI::App& root) {
  auto* cmd = root.add_subcommand("dataset", "Versioned training data from final human outcomes");
  cmd->require_subcommand(1);
  auto a = std::make_shared<DatasetArgs>();

  auto* snap = cmd->add_subcommand("snapshot", "Freeze a domain's feedback samples as a new immutable dataset version");
  snap->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  snap->add_option("--domain", a->domain, "Domain")->required();
  snap->callback([a] { snapshot(*a); });

  auto* ls = cmd->add_subcommand("list", "List dataset versions");
  ls->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  ls->add_option("--domain", a->domain, "Only this domain");
  ls->callback([a] { list(*a); });

  auto* sh = cmd->add_subcommand("show", "Print a version's manifest (and check its content hash)");
  sh->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  sh->add_option("--id", a->id, "Version id, e.g. credit_risk-v3")->required();
  sh->callback([a] { show(*a); });

  auto* ex = cmd->add_subcommand("export", "Write a version's samples as CSV or JSON Lines");
  ex->add_option("--config", a->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  ex->add_option("--id", a->id, "Version id")->required();
  ex->add_option("--format", a->format, "csv or jsonl")->check(CLI::IsMember({"csv", "jsonl"}))->capture_default_str();
  ex->add_option("--split", a->split, "all, train (older rows) or holdout (newest rows)")
      ->check(CLI::IsMember({"all", "train", "holdout"}))
      ->capture_default_str();
  ex->add_option("--holdout-fraction", a->holdout, "Share of the newest rows in the holdout")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  ex->add_option("--out", a->out, "Output file (default: standard output)");
  ex->callback([a] { export_rows(*a); });
}

}  // namespace hitl::cli
