// hitl migrate: brings the configured database up to this hitl's schema without serving, so an
// upgrade of several instances on one PostgreSQL migrates once, before the instances restart one
// by one (docs/deploy.md, "Upgrading"). The storage and queue plugins migrate when they open
// (PostgreSQL: in one transaction under an advisory lock; SQLite: under the file's write lock),
// exactly as `hitl serve` opens them at start; this command opens them, says what it found, and
// closes them. There is no --check: the SDK has no way to open a plugin without letting it
// migrate, and a check that migrated would be a lie.
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

namespace hitl::cli {

namespace {

constexpr const char* kCmd = "hitl migrate";

void run_migrate(const std::string& config_file) {
  auto cs = open_configured_storage(config_file);  // opening is migrating
  int version = 0;
  if (auto st = cs->storage->schema_version(version); !st.ok())
    throw std::runtime_error("storage: schema_version: " + st.message);
  std::cout << "storage " << cs->cfg.storage.plugin << ": schema version " << version << std::endl;
  // The queue interface reports no schema version (queue 1.1): its plugin migrated as it opened
  // (a failure throws with the plugin's reason), which is what the line can honestly say.
  auto queue = cs->registry.create_queue(cs->cfg.queue.plugin, cs->cfg.queue.config_json);
  std::cout << "queue " << cs->cfg.queue.plugin << ": migrated (the queue interface reports no schema version)"
            << std::endl;
}

}  // namespace

void add_migrate(CLI::App& root) {
  auto config = std::make_shared<std::string>();
  auto* migrate = root.add_subcommand(
      "migrate", "Open the configured storage and queue plugins, which apply their schema migrations, then exit");
  migrate->add_option("--config", *config, "Service config file (Lua)")->required()->check(CLI::ExistingFile);
  migrate->callback([config] {
    try {
      run_migrate(*config);
    } catch (const CLI::Error&) {
      throw;
    } catch (const std::exception& e) {
      fail(std::string(kCmd) + ": " + e.what());
    }
  });
}

}  // namespace hitl::cli
