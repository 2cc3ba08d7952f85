// hitl replay: a candidate policy over past records beside the routing they got, with no side
// effects (docs/policy-testing.md, "Replay").
#include "cli/common.hpp"
#include "common/clock.hpp"
#include "policy/policy_engine.hpp"
#include "replay/sources.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <unistd.h>

namespace hitl::cli {
namespace fs = std::filesystem;

namespace {

struct ReplayOptions {
  std::string config, domain, policy, from, to, data, html;
  bool json = false;
};

report::Window window_of(const ReplayOptions& o) {
  report::Window w;
  auto parse = [](const std::string& text, const char* flag) {
    auto t = parse_time_ms(text);
    if (!t) fail(std::string("hitl replay: ") + flag + ": not a time (epoch ms, 2026-12-02 or 2026-12-02T14:30:00Z)", 2);
    return *t;
  };
  if (!o.from.empty()) w.from_ms = parse(o.from, "--from");
  if (!o.to.empty()) w.to_ms = parse(o.to, "--to");
  return w;
}

// "\rreplay: 12000 records" on a terminal; nothing when stderr is a file or a pipe.
replay::Progress progress_bar() {
  if (!::isatty(STDERR_FILENO)) return {};
  return [](std::uint64_t n) { std::fprintf(stderr, "\rreplay: %llu records", static_cast<unsigned long long>(n)); };
}

void write_outputs(const ReplayOptions& o, const replay::Report& r) {
  if (::isatty(STDERR_FILENO)) std::fputc('\n', stderr);
  if (!o.html.empty()) {
    std::ofstream(o.html, std::ios::binary) << replay::to_html(r);
    std::cerr << "wrote " << o.html << "\n";
  }
  if (o.json)
    std::cout << replay::to_json(r).dump(2) << "\n";
  else
    std::cout << replay::to_text(r);
}

void run(const ReplayOptions& o) {
  auto cs = open_configured_storage(o.config);
  if (!cs->cfg.domains.count(o.domain)) fail("hitl replay: unknown domain \"" + o.domain + "\"", 2);
  const auto& dom = cs->cfg.domains.at(o.domain);
  std::unique_ptr<policy::PolicyEngine> candidate, current;
  try {
    candidate = load_domain_policy(cs->cfg, o.domain, fs::absolute(o.policy));
    if (!o.data.empty()) current = load_domain_policy(cs->cfg, o.domain);
  } catch (const std::exception& e) {
    fail(e.what(), 2);
  }
  replay::Replay rp(*candidate, current.get(), o.domain, report::GroupSpec{dom.report_group, dom.report_bands});
  rp.report().candidate_name = o.policy;
  rp.report().current_name = o.data.empty() ? "the recorded routing" : dom.policy.string();
  const auto window = window_of(o);
  if (o.data.empty())
    replay::replay_stored(*cs->storage, o.domain, window, rp, progress_bar());
  else
    replay::replay_file(o.data, rp, progress_bar());
  rp.set_handle_seconds(replay::measured_handle_seconds(*cs->storage, o.domain, window));
  write_outputs(o, rp.report());
}

}  // namespace

void add_replay(CLI::App& root) {
  auto o = std::make_shared<ReplayOptions>();
  auto* cmd = root.add_subcommand("replay", "Run a candidate policy over past records beside the routing they got");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->domain, "Domain")->required();
  cmd->add_option("--policy", o->policy, "Candidate policy file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--from", o->from, "Stored decisions created from this time (epoch ms or UTC date[-time])");
  cmd->add_option("--to", o->to, "... and before this time");
  auto* data = cmd->add_option("--data", o->data, "Records to replay instead: JSON Lines {id, input, prediction, meta, truth}")
                   ->check(CLI::ExistingFile);
  data->excludes(cmd->get_option("--from"))->excludes(cmd->get_option("--to"));
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  cmd->add_option("--html", o->html, "Also write the report as one self-contained HTML page");
  cmd->callback([o] { run(*o); });
}

}  // namespace hitl::cli
