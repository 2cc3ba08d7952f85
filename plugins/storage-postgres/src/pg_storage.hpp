// The PgStorage class, shared by the files that implement it by concern: pg_commit.cpp (the
// transaction), pg_decisions.cpp (new decisions and their tasks, batched), pg_writes.cpp (the
// other record kinds), pg_audit.cpp (the hash chain), pg_reads.cpp, pg_tokens.cpp (the token
// life cycle), pg_open.cpp (opening). Internal to the plugin: only open_storage() is its interface.
#pragma once

#include "audit_chain.hpp"
#include "pg_find_batcher.hpp"
#include "pg_config.hpp"
#include "pg_session.hpp"

#include <hitl/plugin_api.hpp>

#include <memory>
#include <mutex>
#include <optional>

namespace hitl::storage_postgres {

template <class Rec>
class Table;  // pg_tables.hpp

inline constexpr const char* kPlugin = "storage-postgres";
inline constexpr const char* kComponent = "storage";

// A failure inside commit() the server did not report (a final for an unknown decision).
struct BatchError {
  sdk::Code code;
  std::string message;
};
// `what` ("final outcome", "ground truth") for a decision that is not stored: not_found.
BatchError unknown_decision(const char* what, const std::string& domain, const std::string& decision_id);
BatchError unknown_task_patch(const sdk::TaskPatch& p);

// The `index` of a commit failure in a statement that wrote a whole kind of the batch at once:
// the message names the kind, not a row.
inline constexpr std::size_t kWholeKind = static_cast<std::size_t>(-1);

class PgStorage final : public sdk::Storage {
 public:
  PgStorage(pg::PgConfig cfg, std::unique_ptr<pg::Session> writer);

  sdk::Status commit(sdk::WriteBatch& batch) noexcept override;
  sdk::Status get_decision(const std::string& domain, const std::string& id,
                           std::optional<sdk::DecisionRecord>& out) noexcept override;
  sdk::Status get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept override;
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
  // Storage 1.3: named blobs (pg_blobs.cpp).
  sdk::Status put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept override;
  sdk::Status get_blob(const std::string& name, std::optional<std::string>& out) noexcept override;
  sdk::Status list_blobs(const std::string& prefix, std::vector<sdk::BlobInfo>& out) noexcept override;
  sdk::Status delete_blob(const std::string& name) noexcept override;
  // Storage 1.1: the token life cycle (pg_tokens.cpp).
  sdk::Status commit_tokens(sdk::WriteBatch& batch, const std::vector<sdk::TokenExpiry>& expiries) noexcept override;
  sdk::Status find_token_info(const std::string& hash, std::optional<sdk::TokenInfo>& out) noexcept override;
  sdk::Status list_tokens(std::vector<sdk::TokenInfo>& out) noexcept override;
  sdk::Status record_token_uses(const std::vector<sdk::TokenUse>& uses) noexcept override;
  // Storage 1.3: every token with its hash, for `hitl storage copy` (pg_tokens.cpp).
  sdk::Status export_tokens(std::vector<sdk::TokenExport>& out) noexcept override;
  // Storage 1.2: the decisions of a batch's ids in one statement (pg_reads.cpp).
  sdk::Status find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                             std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept override;

