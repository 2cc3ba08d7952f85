#pragma once
// Shared by the storage-sqlite test files (one test binary): the plugin loaded through
// Boost.DLL as the host loads it, fresh database folders, and opening a storage object.
#include <hitl/plugin_api.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

namespace storage_testing {
namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

inline const sdk::PluginDescriptor& plugin() {
  // Kept for the whole run: storage objects must not outlive the library that made them.
  static auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(
      boost::dll::fs::path(HITL_PLUGIN_DIR "/storage-sqlite.so"), HITL_PLUGIN_ENTRY_SYMBOL,
      boost::dll::load_mode::rtld_now);
  return *entry();
}

// A fresh directory per test case, removed afterwards; the database file inside it.
using TempDir = hitl::test::TempDir;
inline std::string db_of(const TempDir& dir) { return (dir.path / "hitl.db").string(); }

inline std::string config(const std::string& db, nlohmann::json extra = nlohmann::json::object()) {
  extra["path"] = db;
  return extra.dump();
}

inline sdk::Status try_open(const std::string& config_json, std::unique_ptr<sdk::Storage>& out) {
  return plugin().create_storage(config_json.c_str(), out);
}

inline std::unique_ptr<sdk::Storage> open(const std::string& db) {
  std::unique_ptr<sdk::Storage> s;
  auto st = try_open(config(db), s);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(s);
  return s;
}

inline int count_rows(const std::string& db, const std::string& table) {
  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  return raw.execAndGet("SELECT COUNT(*) FROM " + table).getInt();
}

// The newest storage schema version; tests that rebuild an older file undo the newer ones.
inline constexpr int kLatestSchema = 6;

// Turns a file back into what version 5 wrote: without the token life cycle of version 6.
inline void undo_migration_6(SQLite::Database& raw) {
  raw.exec("DROP TRIGGER token_life_on_INSERT");
  raw.exec("DROP TRIGGER token_life_on_UPDATE");
  raw.exec("DROP TABLE token_expiries");
  raw.exec("DROP TABLE token_life");
  raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 6");
}

// Turns a file back into what version 4 wrote (undoing 6 first): without the review workflow
// columns, reviewers and deliveries of version 5.
inline void undo_migration_5(SQLite::Database& raw) {
  undo_migration_6(raw);
  raw.exec("DROP TABLE deliveries");
  raw.exec("DROP TABLE reviewers");
  raw.exec("DROP INDEX tasks_by_assignee");
  raw.exec("DROP INDEX reviews_by_reviewer");
  for (const char* col : {"skills", "pool", "reviews_required", "reviews_done", "gold", "gold_label", "sla_state",
                          "escalations", "preassigned", "origin"})
    raw.exec(std::string("ALTER TABLE tasks DROP COLUMN ") + col);
  raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 5");
}

// Turns a file back into what version 3 wrote (undoing 5 first): without the payload, truth and
// review-start columns and the windowed read indexes of version 4.
inline void undo_migration_4(SQLite::Database& raw) {
  undo_migration_5(raw);
  for (const char* index : {"decisions_by_created", "reviews_by_domain", "reviews_by_decision", "feedback_by_decision"})
    raw.exec(std::string("DROP INDEX ") + index);
  for (const char* col : {"input_hash", "erased_ms", "truth_label", "truth_ms"})
    raw.exec(std::string("ALTER TABLE decisions DROP COLUMN ") + col);
  raw.exec("ALTER TABLE reviews DROP COLUMN started_ms");
  raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 4");
}

}  // namespace storage_testing
