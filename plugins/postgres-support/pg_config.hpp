// Configuration of the PostgreSQL plugins (storage-postgres, queue-postgres: the same options),
// parsed from the JSON text the host passes to the factory. Every option is documented once, in
// kConfigDoc, which both descriptors export.
#pragma once

#include <hitl/plugin_api.hpp>

#include <string>

namespace hitl::pg {

struct PgConfig {
  std::string url;                   // libpq connection URL or key=value string (required)
  int pool_size = 4;                 // pooled connections (storage: for reads; commit() has its own)
  int statement_timeout_ms = 30000;  // server-side limit per statement (0 = none)
  int connect_timeout_s = 10;        // how long opening a connection may take
};

extern const char* const kConfigDoc;

// Parses `json_text` (null or empty means "{}"). Unknown keys, wrong types and bad values give
// Code::invalid_argument with a message naming the key and what was expected.
sdk::Status parse_config(const char* json_text, const char* plugin, PgConfig& out);

// The URL without its password, for messages and logs.
std::string redacted(const std::string& url);

}  // namespace hitl::pg
