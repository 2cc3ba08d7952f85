// The statements queue-sqlite runs per call, in one place so the tests can EXPLAIN exactly the
// text the plugin prepares (tests/test_queue_sqlite.cpp asserts none scans queue_items).
#pragma once

namespace hitl::queue_sqlite::sql {

// An escalation re-ranks an item pushed again; its lease stays. An item pushed again unchanged
// (the start-up re-queue pushes every open task) writes nothing: no page is dirtied, so the walk
// over a large backlog costs reads, not the write lock the ingest path needs.
inline constexpr const char* kInsert =
    "INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(task_id) DO UPDATE SET priority = excluded.priority, "
    "deadline_ms = excluded.deadline_ms, due_ms = excluded.due_ms "
    "WHERE priority IS NOT excluded.priority OR deadline_ms IS NOT excluded.deadline_ms";

// One statement picks and leases the best ready item, so two claimers can never take the same
// one. The subquery walks queue_items_dispatch in order and stops at the first ready row: it
// passes over live leases only, so its cost is bounded by the leases, not by the backlog.
inline constexpr const char* kClaim =
    "UPDATE queue_items SET leased_by = ?1, lease_expires = ?2 "
    "WHERE task_id = (SELECT task_id FROM queue_items "
    "                 WHERE domain = ?3 AND (leased_by IS NULL OR lease_expires < ?4) "
    "                 ORDER BY priority DESC, due_ms, created_ms, task_id LIMIT 1) "
    "RETURNING task_id, lease_expires";

inline constexpr const char* kAck =
    "DELETE FROM queue_items WHERE task_id = ?1 AND leased_by = ?2 AND lease_expires >= ?3";
inline constexpr const char* kRelease =
    "UPDATE queue_items SET leased_by = NULL, lease_expires = 0 WHERE task_id = ?1 AND leased_by = ?2";
// Only a live lease of this reviewer is extended (queue 1.1): an expired one may be someone else's.
inline constexpr const char* kRenew =
    "UPDATE queue_items SET lease_expires = ?3 WHERE task_id = ?1 AND leased_by = ?2 AND lease_expires >= ?4";
inline constexpr const char* kLookup = "SELECT leased_by, lease_expires FROM queue_items WHERE task_id = ?1";
inline constexpr const char* kExpire =
    "UPDATE queue_items SET leased_by = NULL, lease_expires = 0 "
    "WHERE leased_by IS NOT NULL AND lease_expires < ?1 RETURNING task_id";

// Depth = the domain's item count (kept by triggers, migration 2) minus its live leases, read
// through the partial index queue_items_leases (INDEXED BY: preparing fails rather than fall back
// to a scan). Neither visits more rows than there are domains or leases, whatever the backlog.
inline constexpr const char* kItemsDomain = "SELECT COALESCE((SELECT items FROM queue_counts WHERE domain = ?1), 0)";
inline constexpr const char* kItemsAll = "SELECT COALESCE(SUM(items), 0) FROM queue_counts";
inline constexpr const char* kLeasedDomain =
    "SELECT COUNT(*) FROM queue_items INDEXED BY queue_items_leases "
    "WHERE leased_by IS NOT NULL AND lease_expires >= ?2 AND domain = ?1";
inline constexpr const char* kLeasedAll =
    "SELECT COUNT(*) FROM queue_items INDEXED BY queue_items_leases "
    "WHERE leased_by IS NOT NULL AND lease_expires >= ?1";

// Every statement above, for the tests.
inline constexpr const char* kAll[] = {kInsert, kClaim,       kAck,      kRelease,      kLookup,
                                       kExpire, kItemsDomain, kItemsAll, kLeasedDomain, kLeasedAll, kRenew};

}  // namespace hitl::queue_sqlite::sql
