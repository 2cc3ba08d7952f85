// Schema of the storage-sqlite plugin and its migrations.
//
// Versions live in `schema_migrations(component, version, applied_ms)`, shared with other
// plugins that use the same database file (queue-sqlite records component "queue"). Each plugin
// creates that table with the same CREATE TABLE IF NOT EXISTS and only touches its own rows.
#pragma once

#include <hitl/plugin_api.hpp>

#include <string>

namespace SQLite { class Database; }

namespace hitl::storage_sqlite {

inline constexpr const char* kComponent = "storage";

// The newest schema version this build knows (the last migration's version).
int latest_schema_version() noexcept;

// The exact DDL every plugin sharing the file uses for the version table.
extern const char* const kSchemaMigrationsDdl;

// Brings `db` up to latest_schema_version() in one IMMEDIATE transaction. A database whose
// storage version is newer than this build knows is refused with Code::conflict. On success
// `version` is the storage component's version after migrating.
sdk::Status migrate(SQLite::Database& db, const std::string& path, std::int64_t now_ms, int& version) noexcept;

}  // namespace hitl::storage_sqlite
