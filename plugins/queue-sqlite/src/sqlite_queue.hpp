// The queue-sqlite implementation of hitl::sdk::Queue (private to the plugin).
//
// One connection, guarded by a mutex: every operation is one or a few short statements, so a
// pool would add WAL read snapshots without adding write throughput (SQLite has one writer).
// Prepared statements are kept and reset after each use so no read snapshot is held between calls.
#pragma once

#include "queue_config.hpp"

#include <hitl/plugin_api.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <initializer_list>
#include <memory>
#include <mutex>

namespace hitl::queue_sqlite {

class SqliteQueue final : public sdk::Queue {
 public:
  // Opens (creating parent folders and the file), sets WAL + busy_timeout, applies migrations.
  static sdk::Status open(const QueueConfig& cfg, std::unique_ptr<sdk::Queue>& out) noexcept;

  ~SqliteQueue() override;

  sdk::Status push(const std::vector<sdk::QueueItem>& items) noexcept override;
  sdk::Status claim(const std::string& domain, const std::string& reviewer, std::int64_t now_ms,
                    std::int64_t lease_ms, std::optional<sdk::Lease>& out) noexcept override;
  sdk::Status ack(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms) noexcept override;
  sdk::Status release(std::int64_t task_id, const std::string& reviewer) noexcept override;
  sdk::Status expire(std::int64_t now_ms, std::vector<std::int64_t>& expired) noexcept override;
  sdk::Status depth(const std::string& domain, std::int64_t now_ms, sdk::QueueDepth& out) noexcept override;
  sdk::Status renew(std::int64_t task_id, const std::string& reviewer, std::int64_t now_ms, std::int64_t lease_ms,
                    std::int64_t& expires_ms) noexcept override;  // queue 1.1

 private:
  struct Statements;
  explicit SqliteQueue(const QueueConfig& cfg);  // throws SQLite::Exception

  template <class Body>
  sdk::Status locked(const char* op, Body&& body) noexcept;
  sdk::Status by_holder(SQLite::Statement& s, std::int64_t task_id, const std::string& reviewer,
                        std::initializer_list<std::int64_t> more, const std::int64_t* now_ms);
  // Why a task could not be acked / released (called after the guarded statement changed nothing).
  sdk::Status refusal(std::int64_t task_id, const std::string& reviewer, const std::int64_t* now_ms);

  std::mutex mu_;
  std::string label_;  // the file path, for messages
  SQLite::Database db_;
  std::unique_ptr<Statements> st_;
};

}  // namespace hitl::queue_sqlite
