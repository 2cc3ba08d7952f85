#include "cli/common.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/shared_learning.hpp"
#include "cluster/cluster.hpp"
#include "common/clock.hpp"
#include "policy/policy_engine.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <unistd.h>

namespace hitl::cli {
namespace fs = std::filesystem;

ConfiguredPlugins::ConfiguredPlugins(const config::ServiceConfig& cfg) {
  for (auto& dir : cfg.plugin_dirs) {
    std::vector<std::string> errors;
    if (fs::is_directory(dir)) registry.load_directory(dir, errors);
    for (auto& e : errors) std::cerr << "plugin refused: " << e << "\n";
  }
}

policy::Limits policy_limits(const config::ServiceConfig& cfg) {
  policy::Limits limits;
  limits.instruction_budget = cfg.policy_instruction_budget;
  limits.memory_bytes = cfg.policy_memory_mb << 20;
  limits.deadline_ms = cfg.policy_deadline_ms;
  return limits;
}

std::unique_ptr<policy::PolicyEngine> load_domain_policy(const config::ServiceConfig& cfg, const std::string& domain,
                                                         const std::filesystem::path& file) {
  const auto& policy_file = file.empty() ? cfg.domains.at(domain).policy : file;
  return std::make_unique<policy::PolicyEngine>(std::vector<policy::DomainPolicy>{{domain, policy_file}},
                                                cfg.script_lib_dir, policy_limits(cfg));
}

void fail(const std::string& msg, int code) {
  std::cerr << msg << "\n";
  throw CLI::RuntimeError(code);
}

std::string cli_actor() {
  const char* user = std::getenv("USER");
  return std::string("cli:") + (user && *user ? user : "unknown");
}

fs::path exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : p.parent_path();
}

fs::path default_plugin_dir() { return (exe_dir() / ".." / "lib" / "hitl").lexically_normal(); }
fs::path default_script_lib_dir() { return (exe_dir() / ".." / "share" / "hitl" / "lua").lexically_normal(); }
fs::path default_ui_dir() { return (exe_dir() / ".." / "share" / "hitl" / "ui").lexically_normal(); }

// Plugin options are resolved as their plugins declare them, so the descriptors are read here.
LoadedConfig load_with_plugins(const std::string& config_file) {
  plugin::PathOptionCatalog catalog;
  auto path_options = [&catalog](const std::vector<fs::path>& dirs, std::string_view kind, const std::string& name) {
    return catalog.path_options(dirs, kind, name);
  };
  LoadedConfig out{config::load_config(config_file, default_plugin_dir(), default_script_lib_dir(), path_options), {}};
  out.plugins = catalog.take(out.cfg.plugin_dirs);
  return out;
}

config::ServiceConfig load(const std::string& config_file) { return load_with_plugins(config_file).cfg; }

void apply_clock_offset_from_env() {
  const char* off = std::getenv("HITL_CLOCK_OFFSET_MS");
  if (!off) return;
  std::int64_t ms = 0;
  const char* end = off + std::strlen(off);
  auto [p, ec] = std::from_chars(off, end, ms);
  if (ec != std::errc() || p != end || p == off)
    throw std::runtime_error(std::string("HITL_CLOCK_OFFSET_MS: expected an integer (milliseconds), got \"") + off + "\"");
  set_clock_offset_ms(ms);
}

std::unique_ptr<ConfiguredStorage> open_configured_storage(const std::string& config_file) {
  auto cs = std::make_unique<ConfiguredStorage>();
  cs->cfg = load(config_file);
  for (auto& dir : cs->cfg.plugin_dirs) {
    std::vector<std::string> errors;
    if (fs::is_directory(dir)) cs->registry.load_directory(dir, errors);
    for (auto& e : errors) std::fprintf(stderr, "plugin refused: %s\n", e.c_str());
  }
  cs->storage = cs->registry.create_storage(cs->cfg.storage.plugin, cs->cfg.storage.config_json);
  // Its folders' locks are the cluster's: a version registered here never takes a number a
  // running instance takes at the same moment.
  std::shared_ptr<cluster::Cluster> cluster = cluster::open(cs->cfg.storage.plugin, cs->cfg.storage.config_json);
  if (cluster->shared()) cs->shared = std::make_unique<service::SharedLearning>(cs->cfg, cs->storage, std::move(cluster));
  return cs;
}

std::unique_ptr<ConfiguredStorage> storage_if_shared(const std::string& config_file) {
  const auto cfg = load(config_file);
  if (!cluster::open(cfg.storage.plugin, cfg.storage.config_json)->shared()) return nullptr;
  return open_configured_storage(config_file);
}

ConfiguredStorage::~ConfiguredStorage() {
  shared.reset();
  storage.reset();
}

namespace {
// %j: the message as the inside of a JSON string. Log messages carry user text (Lua errors,
// ids, file names) with quotes, backslashes and control characters; %v would break the line.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonEscapedMessage>(); }
};
// %F: the ids a message names, as JSON fields. Messages about one decision or task name them as
// `domain=D decision=ID task=N`; in JSON lines these become "domain", "decision_id" and
// "task_id" fields (task_id a number) so a log pipeline can select every line of one case.
class IdFields final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    static constexpr std::pair<std::string_view, std::string_view> kKeys[] = {
        {"domain=", "domain"}, {"decision=", "decision_id"}, {"task=", "task_id"}};
    for (auto [key, field] : kKeys) {
      std::size_t pos = 0;
      for (;;) {
        pos = text.find(key, pos);
        if (pos == std::string_view::npos) break;
        if (pos == 0 || text[pos - 1] == ' ') break;  // a whole word, not "subdomain="
        pos += key.size();
      }
      if (pos == std::string_view::npos) continue;
      const std::size_t start = pos + key.size();
      std::size_t end = start;
      while (end < text.size() && text[end] != ' ' && text[end] != ',' && text[end] != ':') ++end;
      std::string_view value = text.substr(start, end - start);
      if (value.empty()) continue;
      const bool numeric = field == "task_id" && value.find_first_not_of("0123456789") == std::string_view::npos;
      dest.append(std::string_view(",\""));
      dest.append(field);
      dest.append(std::string_view(numeric ? "\":" : "\":\""));
      for (char c : value) {
        if (c == '"' || c == '\\') dest.push_back('\\');
        if (static_cast<unsigned char>(c) >= 0x20) dest.push_back(c);
      }
      if (!numeric) dest.push_back('"');
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<IdFields>(); }
};
}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("hitl");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('j');
    formatter->add_flag<IdFields>('F').set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%j"%F})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

}  // namespace hitl::cli