 private:
  // The write path: one transaction on the writer session per batch.
  struct Tx {
    pg::Session& s;
    pqxx::work& w;
    pqxx::result run(const std::string& sql, const pg::Params& p = {}) { return s.run(w, sql, p); }
  };
  sdk::Status commit_with(sdk::WriteBatch& batch, const std::vector<sdk::TokenExpiry>* expiries) noexcept;
  void apply(Tx& tx, sdk::WriteBatch& batch, const char*& stage, std::size_t& index);
  void insert_decisions(Tx& tx, std::vector<sdk::NewDecision>& items);
  void insert_decisions_on_conflict(Tx& tx, std::vector<sdk::NewDecision>& items);
  void insert_tasks(Tx& tx, std::vector<sdk::NewDecision*>& opened);
  void insert_feedback(Tx& tx, const std::vector<sdk::FeedbackRecord>& items);
  void append_audit(Tx& tx, sdk::WriteBatch& b, std::size_t& index);
  // The review path's kinds, one statement per kind (pg_review_writes.cpp).
  static void write_review_path(Tx& tx, sdk::WriteBatch& b, const char*& stage, std::size_t& index);
  static void write_outcomes(Tx& tx, sdk::WriteBatch& b, const char*& stage, std::size_t& index);
  static void write_deliveries(Tx& tx, std::vector<sdk::DeliveryRecord>& rows, const char*& stage, std::size_t& index);
  static void update_tasks(Tx& tx, std::vector<sdk::TaskUpdate>& rows);
  static void record_finals(Tx& tx, const std::vector<sdk::FinalOutcome>& rows);
  static void patch_tasks(Tx& tx, const std::vector<sdk::TaskPatch>& rows);
  template <class Rec>
  static void insert_with_ids(Tx& tx, const Table<Rec>& table, std::vector<Rec>& rows, std::int64_t Rec::*key);
  struct AuditHead {
    std::int64_t seq = 0;
    std::string hash;
  };
  AuditHead chain(const std::vector<sdk::AuditRecord*>& records, const AuditHead& from, std::size_t& index);
  bool append_small(Tx& tx, const std::vector<sdk::AuditRecord*>& records, const AuditHead& from, std::size_t& index);
  static void write_task_update(Tx& tx, sdk::TaskUpdate& u);
  static void write_review(Tx& tx, sdk::ReviewRecord& r);
  static void write_final(Tx& tx, const sdk::FinalOutcome& f);
  static void write_task_patch(Tx& tx, const sdk::TaskPatch& p);
  static void write_reviewer(Tx& tx, const sdk::ReviewerRecord& r);
  static void write_delivery(Tx& tx, sdk::DeliveryRecord& d);
  static void write_delivery_update(Tx& tx, const sdk::DeliveryUpdate& u);
  static void write_erasure(Tx& tx, sdk::PayloadErasure& e);
  static void write_truth(Tx& tx, const sdk::GroundTruth& t);
  static void write_token(Tx& tx, const sdk::TokenRecord& t);
  static void write_expiries(Tx& tx, const std::vector<sdk::TokenExpiry>& expiries);

  // Runs `q` on a pooled read session, reading each row with `read` into `out`.
  template <class Rec, class Read>
  sdk::Status list(const char* what, const pg::Query& q, Read&& read, std::vector<Rec>& out) noexcept {
    out.clear();
    return pg::with_session(readers_, kPlugin, what, [&](pg::Session& s) {
      pqxx::nontransaction tx(s.conn());
      for (const auto& row : s.run(tx, q.text, q.args)) out.push_back(read(row));
    });
  }
  template <class Rec, class Read>
  sdk::Status get(const char* what, const pg::Query& q, Read&& read, std::optional<Rec>& out) noexcept {
    out.reset();
    std::vector<Rec> rows;
    sdk::Status st = list(what, q, read, rows);
    if (st.ok() && !rows.empty()) out = std::move(rows.front());
    return st;
  }

  pg::PgConfig cfg_;
  std::mutex write_mu_;  // commit() has one caller by contract; the lock makes misuse harmless
  std::unique_ptr<pg::Session> writer_;
  storage_sqlite::AuditHasher hasher_;  // the writer's: one digest context for every record
  // The chain's head as this writer's last acknowledged COMMIT left it, and as the batch being
  // written moves it (pg_audit.cpp). Only a guess for append_small's guarded UPDATE: a wrong one
  // costs a round trip, never a fork. Trusted while the last head read found it unmoved.
  std::optional<AuditHead> committed_head_, pending_head_;
  bool head_trusted_ = false;
  pg::Pool readers_;
  // find_decisions' reads, one statement for the asks made at once (pg_find_batcher.hpp).
  sdk::Status read_decisions(const std::string& domain, const std::vector<std::string>& ids,
                             std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept;
  FindBatcher finds_{[this](const std::string& d, const std::vector<std::string>& ids, FindBatcher::Found& out) {
    return read_decisions(d, ids, out);
  }};
};

// Opens (and migrates) the database `cfg.url` names.
sdk::Status open_storage(const pg::PgConfig& cfg, std::unique_ptr<sdk::Storage>& out) noexcept;

}  // namespace hitl::storage_postgres
