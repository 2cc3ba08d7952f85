// Opening the database: directories, WAL, migrations, the two connections. The storage itself
// is storage_impl.hpp's SqliteStorage.
#include "sqlite_storage.hpp"

#include "schema.hpp"
#include "storage_impl.hpp"
#include "token_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace hitl::storage_sqlite {

using sdk::Code;
using sdk::Status;

Status SqliteStorage::schema_version(int& out) noexcept {
  out = 0;
  return read("schema_version", [&](StatementCache& cache) {
    const std::string component = kComponent;
    auto& s = fresh(cache.get("SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?"));
    ResetOnExit reset{s};
    s.bindNoCopy(1, component);
    if (s.executeStep()) out = s.getColumn(0).getInt();
  });
}

sdk::Status open_storage(const StorageConfig& cfg, std::unique_ptr<sdk::Storage>& out) noexcept {
  out.reset();
  const char* step = "opening";
  try {
    const std::filesystem::path file(cfg.path);
    if (file.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec)
        return Status::Error(Code::invalid_argument, "storage-sqlite: cannot create directory " +
                                                         file.parent_path().string() + " for 'path': " + ec.message());
    }

    // SQLite's memory statistics take one process-wide mutex on every allocation, which the
    // writer, the readers and the queue's connection then contend for: 8 % of `hitl ingest`'s CPU
    // (docs/performance.md). Nothing reads them. Only possible before SQLite's first use in the
    // process (else SQLITE_MISUSE, and they stay on).
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // NOMUTEX: each connection is used under its own lock (or by the single writer thread).
    auto writer = std::make_unique<SQLite::Database>(
        cfg.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, cfg.busy_timeout_ms);
    step = "enabling WAL on";
    {
      SQLite::Statement mode(*writer, "PRAGMA journal_mode = WAL");
      std::string got = mode.executeStep() ? mode.getColumn(0).getString() : "";
      std::transform(got.begin(), got.end(), got.begin(), [](unsigned char c) { return std::tolower(c); });
      if (got != "wal")
        return Status::Error(Code::invalid_argument, "storage-sqlite: cannot use WAL journal mode on " + cfg.path +
                                                         " (SQLite answered '" + got + "'); use a regular file");
    }
    // WAL + NORMAL: a commit survives a process crash; only an OS crash / power cut can lose
    // the last commits. FULL fsyncs the WAL on every commit.
    writer->exec(cfg.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");

    step = "migrating";
    int version = 0;
    if (Status st = migrate(*writer, cfg.path, now_ms(), version); !st.ok()) return st;

    step = "opening the read connection to";
    auto reader = std::make_unique<SQLite::Database>(cfg.path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX,
                                                     cfg.busy_timeout_ms);
    step = "preparing statements on";
    out = with_token_life(std::make_unique<SqliteStorage>(cfg, std::move(writer), std::move(reader)), cfg);
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    const int primary = e.getErrorCode() & 0xff;
    // CANTOPEN / NOTADB / READONLY are about the configured path, not a transient failure.
    const Code code = primary == SQLITE_CANTOPEN || primary == SQLITE_NOTADB || primary == SQLITE_READONLY ||
                              primary == SQLITE_PERM
                          ? Code::invalid_argument
                          : code_for(e);
    return Status::Error(code, std::string("storage-sqlite: ") + step + " database " + cfg.path + " failed: " + e.what());
  } catch (const std::exception& e) {
    return Status::Error(Code::internal,
                         std::string("storage-sqlite: ") + step + " database " + cfg.path + " failed: " + e.what());
  }
}

}  // namespace hitl::storage_sqlite
