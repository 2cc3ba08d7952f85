// The SqliteStorage class, shared by the files that implement it by concern: commit.cpp (the
// transaction), decisions.cpp, tasks.cpp, reviews.cpp, audit_trail.cpp, reviewers.cpp,
// deliveries.cpp and tokens.cpp (each record kind's writes and reads), sqlite_storage.cpp
// (opening). Internal to the plugin: only sqlite_storage.hpp's factory is its interface.
#pragma once

#include "audit_chain.hpp"
#include "checkpointer.hpp"
#include "sql_support.hpp"
#include "storage_config.hpp"

#include <hitl/plugin_api.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <mutex>
#include <optional>

namespace hitl::storage_sqlite {

// Statements of the write path, prepared once: commit() only resets and rebinds them.
struct WriteStatements {
  explicit WriteStatements(SQLite::Database& db);
  void reset_all() noexcept;

  SQLite::Statement begin, commit, rollback;
  SQLite::Statement insert_decision, select_decision, delete_new_task;
  SQLite::Statement insert_task, update_task;
  SQLite::Statement insert_review, insert_feedback, set_final;
  SQLite::Statement erase_decision, erase_feedback, erase_comments, set_truth;
  SQLite::Statement upsert_reviewer, insert_delivery, update_delivery;
  SQLite::Statement upsert_token, insert_audit;
  SQLite::Statement audit_last_seq, audit_last_hash;
  StatementCache patches;  // TaskPatch updates, one statement per set of patched columns
  AuditHasher hasher;      // reused for every audit record: one digest context, no reallocation
};

class SqliteStorage final : public sdk::Storage {
 public:
  SqliteStorage(StorageConfig cfg, std::unique_ptr<SQLite::Database> writer,
                std::unique_ptr<SQLite::Database> reader);

  sdk::Status commit(sdk::WriteBatch& batch) noexcept override;
  sdk::Status get_decision(const std::string& domain, const std::string& id,
                           std::optional<sdk::DecisionRecord>& out) noexcept override;
  sdk::Status get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept override;
  sdk::Status find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                             std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept override;
  sdk::Status list_tasks(const sdk::TaskFilter& filter, std::vector<sdk::TaskRecord>& out) noexcept override;
  sdk::Status list_decisions(const sdk::DecisionFilter& filter,
                             std::vector<sdk::DecisionRecord>& out) noexcept override;
  sdk::Status list_reviews(const sdk::ReviewFilter& filter, std::vector<sdk::ReviewRecord>& out) noexcept override;
  sdk::Status list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept override;
  sdk::Status list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept override;
  sdk::Status find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept override;
  sdk::Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override;
  sdk::Status list_deliveries(const sdk::DeliveryFilter& filter,
                              std::vector<sdk::DeliveryRecord>& out) noexcept override;
  sdk::Status schema_version(int& out) noexcept override;
  // Storage 1.3: named blobs (blobs.cpp).
  sdk::Status put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept override;
  sdk::Status get_blob(const std::string& name, std::optional<std::string>& out) noexcept override;
  sdk::Status list_blobs(const std::string& prefix, std::vector<sdk::BlobInfo>& out) noexcept override;
  sdk::Status delete_blob(const std::string& name) noexcept override;

 private:
  void apply(sdk::WriteBatch& batch, const char*& stage, std::size_t& index);
  void roll_back() noexcept;
  void insert_decision(sdk::NewDecision& nd);
  void insert_task(sdk::NewDecision& nd);
  void append_audit(sdk::WriteBatch& b, std::size_t& index);
  void write_task_update(sdk::TaskUpdate& u);
  void write_review(sdk::ReviewRecord& r);
  void write_feedback(const sdk::FeedbackRecord& f);
  void write_final(const sdk::FinalOutcome& f);
  void write_task_patch(const sdk::TaskPatch& p);
  void write_reviewer(const sdk::ReviewerRecord& r);
  void write_delivery(sdk::DeliveryRecord& d);
  void write_delivery_update(const sdk::DeliveryUpdate& u);
  void write_erasure(sdk::PayloadErasure& e);
  void write_truth(const sdk::GroundTruth& t);
  void write_token(const sdk::TokenRecord& t);

  // Runs a query (prepared once per distinct text) and reads every row with `table` into `out`.
  template <typename Rec, typename Table>
  sdk::Status list(const char* what, const Query& q, const Table& table, std::vector<Rec>& out) noexcept {
    out.clear();
    return rows(what, q, [&](const SQLite::Statement& s) {
      out.push_back(table.read(s));
      return true;
    });
  }

  // The same for a lookup of at most one row.
  template <typename Rec, typename Table>
  sdk::Status get(const char* what, const Query& q, const Table& table, std::optional<Rec>& out) noexcept {
    out.reset();
    return rows(what, q, [&](const SQLite::Statement& s) {
      out = table.read(s);
      return false;
    });
  }

  // Runs `q` under the read lock, handing each row to on_row until it returns false.
  template <typename OnRow>
  sdk::Status rows(const char* what, const Query& q, OnRow&& on_row) noexcept {
    return read(what, [&](StatementCache& cache) {
      auto& s = fresh(cache.get(q.text));
      ResetOnExit reset{s};
      q.bind(s);
      while (s.executeStep() && on_row(s)) {
      }
    });
  }

  // Runs `body` under the read lock, turning exceptions into a Status that names `what`.
  template <typename Body>
  sdk::Status read(const char* what, Body&& body) noexcept {
    try {
      std::lock_guard lock(read_mu_);
      body(*r_);
      return sdk::Status::Ok();
    } catch (const SQLite::Exception& e) {
      return sdk::Status::Error(code_for(e), std::string("storage-sqlite: ") + what + " failed: " + e.what());
    } catch (const std::exception& e) {
      return sdk::Status::Error(sdk::Code::internal, std::string("storage-sqlite: ") + what + " failed: " + e.what());
    }
  }

  // Declaration order matters: statements are destroyed before the connection they belong to.
  StorageConfig cfg_;
  std::mutex write_mu_;  // commit() has one caller by contract; the lock makes misuse harmless
  std::unique_ptr<SQLite::Database> wdb_;
  std::unique_ptr<WriteStatements> w_;
  std::mutex read_mu_;  // one read connection, shared by the HTTP threads
  std::unique_ptr<SQLite::Database> rdb_;
  std::unique_ptr<StatementCache> r_;
  std::unique_ptr<Checkpointer> checkpointer_;  // holds wdb_'s WAL hook: destroyed first
};

}  // namespace hitl::storage_sqlite
