// hitl audit verify | export: check the audit hash chain, and export it as JSON Lines.
#include "audit/audit_chain.hpp"
#include "cli/common.hpp"
#include "plugin/plugin_registry.hpp"

#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

namespace hitl::cli {
namespace fs = std::filesystem;

namespace {

// Exit status 1 means "the chain is broken"; anything that stops the check itself is 2.
constexpr int kBroken = 1;
constexpr int kCannotCheck = 2;

std::unique_ptr<ConfiguredStorage> open_storage(const std::string& command, const std::string& config_file) {
  try {
    return open_configured_storage(config_file);
  } catch (const std::exception& e) {
    fail(command + ": " + e.what(), kCannotCheck);
  }
}

void add_verify(CLI::App& audit) {
  struct O { std::string config; std::size_t page = 1000; };
  auto o = std::make_shared<O>();
  auto* verify = audit.add_subcommand(
      "verify", "Walk the whole audit trail and check its hash chain (exit 1 naming the first bad record)");
  verify->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  verify->add_option("--page", o->page, "Records read per storage call")->check(CLI::Range(1, 1000000));
  verify->callback([o] {
    auto cs = open_storage("hitl audit verify", o->config);
    audit::VerifyResult r;
    try {
      r = audit::verify_chain(*cs->storage, o->page);
    } catch (const std::exception& e) {
      fail(std::string("hitl audit verify: ") + e.what(), kCannotCheck);
    }
    if (!r.ok)
      fail("audit chain broken at seq " + std::to_string(r.bad_seq) + ": " + r.reason + " (" +
               std::to_string(r.records) + " records before it verified)",
           kBroken);
    std::cout << "audit chain ok: " << r.records << " records, head " << r.head.hash << std::endl;
  });
}

void add_export(CLI::App& audit) {
  struct O { std::string config, out; std::int64_t from = 1, to = 0; };
  auto o = std::make_shared<O>();
  auto* exp = audit.add_subcommand("export", "Write audit records as JSON Lines (one object per record, with hashes)");
  exp->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  exp->add_option("--from", o->from, "First seq to export (default 1)")->check(CLI::PositiveNumber);
  exp->add_option("--to", o->to, "Last seq to export (default: the newest)")->check(CLI::PositiveNumber);
  exp->add_option("--out", o->out, "Output file (default: stdout)");
  exp->callback([o] {
    if (o->to != 0 && o->to < o->from)
      fail("hitl audit export: --to " + std::to_string(o->to) + " is before --from " + std::to_string(o->from),
           kCannotCheck);
    auto cs = open_storage("hitl audit export", o->config);
    std::ofstream file;
    if (!o->out.empty()) {
      file.open(o->out, std::ios::binary | std::ios::trunc);
      if (!file) fail("hitl audit export: --out: cannot write " + o->out, kCannotCheck);
    }
    std::ostream& out = o->out.empty() ? std::cout : file;
    std::int64_t n = 0;
    try {
      n = audit::export_jsonl(*cs->storage, o->from, o->to, out);
      out.flush();
      if (!out) throw std::runtime_error("writing " + (o->out.empty() ? std::string("stdout") : o->out) + " failed");
    } catch (const std::exception& e) {
      fail(std::string("hitl audit export: ") + e.what(), kCannotCheck);
    }
    if (!o->out.empty()) std::cout << "exported " << n << " audit records to " << o->out << std::endl;
  });
}

}  // namespace

void add_audit(CLI::App& root) {
  auto* audit = root.add_subcommand("audit", "Verify and export the tamper-evident audit trail");
  audit->require_subcommand(1);
  add_verify(*audit);
  add_export(*audit);
}

}  // namespace hitl::cli
