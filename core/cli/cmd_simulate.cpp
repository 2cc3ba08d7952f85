// hitl simulate: a labelled data set streamed through a real instance of the service with
// simulated reviewers, on a simulated clock (docs/simulate.md).
#include "app/app.hpp"
#include "cli/common.hpp"
#include "common/hash.hpp"
#include "simulate/simulate.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <unistd.h>

namespace hitl::cli {
namespace fs = std::filesystem;

namespace {

struct SimulateOptions {
  std::string config, data, label, html, work_dir, handle_time = "lognormal:45s,0.5";
  std::size_t limit = 0;
  double review_target = -1;  // < 0: not given
  bool json = false;
  simulate::Options run;
};

// "\rsimulate: [#####     ] 1200/2954" on a terminal; nothing when stderr is a file or a pipe.
simulate::Progress progress_bar() {
  if (!::isatty(STDERR_FILENO)) return {};
  return [](std::size_t done, std::size_t total) {
    constexpr int kWidth = 30;
    if (done != total && done % 25 != 0) return;
    const int filled = static_cast<int>(kWidth * done / (total ? total : 1));
    std::fprintf(stderr, "\rsimulate: [%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total);
    if (done == total) std::fputc('\n', stderr);
  };
}

// The run's own folder: the one given (kept), else a fresh temporary one (removed at the end).
struct WorkDir {
  fs::path path;
  bool keep = false;
  explicit WorkDir(const std::string& given) : keep(!given.empty()) {
    path = keep ? fs::path(given) : fs::temp_directory_path() / ("hitl-simulate-" + random_hex(8));
    if (keep && fs::exists(path) && !fs::is_empty(path))
      fail("hitl simulate: --work-dir " + given + " is not empty (each run starts from an empty store)", 2);
    fs::create_directories(path);
  }
  ~WorkDir() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
};

void write_outputs(const SimulateOptions& o, const simulate::Result& r) {
  if (!o.html.empty()) {
    std::ofstream(o.html, std::ios::binary) << simulate::to_html(r);
    std::cerr << "wrote " << o.html << "\n";
  }
  if (o.json)
    std::cout << simulate::to_json(r).dump(2) << "\n";
  else
    std::cout << simulate::to_text(r);
}

void run(SimulateOptions& o) {
  if (o.review_target >= 0) o.run.review_target = o.review_target;
  try {
    o.run.handle_time = simulate::parse_handle_time(o.handle_time);
  } catch (const std::invalid_argument& e) {
    fail(std::string("hitl simulate: ") + e.what(), 2);
  }
  auto [cfg, plugins] = load_with_plugins(o.config);
  setup_logging("warn", cfg.log_format);
  auto dom = cfg.domains.find(o.run.domain);
  if (dom == cfg.domains.end()) fail("hitl simulate: unknown domain \"" + o.run.domain + "\"", 2);
  if (!plugins.registry) plugins = plugin::load_plugin_dirs(cfg.plugin_dirs);
  try {
    const auto rows = simulate::read_stream(o.data, o.label, dom->second.labels, o.limit);
    WorkDir work(o.work_dir);
    auto sandboxed = simulate::sandbox_config(std::move(cfg), *plugins.registry, o.run.domain, work.path);
    simulate::Result r;
    {
      service::App app(std::move(sandboxed), std::move(plugins));
      r = simulate::run(app, o.run, rows, progress_bar());
    }
    write_outputs(o, r);
  } catch (const std::runtime_error& e) {
    fail(std::string("hitl simulate: ") + e.what());
  }
}

}  // namespace

void add_simulate(CLI::App& root) {
  auto o = std::make_shared<SimulateOptions>();
  auto* cmd = root.add_subcommand("simulate", "Stream a labelled data set through the service with simulated reviewers");
  cmd->add_option("--config", o->config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--domain", o->run.domain, "Domain")->required();
  cmd->add_option("--data", o->data, "Labelled records, CSV with a header, streamed in file order")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--label", o->label, "Column holding the true label")->required();
  cmd->add_option("--limit", o->limit, "Stream only the first N rows (0: all)");
  cmd->add_option("--reviewers", o->run.reviewers, "Simulated reviewers (default 3)")->check(CLI::Range(1, 1000));
  cmd->add_option("--reviewer-accuracy", o->run.reviewer_accuracy, "Chance a reviewer answers the true label (default 0.95)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--handle-time", o->handle_time,
                  "Time per review: fixed:30s, lognormal:MEDIAN,SIGMA or exponential:MEAN (default lognormal:45s,0.5)");
  cmd->add_option("--rate", o->run.rate, "Records per simulated second (default 0.05: one every 20 s)")
      ->check(CLI::Range(1e-6, 1e6));
  cmd->add_option("--review-target", o->review_target,
                  "The review share the policy aims at (e.g. 0.15): shown beside the flag rate reached")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", o->run.seed, "Seed of every random draw (default 1): one seed, one result");
  cmd->add_flag("--json", o->json, "Print the figures as JSON");
  cmd->add_option("--html", o->html, "Also write the figures and time series as one self-contained HTML page");
  cmd->add_option("--work-dir", o->work_dir, "Keep the simulated instance's storage, datasets and models here (empty folder)");
  cmd->callback([o] { run(*o); });
}

}  // namespace hitl::cli
