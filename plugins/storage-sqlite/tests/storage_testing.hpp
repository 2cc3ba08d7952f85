#pragma once
// Shared by the storage test files (one test binary): the plugin loaded through Boost.DLL as
// the host loads it, fresh databases, and opening a storage object.
//
// The suite runs against two backends. By default it is storage-sqlite's (a database file per
// TempDir). With HITL_TEST_BACKEND=postgres (plugins/storage-sqlite/CMakeLists.txt registers the
// binary a second time so) it opens storage-postgres.so on the throw-away PostgreSQL server, a
// fresh database per TempDir; cases tagged [sqlite-only] read SQLite internals and are left out.
#include <hitl/plugin_api.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif
#include "support/backend.hpp"
#include "support/temp_dir.hpp"

#include <cstdlib>
#include <iostream>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

namespace storage_testing {
namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

using hitl::test::on_postgres;

inline const sdk::PluginDescriptor& plugin() {
  // Kept for the whole run: storage objects must not outlive the library that made them.
  static auto entry = boost::dll::import_alias<const sdk::PluginDescriptor*()>(
      boost::dll::fs::path(on_postgres() ? HITL_PLUGIN_DIR "/storage-postgres.so" : HITL_PLUGIN_DIR "/storage-sqlite.so"),
      HITL_PLUGIN_ENTRY_SYMBOL, boost::dll::load_mode::rtld_now);
  return *entry();
}

// A fresh directory per test case, removed afterwards; the database inside it: a file, or on
// PostgreSQL a fresh database (the same one for every call with the same folder).
using TempDir = hitl::test::TempDir;
inline std::string db_of(const TempDir& dir) {
  if (!on_postgres()) return (dir.path / "hitl.db").string();
#if HITL_TEST_WITH_POSTGRES
  return hitl::test::pg::database_for_folder(dir.path.string());
#else
  std::cout << "HITL_SKIPPED: built without PostgreSQL (HITL_WITH_POSTGRES=OFF)" << std::endl;
  std::exit(0);
#endif
}

inline std::string config(const std::string& db, nlohmann::json extra = nlohmann::json::object()) {
  extra[on_postgres() ? "url" : "path"] = db;
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

// Plain SQL on the database from outside the plugin (either backend): what it changed, or the
// first column of its first row. Failures throw (SQLite::Exception, pqxx::sql_error).
inline long long raw_exec(const std::string& db, const std::string& sql) {
  if (!on_postgres()) {
    SQLite::Database raw(db, SQLite::OPEN_READWRITE);
    return raw.exec(sql);
  }
#if HITL_TEST_WITH_POSTGRES
  pqxx::connection c(db);
  pqxx::work tx(c);
  const auto r = tx.exec(sql);
  tx.commit();
  return static_cast<long long>(r.affected_rows());
#else
  return 0;  // unreachable: db_of() ended the process
#endif
}
inline std::string raw_text(const std::string& db, const std::string& sql) {
  if (!on_postgres()) {
    SQLite::Database raw(db, SQLite::OPEN_READWRITE);
    SQLite::Statement q(raw, sql);
    return q.executeStep() ? q.getColumn(0).getString() : "";
  }
#if HITL_TEST_WITH_POSTGRES
  pqxx::connection c(db);
  pqxx::work tx(c);
  const auto r = tx.exec(sql);
  tx.commit();
  return r.empty() ? "" : r[0][0].c_str();
#else
  return "";  // unreachable: db_of() ended the process
#endif
}
inline long long raw_int(const std::string& db, const std::string& sql) { return std::stoll(raw_text(db, sql)); }

inline int count_rows(const std::string& db, const std::string& table) {
  return static_cast<int>(raw_int(db, "SELECT COUNT(*) FROM " + table));
}

// The newest storage-sqlite schema version; tests that rebuild an older file undo the newer ones.
inline constexpr int kLatestSchema = 7;
// storage-postgres's (it started at sqlite's 6 in one go: plugins/storage-postgres/src/pg_schema.cpp).
inline constexpr int kLatestPostgresSchema = 5;

// Turns a file back into what version 6 wrote: without the blobs of version 7.
inline void undo_migration_7(SQLite::Database& raw) {
  raw.exec("DROP TABLE blobs");
  raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 7");
}

// Turns a file back into what version 5 wrote (undoing 7 first): without the token life cycle of
// version 6.
inline void undo_migration_6(SQLite::Database& raw) {
  undo_migration_7(raw);
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
