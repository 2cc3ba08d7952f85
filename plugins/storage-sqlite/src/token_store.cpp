#include "token_store.hpp"
#include "token_export.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <chrono>
#include <mutex>

namespace hitl::storage_sqlite {
namespace {

using sdk::Code;
using sdk::Status;

constexpr std::int64_t kOrphanExpiryMs = 3'600'000;
constexpr const char* kInfoColumns = "l.name, l.role, l.domains, l.created_ms, l.expires_ms, l.last_used_ms, l.revoked_ms";

sdk::TokenExport read_export(const SQLite::Statement& s) {
  sdk::TokenExport t;
  t.token.name = s.getColumn(0).getString();
  t.token.role = s.getColumn(1).getString();
  t.token.domains = s.getColumn(2).getString();
  t.token.hash = s.getColumn(3).getString();
  t.token.created_ms = s.getColumn(4).getInt64();
  t.token.revoked = s.getColumn(5).getInt() != 0;
  t.expires_ms = s.getColumn(6).getInt64();
  t.last_used_ms = s.getColumn(7).getInt64();
  t.revoked_ms = s.getColumn(8).getInt64();
  return t;
}

sdk::TokenInfo read_info(const SQLite::Statement& s) {
  sdk::TokenInfo t;
  t.name = s.getColumn(0).getString();
  t.role = s.getColumn(1).getString();
  t.domains = s.getColumn(2).getString();
  t.created_ms = s.getColumn(3).getInt64();
  t.expires_ms = s.getColumn(4).getInt64();
  t.last_used_ms = s.getColumn(5).getInt64();
  t.revoked_ms = s.getColumn(6).getInt64();
  return t;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class TokenLifeStorage final : public sdk::Storage {
 public:
  TokenLifeStorage(std::unique_ptr<sdk::Storage> inner, const StorageConfig& cfg)
      : inner_(std::move(inner)),
        db_(cfg.path, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, cfg.busy_timeout_ms) {
    // A connection opens the WAL and its index at its first read. Read now, at start: a token
    // check must not need a new file descriptor later, when a flood may have taken them all.
    SQLite::Statement warm(db_, "SELECT count(*) FROM token_life");
    warm.executeStep();
  }

  // The 1.0 interface: the wrapped storage's.
  Status commit(sdk::WriteBatch& b) noexcept override { return inner_->commit(b); }
  Status get_decision(const std::string& domain, const std::string& id,
                      std::optional<sdk::DecisionRecord>& out) noexcept override {
    return inner_->get_decision(domain, id, out);
  }
  Status get_task(std::int64_t id, std::optional<sdk::TaskRecord>& out) noexcept override { return inner_->get_task(id, out); }
  Status find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                        std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept override {
    return inner_->find_decisions(domain, ids, out);
  }
  Status list_tasks(const sdk::TaskFilter& f, std::vector<sdk::TaskRecord>& out) noexcept override {
    return inner_->list_tasks(f, out);
  }
  Status list_decisions(const sdk::DecisionFilter& f, std::vector<sdk::DecisionRecord>& out) noexcept override {
    return inner_->list_decisions(f, out);
  }
  Status list_reviews(const sdk::ReviewFilter& f, std::vector<sdk::ReviewRecord>& out) noexcept override {
    return inner_->list_reviews(f, out);
  }
  Status list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept override {
    return inner_->list_feedback(domain, out);
  }
  Status list_audit(const sdk::AuditFilter& f, std::vector<sdk::AuditRecord>& out) noexcept override {
    return inner_->list_audit(f, out);
  }
  Status find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept override {
    return inner_->find_token(hash, out);
  }
  Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override { return inner_->list_reviewers(out); }
  Status list_deliveries(const sdk::DeliveryFilter& f, std::vector<sdk::DeliveryRecord>& out) noexcept override {
    return inner_->list_deliveries(f, out);
  }
  Status schema_version(int& out) noexcept override { return inner_->schema_version(out); }
  // Storage 1.3's blobs: the wrapped storage's too.
  Status put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept override {
    return inner_->put_blob(name, bytes, updated_ms);
  }
  Status get_blob(const std::string& name, std::optional<std::string>& out) noexcept override {
    return inner_->get_blob(name, out);
  }
  Status list_blobs(const std::string& prefix, std::vector<sdk::BlobInfo>& out) noexcept override {
    return inner_->list_blobs(prefix, out);
  }
  Status delete_blob(const std::string& name) noexcept override { return inner_->delete_blob(name); }

  // Storage 1.1.
  Status commit_tokens(sdk::WriteBatch& batch, const std::vector<sdk::TokenExpiry>& expiries) noexcept override {
    if (Status st = run("storing token expiries", [&] { write_expiries(expiries); }); !st.ok()) return st;
    return inner_->commit(batch);
  }

  Status find_token_info(const std::string& hash, std::optional<sdk::TokenInfo>& out) noexcept override {
    out.reset();
    return run("find_token_info", [&] {
      SQLite::Statement s(db_, std::string("SELECT ") + kInfoColumns +
                                   " FROM tokens t JOIN token_life l ON l.name = t.name WHERE t.hash = ? AND t.revoked = 0");
      s.bind(1, hash);
      if (s.executeStep()) out = read_info(s);
    });
  }

  Status list_tokens(std::vector<sdk::TokenInfo>& out) noexcept override {
    out.clear();
    return run("list_tokens", [&] {
      SQLite::Statement s(db_, std::string("SELECT ") + kInfoColumns + " FROM token_life l ORDER BY l.name");
      while (s.executeStep()) out.push_back(read_info(s));
    });
  }

  // Storage 1.3: every token with its hash, for `hitl storage copy`.
  Status export_tokens(std::vector<sdk::TokenExport>& out) noexcept override {
    out.clear();
    return run("export_tokens", [&] {
      SQLite::Statement s(db_, storage_common::kExportTokensSql);
      while (s.executeStep()) out.push_back(read_export(s));
    });
  }

  Status record_token_uses(const std::vector<sdk::TokenUse>& uses) noexcept override {
    return run("record_token_uses", [&] {
      SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
      SQLite::Statement s(db_, "UPDATE token_life SET last_used_ms = MAX(last_used_ms, ?) WHERE name = ?");
      for (const auto& u : uses) {
        s.reset();
        s.bind(1, u.used_ms);
        s.bind(2, u.name);
        s.exec();
      }
      tx.commit();
    });
  }

 private:
  void write_expiries(const std::vector<sdk::TokenExpiry>& expiries) {
    const std::int64_t now = wall_ms();
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement purge(db_, "DELETE FROM token_expiries WHERE written_ms < ?");
    purge.bind(1, now - kOrphanExpiryMs);
    purge.exec();
    SQLite::Statement s(db_, "INSERT OR REPLACE INTO token_expiries(hash, expires_ms, written_ms) VALUES(?,?,?)");
    for (const auto& e : expiries) {
      s.reset();
      s.bind(1, e.hash);
      s.bind(2, e.expires_ms);
      s.bind(3, now);
      s.exec();
    }
    tx.commit();
  }

  // Runs `body` under the connection's lock, turning exceptions into a Status that names `what`.
  template <typename Body>
  Status run(const char* what, Body&& body) noexcept {
    try {
      std::lock_guard lock(mu_);
      body();
      return Status::Ok();
    } catch (const SQLite::Exception& e) {
      const int primary = e.getErrorCode() & 0xff;
      const Code code = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? Code::unavailable : Code::internal;
      return Status::Error(code, std::string("storage-sqlite: ") + what + " failed: " + e.what());
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("storage-sqlite: ") + what + " failed: " + e.what());
    }
  }

  std::unique_ptr<sdk::Storage> inner_;
  std::mutex mu_;  // the token calls come from the writer thread and the HTTP threads
  SQLite::Database db_;
};

}  // namespace

std::unique_ptr<sdk::Storage> with_token_life(std::unique_ptr<sdk::Storage> inner, const StorageConfig& cfg) {
  return std::make_unique<TokenLifeStorage>(std::move(inner), cfg);
}

}  // namespace hitl::storage_sqlite
