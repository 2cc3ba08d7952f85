#pragma once
// Shared pieces of the CLI commands.
#include "config/service_config.hpp"
#include "plugin/plugin_registry.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace CLI { class App; }
namespace hitl::policy { class PolicyEngine; struct Limits; }
namespace hitl::service { class SharedLearning; }

namespace hitl::cli {

std::filesystem::path exe_dir();
std::filesystem::path default_plugin_dir();      // <exe>/../lib/hitl
std::filesystem::path default_script_lib_dir();  // <exe>/../share/hitl/lua
std::filesystem::path default_ui_dir();          // <exe>/../share/hitl/ui (the web UI, ui/www)
config::ServiceConfig load(const std::string& config_file);
// The config with the plugins its path options were read from, for the commands that build the
// service (App): each plugin file is opened once.
struct LoadedConfig {
  config::ServiceConfig cfg;
  plugin::LoadedPlugins plugins;
};
LoadedConfig load_with_plugins(const std::string& config_file);
void setup_logging(const std::string& level, const std::string& format);
// HITL_CLOCK_OFFSET_MS shifts every command's clock (tests move time with it); throws
// std::runtime_error for a value that is not an integer.
void apply_clock_offset_from_env();

// The configured storage alone (no queue, models or policies), for the tools that only read or
// write storage. The registry lives alongside: storage objects must not outlive their plugin.
// On a database instances share, the model registry and datasets are its blobs here too (`shared`).
struct ConfiguredStorage {
  config::ServiceConfig cfg;
  plugin::Registry registry;
  std::shared_ptr<sdk::Storage> storage;
  std::unique_ptr<service::SharedLearning> shared;  // null: alone, the folders are the store
  ~ConfiguredStorage();
};
// Throws std::runtime_error (config, plugin or storage errors) with a one-line reason.
std::unique_ptr<ConfiguredStorage> open_configured_storage(const std::string& config_file);
// For the commands that read or write the registry or datasets without the storage otherwise:
// on a database instances share, the storage opened, keeping the registry and datasets bound to
// its blobs while the result lives; alone, null (the folders are the store, nothing is opened).
std::unique_ptr<ConfiguredStorage> storage_if_shared(const std::string& config_file);

// Every plugin in the config's plugin_dirs, for the offline tools (refusals go to stderr).
struct ConfiguredPlugins {
  plugin::Registry registry;
  explicit ConfiguredPlugins(const config::ServiceConfig& cfg);
};

// The policy of one domain of `cfg`, with the config's instruction and memory limits (for the
// tools that run a policy hook outside the service: weight, promote). Throws PolicyError.
// `file` names another policy to load for the domain (a candidate) instead of its configured one.
std::unique_ptr<policy::PolicyEngine> load_domain_policy(const config::ServiceConfig& cfg, const std::string& domain,
                                                         const std::filesystem::path& file = {});
policy::Limits policy_limits(const config::ServiceConfig& cfg);

// Prints `msg` on stderr and ends the command with exit status `code` (CLI11 unwinds to main).
[[noreturn]] void fail(const std::string& msg, int code = 1);
// Who a CLI change is audited as: "cli:<$USER>".
std::string cli_actor();

// Each command registers itself on the root app.
void add_serve(CLI::App& root);
void add_ingest(CLI::App& root);
void add_tools(CLI::App& root);  // token, policy, plugin, train
void add_token(CLI::App& root);  // token create, revoke, list (cmd_token.cpp; called by add_tools)
void add_policy(CLI::App& root);  // policy check, test, run (cmd_policy.cpp)
void add_replay(CLI::App& root);  // replay a candidate policy over past records (cmd_replay.cpp)
void add_simulate(CLI::App& root);  // stream a labelled data set with simulated reviewers (cmd_simulate.cpp)
void add_retrain(CLI::App& root);
void add_audit(CLI::App& root);  // audit verify, audit export
void add_governance(CLI::App& root);  // report, erase
void add_reviewer(CLI::App& root);    // reviewer add, list, disable, enable
void add_dataset(CLI::App& root);     // dataset snapshot, list, show, export
void add_model(CLI::App& root);       // model evaluate
void add_storage(CLI::App& root);     // storage copy (cmd_storage.cpp)
void add_migrate(CLI::App& root);     // migrate (cmd_migrate.cpp)

}  // namespace hitl::cli
