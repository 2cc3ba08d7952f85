#include "cli/common.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

namespace hitl::cli {
namespace fs = std::filesystem;

fs::path exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

fs::path default_plugin_dir() { return (exe_dir() / ".." / "lib" / "hitl").lexically_normal(); }
fs::path default_script_lib_dir() { return (exe_dir() / ".." / "share" / "hitl" / "lua").lexically_normal(); }

config::ServiceConfig load(const std::string& config_file) {
  return config::load_config(config_file, default_plugin_dir(), default_script_lib_dir());
}

void setup_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("hitl");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json")
    spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%v"})", spdlog::pattern_time_type::utc);
  else
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

}  // namespace hitl::cli
