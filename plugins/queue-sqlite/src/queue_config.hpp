// Config of the queue-sqlite plugin: parsed from the JSON text the host hands the factory.
#pragma once

#include <hitl/plugin_api.hpp>

#include <string>

namespace hitl::queue_sqlite {

struct QueueConfig {
  std::string path;             // SQLite file, shared with storage-sqlite; ":memory:" for a private one
  int busy_timeout_ms = 5000;   // how long a statement waits for another connection's write lock
};

// The descriptor's config_doc: a JSON array of {name, type, default, description}.
extern const char* const kConfigDoc;

// Fills `out` from `json_text` (null or blank = "{}"). Refuses unknown keys, wrong types and
// out-of-range values with Code::invalid_argument and a message naming the key.
sdk::Status parse_queue_config(const char* json_text, QueueConfig& out) noexcept;

}  // namespace hitl::queue_sqlite
