#include "migrations.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

namespace hitl::queue_sqlite {

using sdk::Code;
using sdk::Status;

namespace {

// Every component sharing the file creates the table with exactly this statement.
constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT NOT NULL, version INTEGER NOT NULL, "
    "applied_ms INTEGER NOT NULL, PRIMARY KEY(component, version))";

}  // namespace

const std::vector<Migration>& queue_migrations() {
  // due_ms is the deadline with "none" (0) mapped to INT64_MAX, so that one ascending index
  // column gives "earliest deadline first, no deadline last". task_id is the rowid, which every
  // index carries as its last column, so queue_items_dispatch serves the whole claim ORDER BY.
  static const std::vector<Migration> list = {
      {1, "create queue_items",
       "CREATE TABLE queue_items("
       "  task_id       INTEGER PRIMARY KEY,"
       "  domain        TEXT    NOT NULL,"
       "  priority      REAL    NOT NULL,"
       "  deadline_ms   INTEGER NOT NULL,"
       "  due_ms        INTEGER NOT NULL,"
       "  created_ms    INTEGER NOT NULL,"
       "  leased_by     TEXT,"
       "  lease_expires INTEGER NOT NULL DEFAULT 0);"
       "CREATE INDEX queue_items_dispatch ON queue_items(domain, priority DESC, due_ms, created_ms);"
       "CREATE INDEX queue_items_leases ON queue_items(lease_expires) WHERE leased_by IS NOT NULL;"},
      // Queue depth must not cost a COUNT over the whole queue (issue 19: 0.5 s per /metrics
      // scrape at 315k items). Triggers keep one row per domain in step with queue_items in the
      // writing transaction itself, whoever writes; the leased share comes from the partial index
      // queue_items_leases, whose size is bounded by the reviewers, not by the backlog. The
      // seeding COUNT runs once, inside this migration.
      {2, "per-domain item counts kept by triggers",
       "CREATE TABLE queue_counts(domain TEXT PRIMARY KEY, items INTEGER NOT NULL) WITHOUT ROWID;"
       "INSERT INTO queue_counts(domain, items) SELECT domain, COUNT(*) FROM queue_items GROUP BY domain;"
       "CREATE TRIGGER queue_counts_insert AFTER INSERT ON queue_items BEGIN "
       "  INSERT INTO queue_counts(domain, items) VALUES (NEW.domain, 1) "
       "  ON CONFLICT(domain) DO UPDATE SET items = items + 1; END;"
       "CREATE TRIGGER queue_counts_delete AFTER DELETE ON queue_items BEGIN "
       "  UPDATE queue_counts SET items = items - 1 WHERE domain = OLD.domain; END;"
       "CREATE TRIGGER queue_counts_move AFTER UPDATE OF domain ON queue_items "
       "WHEN NEW.domain IS NOT OLD.domain BEGIN "
       "  UPDATE queue_counts SET items = items - 1 WHERE domain = OLD.domain;"
       "  INSERT INTO queue_counts(domain, items) VALUES (NEW.domain, 1) "
       "  ON CONFLICT(domain) DO UPDATE SET items = items + 1; END;"},
  };
  return list;
}

int recorded_version(SQLite::Database& db, const char* component) {
  SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?");
  q.bind(1, component);
  q.executeStep();
  return q.getColumn(0).getInt();
}

Status apply_migrations(SQLite::Database& db, const std::string& db_label, const char* component,
                        const std::vector<Migration>& migrations, std::int64_t now_ms) noexcept {
  const std::string where = db_label + ": " + component + " schema: ";
  try {
    for (std::size_t i = 1; i < migrations.size(); ++i)
      if (migrations[i].version <= migrations[i - 1].version)
        return Status::Error(Code::internal, where + "migration list is not in increasing version order");
    const int latest = migrations.empty() ? 0 : migrations.back().version;

    // IMMEDIATE: take the write lock before reading the version, so a concurrent opener waits
    // (busy_timeout) and then sees our rows instead of applying the same migrations twice.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(kCreateMigrationsTable);
    const int current = recorded_version(db, component);
    if (current > latest)
      return Status::Error(Code::conflict,
                           where + "the database is at version " + std::to_string(current) +
                               ", newer than this plugin supports (" + std::to_string(latest) +
                               "); use a newer plugin build or another database file");
    SQLite::Statement record(db, "INSERT INTO schema_migrations(component, version, applied_ms) VALUES (?, ?, ?)");
    for (const Migration& m : migrations) {
      if (m.version <= current) continue;
      try {
        db.exec(m.sql);
      } catch (const SQLite::Exception& e) {
        return Status::Error(Code::internal, where + "migration " + std::to_string(m.version) + " (" +
                                                 m.what + ") failed: " + e.what());
      }
      record.reset();
      record.bind(1, component);
      record.bind(2, m.version);
      record.bind(3, static_cast<std::int64_t>(now_ms));
      record.exec();
    }
    tx.commit();
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    const int primary = e.getErrorCode() & 0xff;
    const Code code = (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? Code::unavailable : Code::internal;
    return Status::Error(code, where + e.what());
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, where + e.what());
  }
}

}  // namespace hitl::queue_sqlite
