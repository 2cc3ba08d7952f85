// Schema migrations on PostgreSQL, shared by the plugins that keep tables there. Each plugin
// (component) lists its migrations; migrate() applies the missing ones in one transaction
// under a transaction-scoped advisory lock, so instances starting together never race through
// the same migration, and records each in schema_migrations (shared by the components, the
// same shape as the SQLite plugins' table).
#pragma once

#include "pg_session.hpp"

#include <hitl/plugin_api.hpp>

#include <string>
#include <vector>

namespace hitl::pg {

struct Migration {
  int version;
  const char* description;
  const char* sql;  // may hold several statements
};

// Applies `migrations` (ordered, append-only) for `component`; `version` is the schema version
// afterwards. A database whose version is newer than the list knows is refused (conflict).
sdk::Status migrate(Session& s, const char* plugin, const char* component, const std::vector<Migration>& migrations,
                    std::int64_t now_ms, int& version) noexcept;

// The recorded schema version of `component` (0 = none).
int schema_version(Session& s, pqxx::transaction_base& tx, const char* component);

}  // namespace hitl::pg
