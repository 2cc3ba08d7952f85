#include "pg_config.hpp"

#include <hitl/json_config.hpp>

#include <regex>

namespace hitl::pg {

const char* const kConfigDoc = R"json([
  {"name": "url", "type": "string", "default": null,
   "description": "PostgreSQL connection (required): a libpq URL such as postgresql://hitl@db.internal:5432/hitl, or key=value pairs. Usually env(\"HITL_PG_URL\") in the config, so the password stays out of the file."},
  {"name": "pool_size", "type": "integer", "default": 4,
   "description": "Connections kept per instance (1 to 64), opened as needed: storage-postgres serves reads with them (commit() has one more of its own), queue-postgres every call."},
  {"name": "statement_timeout_ms", "type": "integer", "default": 30000,
   "description": "The server cancels a statement running longer than this (0 = no limit); the call then fails as unavailable."},
  {"name": "connect_timeout_s", "type": "integer", "default": 10,
   "description": "Seconds opening one connection may take before it fails as unavailable (1 to 300)."}
])json";

sdk::Status parse_config(const char* json_text, const char* plugin, PgConfig& out) {
  namespace jc = sdk::json_config;
  out = PgConfig{};
  const auto error = jc::read_config(json_text, {
      {"url", jc::string_option(out.url, " (libpq connection URL)")},
      {"pool_size", jc::integer_option(out.pool_size, 1, 64)},
      {"statement_timeout_ms", jc::integer_option(out.statement_timeout_ms, 0, 86'400'000)},
      {"connect_timeout_s", jc::integer_option(out.connect_timeout_s, 1, 300)},
  });
  if (error) return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + ": " + *error);
  if (out.url.empty())
    return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + ": config key \"url\" (string) is required");
  return sdk::Status::Ok();
}

std::string redacted(const std::string& url) {
  // postgresql://user:secret@host -> postgresql://user:***@host; password=secret -> password=***
  static const std::regex in_url(R"(^(postgres(?:ql)?://[^:/@]*):[^@]*@)");
  static const std::regex in_pairs(R"((password\s*=\s*)('[^']*'|\S+))");
  return std::regex_replace(std::regex_replace(url, in_url, "$1:***@"), in_pairs, "$1***");
}

}  // namespace hitl::pg
