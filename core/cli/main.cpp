// hitl: the human-in-the-loop service and its tools.
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#if HITL_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace {
// Memory freed by the allocator goes back to the OS after a second unused instead of mimalloc's
// 25 ms: `hitl ingest` frees and allocates its JSON trees and rows again every chunk, and each
// return was paid again in page faults, 0.3-0.4 s of kernel time per 200k records (a sixth of its
// kernel time, docs/performance.md). MIMALLOC_DECOMMIT_DELAY (ms) still sets it.
void tune_allocator() {
#if HITL_WITH_MIMALLOC
  if (!std::getenv("MIMALLOC_DECOMMIT_DELAY") && !std::getenv("MIMALLOC_RESET_DELAY"))
    mi_option_set(mi_option_decommit_delay, 1000);
#endif
}
}  // namespace

int main(int argc, char** argv) {
  tune_allocator();
  CLI::App app{"hitl: human-in-the-loop review for production ML\n"
               "Model predictions stream in, a Lua policy per domain decides which need a person,\n"
               "reviewers approve or correct them, and every step is stored and audited."};
  app.set_version_flag("--version", std::string("hitl ") + HITL_VERSION);
  app.require_subcommand(1);
  hitl::cli::add_serve(app);
  hitl::cli::add_ingest(app);
  hitl::cli::add_tools(app);
  hitl::cli::add_audit(app);
  hitl::cli::add_governance(app);
  hitl::cli::add_reviewer(app);
  hitl::cli::add_dataset(app);
  hitl::cli::add_model(app);
  hitl::cli::add_retrain(app);
  hitl::cli::add_replay(app);
  hitl::cli::add_simulate(app);
  hitl::cli::add_storage(app);
  hitl::cli::add_migrate(app);
  try {
    hitl::cli::apply_clock_offset_from_env();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "hitl: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
