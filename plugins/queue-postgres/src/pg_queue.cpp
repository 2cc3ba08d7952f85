// The queue-postgres implementation of hitl::sdk::Queue: every call is one short statement (a
// push one transaction) on a pooled connection, so instances sharing the database claim from
// one queue, each item exactly once.
#include "pg_config.hpp"
#include "pg_copy.hpp"
#include "pg_queue_sql.hpp"
#include "pg_session.hpp"
#include "queue_rules.hpp"

#include <hitl/guarded.hpp>
#include <hitl/plugin_entry.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

namespace hitl::queue_postgres {
namespace {

using sdk::Code;
using sdk::Status;

constexpr const char* kPlugin = "queue-postgres";
constexpr std::size_t kRowsPerInsert = 1000;  // per statement (sql::kPush: one array per column)

Status invalid(const char* op, const std::string& why) { return queue_common::invalid(kPlugin, op, why); }

class PgQueue final : public sdk::Queue {
 public:
  explicit PgQueue(const pg::PgConfig& cfg)
      : pool_(cfg.url, cfg.pool_size, cfg.statement_timeout_ms, cfg.connect_timeout_s) {}

  Status push(const std::vector<sdk::QueueItem>& items) noexcept override {
    if (Status st = queue_common::validate_push(items, kPlugin); !st.ok()) return st;
    if (items.empty()) return Status::Ok();
    // The last push of a task wins (one row may not be upserted twice in a statement), and rows
    // go in task_id order so two instances pushing overlapping tasks lock them in one order.
    std::map<std::int64_t, const sdk::QueueItem*> by_task;
    for (const auto& it : items) by_task[it.task_id] = &it;
    std::vector<const sdk::QueueItem*> rows;
    for (const auto& [_, it] : by_task) rows.push_back(it);
    return run("push", [&](pg::Session& s) {
      // A small push (a group commit's tasks, a release, an escalation) is one statement, atomic
      // on its own: one round trip, where a transaction around it would add BEGIN and COMMIT.
      if (rows.size() < pg::kCopyFromRows) {
        pqxx::nontransaction tx(s.conn());
        return upsert(s, tx, rows);
      }
      pqxx::work tx(s.conn());
      if (!copy_new(s, tx, rows)) upsert(s, tx, rows);
      tx.commit();
    });
  }

  Status claim(const std::string& domain, const std::string& reviewer, std::int64_t now_ms, std::int64_t lease_ms,
               std::optional<sdk::Lease>& out) noexcept override {
    out.reset();
    if (Status st = queue_common::validate_claim(domain, reviewer, now_ms, lease_ms, kPlugin); !st.ok()) return st;
    Status st = run("claim", [&](pg::Session& s) {
      pqxx::nontransaction tx(s.conn());
      const auto r = s.run(tx, sql::kClaim, pg::params(reviewer, now_ms + lease_ms, domain, now_ms));
      if (!r.empty()) out = sdk::Lease{r[0][0].as<std::int64_t>(), reviewer, r[0][1].as<std::int64_t>()};
    });
    if (!st.ok()) out.reset();
    return st;
  }

  Status ack(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms) noexcept override {
    if (reviewer.empty()) return invalid("ack", "reviewer must not be empty");
    return by_holder("ack", sql::kAck, task_id, reviewer, pg::params(task_id, reviewer, now_ms), &now_ms);
  }

  Status release(std::int64_t task_id, const std::string& reviewer) noexcept override {
    if (reviewer.empty()) return invalid("release", "reviewer must not be empty");
    return by_holder("release", sql::kRelease, task_id, reviewer, pg::params(task_id, reviewer), nullptr);
  }

  Status renew(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms, std::int64_t lease_ms,
               std::int64_t& expires_ms) noexcept override {
    if (reviewer.empty()) return invalid("renew", "reviewer must not be empty");
    if (lease_ms <= 0) return invalid("renew", "lease_ms must be positive");
    if (now_ms > std::numeric_limits<std::int64_t>::max() - lease_ms) return invalid("renew", "now_ms + lease_ms overflows");
    Status st = by_holder("renew", sql::kRenew, task_id, reviewer, pg::params(task_id, reviewer, now_ms + lease_ms, now_ms),
                          &now_ms);
    if (st.ok()) expires_ms = now_ms + lease_ms;
    return st;
  }

  Status expire(std::int64_t now_ms, std::vector<std::int64_t>& expired) noexcept override {
    expired.clear();
    Status st = run("expire", [&](pg::Session& s) {
      pqxx::nontransaction tx(s.conn());
      for (const auto& row : s.run(tx, sql::kExpire, pg::params(now_ms))) expired.push_back(row[0].as<std::int64_t>());
      std::sort(expired.begin(), expired.end());  // RETURNING order is unspecified
    });
    if (!st.ok()) expired.clear();
    return st;
  }

  Status depth(const std::string& domain, std::int64_t now_ms, sdk::QueueDepth& out) noexcept override {
    out = {};
    Status st = run("depth", [&](pg::Session& s) {
      pqxx::nontransaction tx(s.conn());
      // "" = every domain (a total for metrics).
      const auto r = domain.empty() ? s.run(tx, sql::kDepthAll, pg::params(now_ms))
                                    : s.run(tx, sql::kDepthDomain, pg::params(domain, now_ms));
      out.leased = r[0][1].as<std::int64_t>();
      out.ready = r[0][0].as<std::int64_t>() - out.leased;
    });
    if (!st.ok()) out = {};
    return st;
  }

 private:
  template <class Body>
  Status run(const char* op, Body&& body) noexcept {
    return pg::with_session(pool_, kPlugin, op, std::forward<Body>(body));
  }

