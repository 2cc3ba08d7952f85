// queue-postgres's schema and the statements it runs per call, in one place.
#pragma once

#include "pg_migrate.hpp"

#include <vector>

namespace hitl::queue_postgres::sql {

// Migration 3's statement, also quoted by docs/deploy.md (a test keeps the two the same).
inline constexpr const char* kAutovacuum =
    "ALTER TABLE queue_items SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);";

// due_ms is the deadline with "none" (0) mapped to INT64_MAX: one ascending index column gives
// "earliest deadline first, no deadline last", so queue_items_dispatch serves the claim's ORDER BY.
// queue_counts keeps one row per domain in step with queue_items, in the writing transaction,
// whoever writes (as queue-sqlite's migration 2): depth never counts the backlog (per statement
// since version 2). The leased
// share comes from the partial index queue_items_leases, bounded by the reviewers.
inline const std::vector<pg::Migration>& migrations() {
  static const std::vector<pg::Migration> list = {
      {1, "queue_items, per-domain counts kept by a trigger", R"sql(
CREATE TABLE queue_items(
  task_id BIGINT PRIMARY KEY, domain TEXT NOT NULL, priority DOUBLE PRECISION NOT NULL,
  deadline_ms BIGINT NOT NULL, due_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL,
  leased_by TEXT, lease_expires BIGINT NOT NULL DEFAULT 0);
CREATE INDEX queue_items_dispatch ON queue_items(domain, priority DESC, due_ms, created_ms, task_id);
CREATE INDEX queue_items_leases ON queue_items(domain, lease_expires) WHERE leased_by IS NOT NULL;
CREATE TABLE queue_counts(domain TEXT PRIMARY KEY, items BIGINT NOT NULL);
CREATE FUNCTION hitl_queue_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE queue_counts SET items = items - 1 WHERE domain = OLD.domain;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO queue_counts(domain, items) VALUES (NEW.domain, 1)
      ON CONFLICT(domain) DO UPDATE SET items = queue_counts.items + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER queue_counts_insert_delete AFTER INSERT OR DELETE ON queue_items
  FOR EACH ROW EXECUTE FUNCTION hitl_queue_count();
CREATE TRIGGER queue_counts_move AFTER UPDATE OF domain ON queue_items
  FOR EACH ROW WHEN (NEW.domain IS DISTINCT FROM OLD.domain) EXECUTE FUNCTION hitl_queue_count();
)sql"},
      // Version 1 counted row by row: a push of n items updated the domain's one counter row n
      // times in one transaction, and each update (through ON CONFLICT's index check) walked the
      // chain of that row's versions the transaction had made so far -- quadratic in the push,
      // 48 ms of server time per 1000 items and half of a batch ingest's server time
      // (docs/performance.md). Counted per statement from its transition table, a push updates
      // each domain's row once. Domains in name order: two pushers lock counter rows in one order.
      {2, "queue counts per statement (transition tables), not per row", R"sql(
DROP TRIGGER queue_counts_insert_delete ON queue_items;
CREATE FUNCTION hitl_queue_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO queue_counts(domain, items)
    SELECT domain, COUNT(*) FROM inserted_items GROUP BY domain ORDER BY domain
    ON CONFLICT(domain) DO UPDATE SET items = queue_counts.items + excluded.items;
  RETURN NULL;
END $$;
CREATE FUNCTION hitl_queue_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE queue_counts SET items = items - gone.n
    FROM (SELECT domain, COUNT(*) AS n FROM deleted_items GROUP BY domain) gone
    WHERE queue_counts.domain = gone.domain;
  RETURN NULL;
END $$;
CREATE TRIGGER queue_counts_insert AFTER INSERT ON queue_items REFERENCING NEW TABLE AS inserted_items
  FOR EACH STATEMENT EXECUTE FUNCTION hitl_queue_count_inserted();
CREATE TRIGGER queue_counts_delete AFTER DELETE ON queue_items REFERENCING OLD TABLE AS deleted_items
  FOR EACH STATEMENT EXECUTE FUNCTION hitl_queue_count_deleted();
)sql"},
      // Every ack leaves a dead entry at the head of queue_items_dispatch, and every claim steps
      // over the dead entries until a vacuum removes them (305 buffers a claim after 20k acks, 30
      // after a VACUUM: docs/performance.md). By default autovacuum waits for 20 % of the table to
      // be dead: 200k rows at a million pending. After a fixed number instead, whatever the
      // backlog (how often autovacuum looks is the server's autovacuum_naptime: docs/deploy.md).
      {3, "queue_items vacuumed after a fixed number of dead rows, not a share of the queue", kAutovacuum},
  };
  return list;
}

// Many items in one statement, one array per column (as storage-postgres's bulk inserts). An
// escalation re-ranks an item pushed again; its lease stays. An item pushed again unchanged (the
// start-up re-queue pushes every open task) writes nothing.
inline constexpr const char* kPush =
    "INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::bigint[], $5::bigint[], $6::bigint[]) "
    "ON CONFLICT(task_id) DO UPDATE SET priority = excluded.priority, deadline_ms = excluded.deadline_ms, "
    "due_ms = excluded.due_ms WHERE queue_items.priority IS DISTINCT FROM excluded.priority "
    "OR queue_items.deadline_ms IS DISTINCT FROM excluded.deadline_ms";

// Whether either of two items is queued (copy_new's guess that a push holds new items only).
inline constexpr const char* kAnyQueued = "SELECT EXISTS(SELECT 1 FROM queue_items WHERE task_id IN ($1, $2))";

// One statement picks and leases the best ready item. FOR UPDATE SKIP LOCKED: a claimer in
// another connection (another instance) passes over the row this one is taking instead of
// waiting for it, and a row leased meanwhile is re-checked against the WHERE clause and skipped:
// every item is claimed by exactly one claimer.
inline constexpr const char* kClaim =
    "UPDATE queue_items SET leased_by = $1, lease_expires = $2 "
    "WHERE task_id = (SELECT task_id FROM queue_items "
    "                 WHERE domain = $3 AND (leased_by IS NULL OR lease_expires < $4) "
    "                 ORDER BY priority DESC, due_ms, created_ms, task_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING task_id, lease_expires";

inline constexpr const char* kAck = "DELETE FROM queue_items WHERE task_id = $1 AND leased_by = $2 AND lease_expires >= $3";
inline constexpr const char* kRelease =
    "UPDATE queue_items SET leased_by = NULL, lease_expires = 0 WHERE task_id = $1 AND leased_by = $2";
// Only a live lease of this reviewer is extended: an expired one may be someone else's.
inline constexpr const char* kRenew =
    "UPDATE queue_items SET lease_expires = $3 WHERE task_id = $1 AND leased_by = $2 AND lease_expires >= $4";
inline constexpr const char* kLookup = "SELECT leased_by, lease_expires FROM queue_items WHERE task_id = $1";
inline constexpr const char* kExpire =
    "UPDATE queue_items SET leased_by = NULL, lease_expires = 0 "
    "WHERE leased_by IS NOT NULL AND lease_expires < $1 RETURNING task_id";
// Depth: one statement, so both figures come from one snapshot.
inline constexpr const char* kDepthDomain =
    "SELECT COALESCE((SELECT items FROM queue_counts WHERE domain = $1), 0), "
    "(SELECT COUNT(*) FROM queue_items WHERE leased_by IS NOT NULL AND domain = $1 AND lease_expires >= $2)";
inline constexpr const char* kDepthAll =
    "SELECT COALESCE((SELECT SUM(items) FROM queue_counts), 0)::bigint, "
    "(SELECT COUNT(*) FROM queue_items WHERE leased_by IS NOT NULL AND lease_expires >= $1)";

}  // namespace hitl::queue_postgres::sql
