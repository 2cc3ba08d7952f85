#include "schema.hpp"

#include "audit_chain.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <iterator>
#include <string>
#include <vector>

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
  void (*then)(SQLite::Database& db);  // C++ steps run after `sql`; may be null
};

void chain_existing_audit(SQLite::Database& db);
void create_transition_trigger(SQLite::Database& db);
void hash_existing_inputs(SQLite::Database& db);
void create_token_life_triggers(SQLite::Database& db);

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
)sql", nullptr},
    // The audit trail becomes a hash chain (format: plugin_api.hpp, above sdk::AuditRecord).
    // Records written before this migration are chained as they are found now, in seq order,
    // so an upgraded database verifies from its first record on. The UPDATE trigger is dropped
    // for the backfill and recreated (unchanged) by chain_existing_audit.
    {2, "audit hash chain: prev_hash and hash columns, existing records chained", R"sql(
DROP TRIGGER audit_no_update;
ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
)sql", &chain_existing_audit},
    // The task lifecycle becomes a state machine the database itself enforces, whoever writes:
    // task_transitions lists the legal (from, to) pairs and a trigger aborts any other status
    // change (create_transition_trigger). Same status to same status is legal only for
    // assigned (a re-claim). The service's guarded TaskUpdate still decides *whether* to move;
    // the trigger only refuses moves the lifecycle does not have.
    {3, "task lifecycle: task_transitions table and a trigger refusing illegal status changes", R"sql(
CREATE TABLE task_transitions(
  from_status TEXT NOT NULL,
  to_status TEXT NOT NULL,
  PRIMARY KEY(from_status, to_status)
) WITHOUT ROWID;
INSERT INTO task_transitions(from_status, to_status) VALUES
  ('pending', 'assigned'),     -- claim
  ('assigned', 'assigned'),    -- re-claim (same reviewer, or another after the lease expired)
  ('assigned', 'pending'),     -- lease expired, or released
  ('assigned', 'completed'),   -- review submitted (a review needs a claim: never from pending)
  ('completed', 'pending'),    -- sent back for re-review by an admin
  ('pending', 'escalated'),    -- escalation (reserved)
  ('assigned', 'escalated'),
  ('escalated', 'pending'),
  ('escalated', 'assigned'),
  ('pending', 'cancelled'),    -- cancelled by an admin
  ('assigned', 'cancelled'),
  ('escalated', 'cancelled');
)sql", &create_transition_trigger},
    // Payloads become erasable without touching the audit chain (the chain records input_hash,
    // never the input), clients can report ground truth after the fact, and reviews record when
    // the reviewer's lease began (their work time feeds the cost metric). The indexes serve the
    // report's windowed reads. Existing decisions get their input_hash computed here.
    {4, "payload erasure, ground truth, review start times, windowed read indexes", R"sql(
ALTER TABLE decisions ADD COLUMN input_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN erased_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN truth_label TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN truth_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reviews ADD COLUMN started_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX decisions_by_created ON decisions(domain, created_ms, id);
CREATE INDEX reviews_by_domain ON reviews(domain, created_ms, review_id);
CREATE INDEX reviews_by_decision ON reviews(domain, decision_id);
CREATE INDEX feedback_by_decision ON feedback(domain, decision_id);
)sql", &hash_existing_inputs},
    // The review workflow: per-task skills, pool, consensus counters, gold answers, SLA state,
    // push assignment and the submitting account (four-eyes); the reviewer registry; webhook
    // deliveries kept until delivered so none is lost across a restart.
    {5, "review workflow: task workflow columns, reviewers, webhook deliveries", R"sql(
ALTER TABLE tasks ADD COLUMN skills TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN pool TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN reviews_required INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN reviews_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN gold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN gold_label TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN sla_state TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN preassigned TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN origin TEXT NOT NULL DEFAULT '';
CREATE INDEX tasks_by_assignee ON tasks(assignee, status, task_id);
CREATE INDEX reviews_by_reviewer ON reviews(reviewer, created_ms);

CREATE TABLE reviewers(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  roles TEXT NOT NULL DEFAULT 'reviewer',
  domains TEXT NOT NULL DEFAULT '',
  skills TEXT NOT NULL DEFAULT '',
  capacity INTEGER NOT NULL DEFAULT 1,
  cost_per_hour REAL NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE deliveries(
  delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  event TEXT NOT NULL,
  url TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  delivered_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_ms);
CREATE INDEX deliveries_by_decision ON deliveries(domain, decision_id);
)sql", nullptr},
    // Storage 1.1: the token life cycle (token_store.hpp). token_life is kept by the triggers on
    // tokens, in the transaction that writes the token row.
    {6, "token life cycle: token_life (expiry, last use, revocation time) kept by triggers on tokens", R"sql(
CREATE TABLE token_life(
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  domains TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL DEFAULT 0,
  last_used_ms INTEGER NOT NULL DEFAULT 0,
  revoked_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE token_expiries(
  hash TEXT PRIMARY KEY,
  expires_ms INTEGER NOT NULL,
  written_ms INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO token_life(name, role, domains, created_ms, revoked_ms)
  SELECT name, role, domains, created_ms, CASE WHEN revoked THEN created_ms ELSE 0 END FROM tokens;
)sql", create_token_life_triggers},
    // Storage 1.3: named blobs (the registry's artifacts and dataset versions when instances
    // share a database). A rowid table: its rows are large, and live beside the index on name.
    {7, "named blobs: blobs(name, bytes, size, sha256, updated_ms)", R"sql(
CREATE TABLE blobs(
  name TEXT NOT NULL PRIMARY KEY,
  bytes BLOB NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);
)sql", nullptr},
};

void hash_existing_inputs(SQLite::Database& db) {
  AuditHasher hasher;
  SQLite::Statement page(db, "SELECT rowid, input_json FROM decisions WHERE rowid > ? ORDER BY rowid LIMIT 1000");
  SQLite::Statement update(db, "UPDATE decisions SET input_hash = ? WHERE rowid = ?");
  std::vector<std::pair<std::int64_t, std::string>> rows;
  for (std::int64_t after = 0;;) {
    rows.clear();
    page.reset();
    page.bind(1, after);
    while (page.executeStep()) rows.emplace_back(page.getColumn(0).getInt64(), hasher.sha256_hex(page.getColumn(1).getString()));
    page.reset();
    if (rows.empty()) break;
    for (auto& [rowid, hash] : rows) {
      update.reset();
      update.bind(1, hash);
      update.bind(2, rowid);
      update.exec();
    }
    after = rows.back().first;
  }
}

// RAISE() takes only a literal message in SQLite 3.40 (Debian 12), so the trigger names the
// refused pair through one CASE branch per pair of known states; the table alone decides
// what is legal (a branch for a legal pair is never reached).
void create_transition_trigger(SQLite::Database& db) {
  static const char* const kStates[] = {"pending", "assigned", "completed", "escalated", "cancelled"};
  std::string sql =
      "CREATE TRIGGER tasks_status_transition BEFORE UPDATE OF status ON tasks "
      "WHEN NOT EXISTS (SELECT 1 FROM task_transitions "
      "WHERE from_status = OLD.status AND to_status = NEW.status) "
      "BEGIN SELECT CASE";
  for (const char* from : kStates)
    for (const char* to : kStates)
      sql += std::string(" WHEN OLD.status = '") + from + "' AND NEW.status = '" + to +
             "' THEN RAISE(ABORT, 'illegal task transition " + from + " -> " + to + "')";
  sql += " ELSE RAISE(ABORT, 'illegal task transition: unknown task status (known: pending, assigned, "
         "completed, escalated, cancelled)') END; END";
  db.exec(sql);
}

// One trigger per way a token row is written (the upsert inserts or updates): a live row sets the
// name's life cycle anew, with the expiry written for its hash; a revoked row (the revocation
// gives the name a hash no secret has) records when.
void create_token_life_triggers(SQLite::Database& db) {
  for (const char* event : {"INSERT", "UPDATE"}) {
    db.exec(std::string("CREATE TRIGGER token_life_on_") + event + " AFTER " + event + " ON tokens BEGIN "
            "INSERT INTO token_life(name, role, domains, created_ms, expires_ms) "
            "  SELECT NEW.name, NEW.role, NEW.domains, NEW.created_ms, "
            "         COALESCE((SELECT expires_ms FROM token_expiries WHERE hash = NEW.hash), 0) "
            "  WHERE NEW.revoked = 0 "
            "  ON CONFLICT(name) DO UPDATE SET role = excluded.role, domains = excluded.domains, "
            "    created_ms = excluded.created_ms, expires_ms = excluded.expires_ms, last_used_ms = 0, revoked_ms = 0; "
            "UPDATE token_life SET revoked_ms = NEW.created_ms WHERE name = NEW.name AND NEW.revoked = 1 AND revoked_ms = 0; "
            "DELETE FROM token_expiries WHERE hash = NEW.hash; "
            "END");
  }
}

// Reads in pages so that a large trail is never held in memory at once.
void chain_existing_audit(SQLite::Database& db) {
  struct Link {
    std::int64_t seq;
    std::string prev_hash, hash;
  };
  AuditHasher hasher;
  SQLite::Statement page(db,
                         "SELECT seq, ts_ms, actor, action, domain, entity, entity_id, detail_json FROM audit "
                         "WHERE seq > ? ORDER BY seq LIMIT 1000");
  SQLite::Statement update(db, "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?");
  std::string prev = sdk::kAuditGenesisHash;
  std::vector<Link> links;
  for (std::int64_t after = 0;;) {
    links.clear();
    page.reset();
    page.bind(1, after);
    while (page.executeStep()) {
      sdk::AuditRecord r;
      r.seq = page.getColumn(0).getInt64();
      r.ts_ms = page.getColumn(1).getInt64();
      r.actor = page.getColumn(2).getString();
      r.action = page.getColumn(3).getString();
      r.domain = page.getColumn(4).getString();
      r.entity = page.getColumn(5).getString();
      r.entity_id = page.getColumn(6).getString();
      r.detail_json = page.getColumn(7).getString();
      std::string hash = hasher.hash(r, prev);
      links.push_back({r.seq, std::move(prev), hash});
      prev = std::move(hash);
    }
    page.reset();  // no open read on the table while it is updated
    if (links.empty()) break;
    for (const auto& l : links) {
      update.reset();
      update.bind(1, l.prev_hash);
      update.bind(2, l.hash);
      update.bind(3, l.seq);
      update.exec();
    }
    after = links.back().seq;
  }
  db.exec("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
          "BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END");
}

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
      if (m.then) m.then(db);
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
