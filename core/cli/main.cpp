// hitl: the human-in-the-loop service and its tools.
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
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
