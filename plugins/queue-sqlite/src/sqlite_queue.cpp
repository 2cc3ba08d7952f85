#include "sqlite_queue.hpp"

#include "queue_rules.hpp"

#include "migrations.hpp"
#include "queue_sql.hpp"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

namespace hitl::queue_sqlite {

using sdk::Code;
using sdk::Status;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A busy or locked database is transient (another connection holds the write lock past
// busy_timeout): the caller may retry. Anything else is internal.
Status db_error(const char* op, const SQLite::Exception& e) {
  const int primary = e.getErrorCode() & 0xff;
  const bool busy = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  return Status::Error(busy ? Code::unavailable : Code::internal, std::string("queue-sqlite ") + op + ": " + e.what());
}

Status invalid(const char* op, const std::string& why) { return queue_common::invalid("queue-sqlite", op, why); }

// Resets a kept statement when the scope ends, even on an exception, so it never keeps a read
// snapshot open (which would stop WAL checkpoints) or stale state for the next call.
struct ResetOnExit {
  SQLite::Statement& s;
  ~ResetOnExit() { s.tryReset(); }
};

}  // namespace

struct SqliteQueue::Statements {
  explicit Statements(SQLite::Database& db)
      : insert(db, sql::kInsert),
        claim(db, sql::kClaim),
        ack(db, sql::kAck),
        release(db, sql::kRelease),
        lookup(db, sql::kLookup),
        expire(db, sql::kExpire),
        items_domain(db, sql::kItemsDomain),
        items_all(db, sql::kItemsAll),
        leased_domain(db, sql::kLeasedDomain),
        leased_all(db, sql::kLeasedAll),
        renew(db, sql::kRenew) {}

  SQLite::Statement insert, claim, ack, release, lookup, expire, items_domain, items_all, leased_domain, leased_all,
      renew;
};

// Runs `body` under the connection's lock, turning exceptions into a Status that names `op`.
template <class Body>
Status SqliteQueue::locked(const char* op, Body&& body) noexcept {
  try {
    std::lock_guard lock(mu_);
    return body();
  } catch (const SQLite::Exception& e) {
    return db_error(op, e);
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("queue-sqlite ") + op + ": " + e.what());
  }
}

SqliteQueue::SqliteQueue(const QueueConfig& cfg)
    : label_(cfg.path),
      // NOMUTEX: mu_ already serialises every use of this connection.
      db_(cfg.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, cfg.busy_timeout_ms) {}

SqliteQueue::~SqliteQueue() {
  std::lock_guard lock(mu_);
  st_.reset();  // statements must be finalized before the connection closes
}

Status SqliteQueue::open(const QueueConfig& cfg, std::unique_ptr<sdk::Queue>& out) noexcept {
  try {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // as storage-sqlite: no global lock per allocation
    const bool in_memory = cfg.path == ":memory:";
    if (!in_memory) {
      const std::filesystem::path parent = std::filesystem::path(cfg.path).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      if (ec)
        return Status::Error(Code::invalid_argument,
                             "queue-sqlite: cannot create folder " + parent.string() + " for 'path': " + ec.message());
    }

    std::unique_ptr<SqliteQueue> q;
    try {
      q.reset(new SqliteQueue(cfg));
    } catch (const SQLite::Exception& e) {
      return Status::Error(Code::invalid_argument, "queue-sqlite: cannot open database " + cfg.path + ": " + e.what());
    }

    // WAL lets readers (HTTP threads, the storage plugin's readers) run while one writer commits;
    // NORMAL sync is durable against process crashes and costs no fsync per commit. The queue can
    // be rebuilt from storage (the host re-pushes open tasks at start), so losing the last few
    // commits on power loss is acceptable.
    {
      SQLite::Statement wal(q->db_, "PRAGMA journal_mode=WAL");
      wal.executeStep();
      const std::string mode = wal.getColumn(0).getString();
      if (!in_memory && mode != "wal")
        return Status::Error(Code::unavailable,
                             "queue-sqlite: " + cfg.path + ": cannot switch to WAL journal mode (got '" + mode +
                                 "'); is the folder on a filesystem without shared memory support?");
    }
    q->db_.exec("PRAGMA synchronous=NORMAL");
    // Checkpoints at 10k pages (40 MB) instead of SQLite's 1000: in the default setup the queue
    // shares its file with storage-sqlite, whose own thread checkpoints past 1000 pages
    // (plugins/storage-sqlite/src/checkpointer.hpp). At 1000 the queue's push, right after each
    // storage commit, found the WAL past the mark and checkpointed inline on the host's writer
    // thread, which is what that thread moved off the write path (issue 19). Alone in its file,
    // the queue still checkpoints, less often.
    q->db_.exec("PRAGMA wal_autocheckpoint=10000");

    Status st = apply_migrations(q->db_, cfg.path, "queue", queue_migrations(), wall_ms());
    if (!st.ok()) return st;

    q->st_ = std::make_unique<Statements>(q->db_);
    out = std::move(q);
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    return db_error("open", e);
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("queue-sqlite open: ") + e.what());
  }
}

Status SqliteQueue::push(const std::vector<sdk::QueueItem>& items) noexcept {
  if (Status st = queue_common::validate_push(items, "queue-sqlite"); !st.ok()) return st;
  if (items.empty()) return Status::Ok();
  return locked("push", [&] {
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    auto& s = st_->insert;
    for (const auto& it : items) {
      ResetOnExit reset{s};
      s.bind(1, static_cast<std::int64_t>(it.task_id));
      s.bind(2, it.domain);
      s.bind(3, queue_common::dispatch_rank(it.priority));
      s.bind(4, static_cast<std::int64_t>(it.deadline_ms));
      s.bind(5, queue_common::due_ms(it));
      s.bind(6, static_cast<std::int64_t>(it.created_ms));
      s.exec();
    }
    tx.commit();
    return Status::Ok();
  });
}

