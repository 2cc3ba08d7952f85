#include "schema.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <iterator>

namespace hitl::storage_sqlite {

const char* const kSchemaMigrationsDdl =
    "CREATE TABLE IF NOT EXISTS schema_migrations("
    "component TEXT NOT NULL, version INTEGER NOT NULL, applied_ms INTEGER NOT NULL, "
    "PRIMARY KEY(component, version))";

namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Ordered, append-only: never edit a migration that has shipped; add a new one instead.
// Every text column is NOT NULL with '' as "absent" so reads need no NULL handling.
const Migration kMigrations[] = {
    {1, "decisions, tasks, reviews, feedback, append-only audit, tokens", R"sql(
CREATE TABLE decisions(
  domain TEXT NOT NULL,
  id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  task_id INTEGER NOT NULL DEFAULT 0,
  priority REAL NOT NULL DEFAULT 0,
  label TEXT NOT NULL DEFAULT '',
  confidence REAL NOT NULL DEFAULT 0,
  input_json TEXT NOT NULL DEFAULT '{}',
  prediction_json TEXT NOT NULL DEFAULT '{}',
  meta_json TEXT NOT NULL DEFAULT '{}',
  model_version TEXT NOT NULL DEFAULT '',
  policy_hash TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  final_label TEXT NOT NULL DEFAULT '',
  final_outcome TEXT NOT NULL DEFAULT '',
  final_ms INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(domain, id)
);

-- AUTOINCREMENT: a task id is never reused, even after the newest task row is removed.
CREATE TABLE tasks(
  task_id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  status TEXT NOT NULL,
  priority REAL NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  assignee TEXT NOT NULL DEFAULT '',
  lease_expires_ms INTEGER NOT NULL DEFAULT 0,
  deadline_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX tasks_by_domain_status ON tasks(domain, status, task_id);
CREATE INDEX tasks_by_status ON tasks(status, task_id);

CREATE TABLE reviews(
  review_id INTEGER PRIMARY KEY,
  task_id INTEGER NOT NULL,
  domain TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  outcome TEXT NOT NULL,
  final_label TEXT NOT NULL DEFAULT '',
  comment TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE INDEX reviews_by_task ON reviews(task_id, created_ms);

CREATE TABLE feedback(
  feedback_id INTEGER PRIMARY KEY,
  domain TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  input_json TEXT NOT NULL DEFAULT '{}',
  final_label TEXT NOT NULL DEFAULT '',
  model_label TEXT NOT NULL DEFAULT '',
  model_confidence REAL NOT NULL DEFAULT 0,
  outcome TEXT NOT NULL DEFAULT '',
  reviewer TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL
);
CREATE INDEX feedback_by_domain ON feedback(domain, created_ms);

-- The audit trail is append-only: the triggers refuse any UPDATE or DELETE, whoever issues it.
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  domain TEXT NOT NULL DEFAULT '',
  entity TEXT NOT NULL DEFAULT '',
  entity_id TEXT NOT NULL DEFAULT '',
  detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_domain ON audit(domain, seq);
CREATE INDEX audit_by_entity ON audit(entity_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit is append-only: DELETE refused'); END;

CREATE TABLE tokens(
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  domains TEXT NOT NULL DEFAULT '',
  hash TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
);
)sql"},
};

int current_version(SQLite::Database& db) {
  SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?");
  q.bind(1, kComponent);
  q.executeStep();
  return q.getColumn(0).getInt();
}

}  // namespace

int latest_schema_version() noexcept { return std::prev(std::end(kMigrations))->version; }

sdk::Status migrate(SQLite::Database& db, const std::string& path, std::int64_t now_ms, int& version) noexcept {
  const char* step = "starting the migration transaction";
  int applying = 0;
  try {
    // IMMEDIATE: a second process (or the queue plugin) opening the same file at the same
    // moment waits on the busy timeout instead of racing us through the same migrations.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    step = "creating schema_migrations";
    db.exec(kSchemaMigrationsDdl);
    step = "reading the schema version";
    version = current_version(db);
    const int latest = latest_schema_version();
    if (version > latest) {
      return sdk::Status::Error(
          sdk::Code::conflict,
          "storage-sqlite: database " + path + " has storage schema version " + std::to_string(version) +
              " but this plugin knows versions up to " + std::to_string(latest) +
              "; it was written by a newer hitl: upgrade the plugin (refusing to open it)");
    }
    SQLite::Statement record(db, "INSERT INTO schema_migrations(component, version, applied_ms) VALUES(?, ?, ?)");
    for (const auto& m : kMigrations) {
      if (m.version <= version) continue;
      applying = m.version;
      step = "applying migration";
      db.exec(m.sql);
      record.reset();
      record.bind(1, kComponent);
      record.bind(2, m.version);
      record.bind(3, static_cast<std::int64_t>(now_ms));
      record.exec();
      version = m.version;
    }
    step = "committing the migrations";
    tx.commit();
    return sdk::Status::Ok();
  } catch (const SQLite::Exception& e) {
    const int primary = e.getErrorCode() & 0xff;
    std::string where = step;
    if (applying) where += " " + std::to_string(applying);
    return sdk::Status::Error(
        primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? sdk::Code::unavailable : sdk::Code::internal,
        "storage-sqlite: " + where + " on " + path + " failed: " + e.what());
  } catch (const std::exception& e) {
    return sdk::Status::Error(sdk::Code::internal, "storage-sqlite: " + std::string(step) + " on " + path +
                                                       " failed: " + e.what());
  }
}

}  // namespace hitl::storage_sqlite
