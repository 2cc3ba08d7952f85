#pragma once
// Shared pieces of the CLI commands.
#include "config/service_config.hpp"

#include <filesystem>
#include <string>

namespace CLI { class App; }

namespace hitl::cli {

std::filesystem::path exe_dir();
std::filesystem::path default_plugin_dir();      // <exe>/../lib/hitl
std::filesystem::path default_script_lib_dir();  // <exe>/../share/hitl/lua
config::ServiceConfig load(const std::string& config_file);
void setup_logging(const std::string& level, const std::string& format);

// Each command registers itself on the root app.
void add_serve(CLI::App& root);
void add_ingest(CLI::App& root);
void add_tools(CLI::App& root);  // token, policy, plugin, train
void add_audit(CLI::App& root);  // audit verify, audit export

}  // namespace hitl::cli
