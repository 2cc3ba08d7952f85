// Versioned schema for one component of a SQLite file that several plugins share.
//
// Each component (storage, queue, ...) records the versions it applied in the shared table
// schema_migrations(component, version, applied_ms). Migrations are an ordered list; the pending
// ones are applied together in one BEGIN IMMEDIATE transaction, so two processes opening the same
// file at once cannot both apply them, and a failure leaves the previous version intact.
#pragma once

#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace hitl::queue_sqlite {

struct Migration {
  int version;       // 1, 2, 3 ... strictly increasing
  const char* what;  // one line, for error messages
  const char* sql;   // one or more statements
};

// The queue's own migrations (component "queue"), oldest first.
const std::vector<Migration>& queue_migrations();

// Brings `component` up to the last version in `migrations`. Refuses (Code::conflict) a database
// whose recorded version is newer than any this code knows. `db_label` names the file in messages.
sdk::Status apply_migrations(SQLite::Database& db, const std::string& db_label, const char* component,
                             const std::vector<Migration>& migrations, std::int64_t now_ms) noexcept;

// The highest version recorded for `component` (0 when none).
int recorded_version(SQLite::Database& db, const char* component);

}  // namespace hitl::queue_sqlite