Status SqliteQueue::claim(const std::string& domain, const std::string& reviewer, std::int64_t now_ms,
                          std::int64_t lease_ms, std::optional<sdk::Lease>& out) noexcept {
  out.reset();
  if (Status st = queue_common::validate_claim(domain, reviewer, now_ms, lease_ms, "queue-sqlite"); !st.ok()) return st;
  Status st = locked("claim", [&] {
    auto& s = st_->claim;
    ResetOnExit reset{s};
    s.bind(1, reviewer);
    s.bind(2, static_cast<std::int64_t>(now_ms + lease_ms));
    s.bind(3, domain);
    s.bind(4, static_cast<std::int64_t>(now_ms));
    if (s.executeStep()) {
      out = sdk::Lease{s.getColumn(0).getInt64(), reviewer, s.getColumn(1).getInt64()};
      while (s.executeStep()) {  // run to completion so the autocommit finishes here
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) out.reset();
  return st;
}

// Called under mu_ after a guarded ack/release changed nothing: reads the row to say why.
// (Only another process could change the row between the two statements; the outcome was
// already decided atomically by the guarded statement.)
Status SqliteQueue::refusal(std::int64_t task_id, const std::string& reviewer, const std::int64_t* now_ms) {
  auto& s = st_->lookup;
  ResetOnExit reset{s};
  s.bind(1, static_cast<std::int64_t>(task_id));
  const std::string task = "task " + std::to_string(task_id);
  if (!s.executeStep()) return Status::Error(Code::not_found, task + " is not in the queue");
  if (s.getColumn(0).isNull()) return Status::Error(Code::conflict, task + " is not leased");
  const std::string holder = s.getColumn(0).getString();
  const std::int64_t expires = s.getColumn(1).getInt64();
  if (holder != reviewer) return Status::Error(Code::conflict, task + " is leased by " + holder);
  if (now_ms && expires < *now_ms)
    return Status::Error(Code::conflict, "lease on " + task + " expired at " + std::to_string(expires) +
                                             " (now " + std::to_string(*now_ms) + ")");
  return Status::Error(Code::unavailable, task + " changed concurrently; retry");
}

// Runs a statement guarded by the lease holder (parameters: task_id, reviewer, then `more`):
// Ok when it changed the task's row, else why not.
Status SqliteQueue::by_holder(SQLite::Statement& s, std::int64_t task_id, const std::string& reviewer,
                              std::initializer_list<std::int64_t> more, const std::int64_t* now_ms) {
  {
    ResetOnExit reset{s};
    s.bind(1, static_cast<std::int64_t>(task_id));
    s.bind(2, reviewer);
    int i = 3;
    for (std::int64_t v : more) s.bind(i++, v);
    if (s.exec() == 1) return Status::Ok();
  }
  return refusal(task_id, reviewer, now_ms);
}

Status SqliteQueue::ack(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms) noexcept {
  if (reviewer.empty()) return invalid("ack", "reviewer must not be empty");
  return locked("ack", [&] { return by_holder(st_->ack, task_id, reviewer, {now_ms}, &now_ms); });
}

Status SqliteQueue::release(std::int64_t task_id, const std::string& reviewer) noexcept {
  if (reviewer.empty()) return invalid("release", "reviewer must not be empty");
  return locked("release", [&] { return by_holder(st_->release, task_id, reviewer, {}, nullptr); });
}

Status SqliteQueue::renew(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms, std::int64_t lease_ms,
                          std::int64_t& expires_ms) noexcept {
  if (reviewer.empty()) return invalid("renew", "reviewer must not be empty");
  if (lease_ms <= 0) return invalid("renew", "lease_ms must be positive");
  return locked("renew", [&] {
    Status st = by_holder(st_->renew, task_id, reviewer, {now_ms + lease_ms, now_ms}, &now_ms);
    if (st.ok()) expires_ms = now_ms + lease_ms;
    return st;
  });
}

Status SqliteQueue::expire(std::int64_t now_ms, std::vector<std::int64_t>& expired) noexcept {
  expired.clear();
  Status st = locked("expire", [&] {
    auto& s = st_->expire;
    ResetOnExit reset{s};
    s.bind(1, static_cast<std::int64_t>(now_ms));
    while (s.executeStep()) expired.push_back(s.getColumn(0).getInt64());
    std::sort(expired.begin(), expired.end());  // RETURNING order is unspecified
    return Status::Ok();
  });
  if (!st.ok()) expired.clear();
  return st;
}

Status SqliteQueue::depth(const std::string& domain, std::int64_t now_ms, sdk::QueueDepth& out) noexcept {
  out = {};
  Status st = locked("depth", [&] {
    // "" = every domain (a total for metrics).
    const bool all = domain.empty();
    auto count = [&](SQLite::Statement& s, bool with_now) {
      ResetOnExit reset{s};
      if (!all) s.bind(1, domain);
      if (with_now) s.bind(all ? 1 : 2, static_cast<std::int64_t>(now_ms));
      s.executeStep();
      return s.getColumn(0).getInt64();
    };
    // One read transaction, so the two figures come from the same snapshot.
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::DEFERRED);
    const std::int64_t items = count(all ? st_->items_all : st_->items_domain, false);
    out.leased = count(all ? st_->leased_all : st_->leased_domain, true);
    out.ready = items - out.leased;
    tx.commit();
    return Status::Ok();
  });
  if (!st.ok()) out = {};
  return st;
}

}  // namespace hitl::queue_sqlite
