// Configuration of the storage-sqlite plugin, parsed from the JSON text the host passes to the
// factory. Every option is documented once, in kConfigDoc, which the descriptor exports.
#pragma once

#include <hitl/plugin_api.hpp>

#include <string>

namespace hitl::storage_sqlite {

struct StorageConfig {
  std::string path;              // database file; parent directories are created
  int busy_timeout_ms = 5000;    // how long a connection waits on a lock before SQLITE_BUSY
  bool synchronous_full = false; // false = PRAGMA synchronous=NORMAL (WAL: durable on process crash)
};

// JSON array of {"name","type","default","description"}: the descriptor's config_doc.
extern const char* const kConfigDoc;

// Parses `json_text` (null or empty means "{}"). Unknown keys, wrong types and bad values give
// Code::invalid_argument with a message naming the key and what was expected.
sdk::Status parse_config(const char* json_text, StorageConfig& out);

}  // namespace hitl::storage_sqlite
