// Fuzz target: a service config file (Lua returning a table) through load_config. The only
// acceptable failure is a ConfigError: no crash, no hang (the loader bounds instructions and
// memory), no other exception.
#include "config/service_config.hpp"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("hitl-fuzz-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::ofstream(d / "policy.lua") << "return {}";
    return d;
  }();
  const auto file = dir / "hitl.lua";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    (void)hitl::config::load_config(file, dir / "plugins", dir / "lua",
                                    [](const auto&, std::string_view, const std::string&) { return std::vector<std::string>{"path"}; });
  } catch (const hitl::config::ConfigError&) {
  }
  return 0;
}