  // Runs a statement guarded by the lease holder: Ok when it changed the task's row, else why not
  // (read afterwards; the outcome was already decided atomically by the guarded statement).
  Status by_holder(const char* op, const char* sql, std::int64_t task_id, const std::string& reviewer,
                   const pg::Params& p, const std::int64_t* now_ms) noexcept {
    Status refusal = Status::Ok();
    Status st = run(op, [&](pg::Session& s) {
      pqxx::nontransaction tx(s.conn());
      if (s.run(tx, sql, p).affected_rows() == 1) return;
      refusal = why_not(s, tx, task_id, reviewer, now_ms);
    });
    return st.ok() ? refusal : st;
  }

  // A push of new items (ingest's: the tasks of a committed batch) goes in with one COPY, the
  // cheapest way in (docs/performance.md), inside a savepoint. Whether the items are new is
  // guessed from the first and last task ids (one statement, two index probes): the start-up
  // re-queue pushes items that are queued already and would fail every COPY. An item queued in
  // between fails the COPY with unique_violation, rolled back to the savepoint: false, and the
  // caller upserts instead.
  static bool copy_new(pg::Session& s, pqxx::work& tx, const std::vector<const sdk::QueueItem*>& rows) {
    if (s.run(tx, sql::kAnyQueued, pg::params(rows.front()->task_id, rows.back()->task_id))[0][0].as<bool>()) return false;
    static const std::vector<std::string> columns = {"task_id", "domain", "priority", "deadline_ms", "due_ms", "created_ms"};
    try {
      pqxx::subtransaction copying(tx, "queue_copy");
      pg::CopyIn copy(copying, "queue_items", columns);
      std::vector<std::string> fields(columns.size());
      for (const auto* it : rows) {
        // As Session::run refuses it in a parameter: PostgreSQL text cannot hold a NUL byte.
        if (it->domain.find('\0') != std::string::npos)
          throw pg::BadParameter("the domain of task " + std::to_string(it->task_id) + " holds a NUL byte");
        fields = {pg::text_of(it->task_id), it->domain, pg::text_of(queue_common::dispatch_rank(it->priority)),
                  pg::text_of(it->deadline_ms),
                  pg::text_of(queue_common::due_ms(*it)), pg::text_of(it->created_ms)};
        copy.add_row(fields);
      }
      copy.complete();
      copying.commit();
      return true;
    } catch (const pqxx::unique_violation&) {
      return false;
    }
  }

  // Up to kRowsPerInsert items per INSERT ... ON CONFLICT DO UPDATE (sql::kPush).
  static void upsert(pg::Session& s, pqxx::transaction_base& tx, const std::vector<const sdk::QueueItem*>& rows) {
    for (std::size_t first = 0; first < rows.size(); first += kRowsPerInsert) {
      const std::size_t n = std::min(kRowsPerInsert, rows.size() - first);
      pg::Params arrays(6, "{");
      for (std::size_t i = first; i < first + n; ++i) {
        const auto& it = *rows[i];
        if (i > first)
          for (auto& a : arrays) a += ',';
        pg::append_array_element(arrays[0], it.task_id);
        pg::append_array_element(arrays[1], it.domain);
        pg::append_array_element(arrays[2], queue_common::dispatch_rank(it.priority));
        pg::append_array_element(arrays[3], it.deadline_ms);
        pg::append_array_element(arrays[4], queue_common::due_ms(it));
        pg::append_array_element(arrays[5], it.created_ms);
      }
      for (auto& a : arrays) a += '}';
      s.run(tx, sql::kPush, arrays);
    }
  }

  static Status why_not(pg::Session& s, pqxx::transaction_base& tx, std::int64_t task_id, const std::string& reviewer,
                        const std::int64_t* now_ms) {
    const std::string task = "task " + std::to_string(task_id);
    const auto r = s.run(tx, sql::kLookup, pg::params(task_id));
    if (r.empty()) return Status::Error(Code::not_found, task + " is not in the queue");
    if (r[0][0].is_null()) return Status::Error(Code::conflict, task + " is not leased");
    const std::string holder = r[0][0].as<std::string>();
    const std::int64_t expires = r[0][1].as<std::int64_t>();
    if (holder != reviewer) return Status::Error(Code::conflict, task + " is leased by " + holder);
    if (now_ms && expires < *now_ms)
      return Status::Error(Code::conflict, "lease on " + task + " expired at " + std::to_string(expires) + " (now " +
                                               std::to_string(*now_ms) + ")");
    return Status::Error(Code::unavailable, task + " changed concurrently; retry");
  }

  pg::Pool pool_;
};

Status create_queue(const char* config_json, std::unique_ptr<sdk::Queue>& out) {
  out.reset();
  return sdk::guarded(kPlugin, [&] {
    pg::PgConfig cfg;
    if (Status st = pg::parse_config(config_json, kPlugin, cfg); !st.ok()) return st;
    const std::string where = " (" + pg::redacted(cfg.url) + ")";
    try {
      pg::Session session(cfg.url, cfg.statement_timeout_ms, cfg.connect_timeout_s);
      const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
      int version = 0;
      if (Status st = pg::migrate(session, kPlugin, "queue", sql::migrations(), now, version); !st.ok()) {
        st.message += where;
        return st;
      }
    } catch (const pqxx::failure& e) {
      return Status::Error(pg::code_for(e), std::string(kPlugin) + ": cannot connect" + where + ": " + e.what());
    }
    out = std::make_unique<PgQueue>(cfg);
    return Status::Ok();
  });
}

}  // namespace
}  // namespace hitl::queue_postgres

HITL_PLUGIN_ENTRY(hitl::queue_postgres, queue,
    "postgres", "1.1.0", "PostgreSQL review queue (FOR UPDATE SKIP LOCKED claims, leases, per-domain counts; shared by instances)",
    hitl::pg::kConfigDoc, &create_queue)
