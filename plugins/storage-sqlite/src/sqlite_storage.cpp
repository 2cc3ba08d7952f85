#include "sqlite_storage.hpp"

#include "audit_chain.hpp"
#include "schema.hpp"
#include "token_store.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <variant>
#include <vector>
#include <mutex>

namespace hitl::storage_sqlite {
namespace {

using sdk::Code;
using sdk::Status;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// SQLITE_BUSY / LOCKED are transient (another connection holds the lock past busy_timeout_ms);
// constraint failures mean the batch contradicts what is stored; the rest is a bug or a broken disk.
Code code_for(const SQLite::Exception& e) {
  switch (e.getErrorCode() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Code::unavailable;
    case SQLITE_CONSTRAINT: return Code::conflict;
    default: return Code::internal;
  }
}

// A failure inside commit() that SQLite itself did not report (a final for an unknown decision).
struct BatchError {
  Code code;
  std::string message;
};

// Resets a cached statement when the scope ends, also on an exception: a statement left
// mid-step would keep its read snapshot (or an error state) until its next use.
struct ResetOnExit {
  SQLite::Statement& stmt;
  ~ResetOnExit() { stmt.tryReset(); }
};

SQLite::Statement& fresh(SQLite::Statement& s) {
  s.tryReset();  // not reset(): it rethrows the error of a previous failed step
  return s;
}

std::int64_t sql_limit(std::size_t limit) {
  return limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
             ? -1  // SQLite: no limit
             : static_cast<std::int64_t>(limit);
}

// "pending, assigned" -> "pending,assigned": the SQL matches ',' || status || ',' inside it.
std::string normalized_status_list(const std::string& from) {
  std::string out;
  out.reserve(from.size());
  for (char c : from)
    if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(c);
  return out;
}

constexpr const char* kDecisionColumns =
    "domain, id, status, reason, task_id, priority, label, confidence, input_json, prediction_json, "
    "meta_json, model_version, policy_hash, created_ms, final_label, final_outcome, final_ms, input_hash, erased_ms, "
    "truth_label, truth_ms";
// The same without the payload columns (which read back as ''), for list_decisions(with_payload = false).
constexpr const char* kDecisionColumnsNoPayload =
    "domain, id, status, reason, task_id, priority, label, confidence, '', '', "
    "'', model_version, policy_hash, created_ms, final_label, final_outcome, final_ms, input_hash, erased_ms, "
    "truth_label, truth_ms";
constexpr const char* kReviewColumns =
    "review_id, task_id, domain, decision_id, reviewer, outcome, final_label, comment, created_ms, started_ms";
constexpr const char* kTaskColumns =
    "task_id, domain, decision_id, status, priority, reason, assignee, lease_expires_ms, deadline_ms, "
    "created_ms, updated_ms, skills, pool, reviews_required, reviews_done, gold, gold_label, sla_state, "
    "escalations, preassigned, origin";
constexpr const char* kReviewerColumns =
    "id, name, roles, domains, skills, capacity, cost_per_hour, disabled, created_ms, updated_ms";
constexpr const char* kDeliveryColumns =
    "delivery_id, domain, decision_id, event, url, payload_json, status, attempts, next_attempt_ms, last_error, "
    "created_ms, delivered_ms";
constexpr const char* kAuditColumns =
    "seq, ts_ms, actor, action, domain, entity, entity_id, detail_json, prev_hash, hash";

std::string sql(std::initializer_list<const char*> parts) {
  std::string s;
  for (const char* p : parts) s += p;
  return s;
}

sdk::DecisionRecord read_decision(const SQLite::Statement& s) {
  sdk::DecisionRecord d;
  d.domain = s.getColumn(0).getString();
  d.id = s.getColumn(1).getString();
  d.status = s.getColumn(2).getString();
  d.reason = s.getColumn(3).getString();
  d.task_id = s.getColumn(4).getInt64();
  d.priority = s.getColumn(5).getDouble();
  d.label = s.getColumn(6).getString();
  d.confidence = s.getColumn(7).getDouble();
  d.input_json = s.getColumn(8).getString();
  d.prediction_json = s.getColumn(9).getString();
  d.meta_json = s.getColumn(10).getString();
  d.model_version = s.getColumn(11).getString();
  d.policy_hash = s.getColumn(12).getString();
  d.created_ms = s.getColumn(13).getInt64();
  d.final_label = s.getColumn(14).getString();
  d.final_outcome = s.getColumn(15).getString();
  d.final_ms = s.getColumn(16).getInt64();
  d.input_hash = s.getColumn(17).getString();
  d.erased_ms = s.getColumn(18).getInt64();
  d.truth_label = s.getColumn(19).getString();
  d.truth_ms = s.getColumn(20).getInt64();
  return d;
}

sdk::ReviewRecord read_review(const SQLite::Statement& s) {
  sdk::ReviewRecord v;
  v.review_id = s.getColumn(0).getInt64();
  v.task_id = s.getColumn(1).getInt64();
  v.domain = s.getColumn(2).getString();
  v.decision_id = s.getColumn(3).getString();
  v.reviewer = s.getColumn(4).getString();
  v.outcome = s.getColumn(5).getString();
  v.final_label = s.getColumn(6).getString();
  v.comment = s.getColumn(7).getString();
  v.created_ms = s.getColumn(8).getInt64();
  v.started_ms = s.getColumn(9).getInt64();
  return v;
}

sdk::TaskRecord read_task(const SQLite::Statement& s) {
  sdk::TaskRecord t;
  t.task_id = s.getColumn(0).getInt64();
  t.domain = s.getColumn(1).getString();
  t.decision_id = s.getColumn(2).getString();
  t.status = s.getColumn(3).getString();
  t.priority = s.getColumn(4).getDouble();
  t.reason = s.getColumn(5).getString();
  t.assignee = s.getColumn(6).getString();
  t.lease_expires_ms = s.getColumn(7).getInt64();
  t.deadline_ms = s.getColumn(8).getInt64();
  t.created_ms = s.getColumn(9).getInt64();
  t.updated_ms = s.getColumn(10).getInt64();
  t.skills = s.getColumn(11).getString();
  t.pool = s.getColumn(12).getString();
  t.reviews_required = s.getColumn(13).getInt64();
  t.reviews_done = s.getColumn(14).getInt64();
  t.gold = s.getColumn(15).getInt() != 0;
  t.gold_label = s.getColumn(16).getString();
  t.sla_state = s.getColumn(17).getString();
  t.escalations = s.getColumn(18).getInt64();
  t.preassigned = s.getColumn(19).getString();
  t.origin = s.getColumn(20).getString();
  return t;
}

sdk::ReviewerRecord read_reviewer(const SQLite::Statement& s) {
  sdk::ReviewerRecord r;
  r.id = s.getColumn(0).getString();
  r.name = s.getColumn(1).getString();
  r.roles = s.getColumn(2).getString();
  r.domains = s.getColumn(3).getString();
  r.skills = s.getColumn(4).getString();
  r.capacity = s.getColumn(5).getInt64();
  r.cost_per_hour = s.getColumn(6).getDouble();
  r.disabled = s.getColumn(7).getInt() != 0;
  r.created_ms = s.getColumn(8).getInt64();
  r.updated_ms = s.getColumn(9).getInt64();
  return r;
}

sdk::DeliveryRecord read_delivery(const SQLite::Statement& s) {
  sdk::DeliveryRecord d;
  d.delivery_id = s.getColumn(0).getInt64();
  d.domain = s.getColumn(1).getString();
  d.decision_id = s.getColumn(2).getString();
  d.event = s.getColumn(3).getString();
  d.url = s.getColumn(4).getString();
  d.payload_json = s.getColumn(5).getString();
  d.status = s.getColumn(6).getString();
  d.attempts = s.getColumn(7).getInt64();
  d.next_attempt_ms = s.getColumn(8).getInt64();
  d.last_error = s.getColumn(9).getString();
  d.created_ms = s.getColumn(10).getInt64();
  d.delivered_ms = s.getColumn(11).getInt64();
  return d;
}

sdk::AuditRecord read_audit(const SQLite::Statement& s) {
  sdk::AuditRecord a;
  a.seq = s.getColumn(0).getInt64();
  a.ts_ms = s.getColumn(1).getInt64();
  a.actor = s.getColumn(2).getString();
  a.action = s.getColumn(3).getString();
  a.domain = s.getColumn(4).getString();
  a.entity = s.getColumn(5).getString();
  a.entity_id = s.getColumn(6).getString();
  a.detail_json = s.getColumn(7).getString();
  a.prev_hash = s.getColumn(8).getString();
  a.hash = s.getColumn(9).getString();
  return a;
}

// Statements of the write path, prepared once: commit() only resets and rebinds them.
struct WriteStatements {
  explicit WriteStatements(SQLite::Database& db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        rollback(db, "ROLLBACK"),
        insert_decision(db, sql({"INSERT INTO decisions(", kDecisionColumns,
                                 ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                                 "ON CONFLICT(domain, id) DO NOTHING"})),
        select_decision(db, sql({"SELECT ", kDecisionColumns, " FROM decisions WHERE domain = ? AND id = ?"})),
        set_decision_task(db, "UPDATE decisions SET task_id = ? WHERE rowid = ?"),
        insert_task(db,
                    "INSERT INTO tasks(domain, decision_id, status, priority, reason, assignee, lease_expires_ms, "
                    "deadline_ms, created_ms, updated_ms, skills, pool, reviews_required, reviews_done, gold, "
                    "gold_label, sla_state, escalations, preassigned, origin) "
                    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        update_task(db,
                    "UPDATE tasks SET status = ?, assignee = ?, lease_expires_ms = ?, updated_ms = ? "
                    "WHERE task_id = ? AND instr(',' || ? || ',', ',' || status || ',') > 0"),
        insert_review(db,
                      "INSERT INTO reviews(task_id, domain, decision_id, reviewer, outcome, final_label, comment, "
                      "created_ms, started_ms) VALUES(?,?,?,?,?,?,?,?,?)"),
        insert_feedback(db,
                        "INSERT INTO feedback(domain, decision_id, input_json, final_label, model_label, "
                        "model_confidence, outcome, reviewer, created_ms) VALUES(?,?,?,?,?,?,?,?,?)"),
        set_final(db,
                  "UPDATE decisions SET final_label = ?, final_outcome = ?, final_ms = ? "
                  "WHERE domain = ? AND id = ?"),
        // Erasure: the payload goes, the hash, labels and times stay. json_remove keeps the
        // prediction's label and scores but drops contributions (they are value * weight).
        erase_decision(db,
                       "UPDATE decisions SET input_json = '{}', meta_json = '{}', erased_ms = ?, "
                       "prediction_json = CASE WHEN json_valid(prediction_json) "
                       "THEN json_remove(prediction_json, '$.contributions') ELSE '{}' END "
                       "WHERE domain = ? AND id = ? AND erased_ms = 0"),
        erase_feedback(db, "UPDATE feedback SET input_json = '{}' WHERE domain = ? AND decision_id = ?"),
        erase_comments(db, "UPDATE reviews SET comment = '' WHERE domain = ? AND decision_id = ?"),
        set_truth(db, "UPDATE decisions SET truth_label = ?, truth_ms = ? WHERE domain = ? AND id = ?"),
        upsert_reviewer(db, sql({"INSERT INTO reviewers(", kReviewerColumns, ") VALUES(?,?,?,?,?,?,?,?,?,?) "
                                 "ON CONFLICT(id) DO UPDATE SET name = excluded.name, roles = excluded.roles, "
                                 "domains = excluded.domains, skills = excluded.skills, capacity = excluded.capacity, "
                                 "cost_per_hour = excluded.cost_per_hour, disabled = excluded.disabled, "
                                 "updated_ms = excluded.updated_ms"})),
        insert_delivery(db, "INSERT INTO deliveries(domain, decision_id, event, url, payload_json, status, attempts, "
                            "next_attempt_ms, last_error, created_ms, delivered_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)"),
        update_delivery(db, "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, "
                            "delivered_ms = ? WHERE delivery_id = ?"),
        upsert_token(db,
                     "INSERT INTO tokens(name, role, domains, hash, created_ms, revoked) VALUES(?,?,?,?,?,?) "
                     "ON CONFLICT(name) DO UPDATE SET role = excluded.role, domains = excluded.domains, "
                     "hash = excluded.hash, created_ms = excluded.created_ms, revoked = excluded.revoked"),
        insert_audit(db,
                     "INSERT INTO audit(seq, ts_ms, actor, action, domain, entity, entity_id, detail_json, "
                     "prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?,?)"),
        // The chain head is read inside each write transaction (not cached) because other
        // processes append to the same file too (`hitl token create` while `hitl serve` runs).
        // The next seq comes from sqlite_sequence, not only MAX(seq): after a deleted tail it
        // still continues past the deleted records, so the gap stays visible to verification.
        // (MAX(seq) too, so an edited sqlite_sequence cannot make every insert collide.)
        audit_last_seq(db,
                       "SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), "
                       "IFNULL((SELECT MAX(seq) FROM audit), 0))"),
        audit_last_hash(db, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1") {}

  SQLite::Statement& patch_statement(SQLite::Database& db, const std::string& text) {
    auto it = patches.find(text);
    if (it == patches.end()) it = patches.emplace(text, std::make_unique<SQLite::Statement>(db, text)).first;
    return *it->second;
  }

  void reset_all() noexcept {
    for (auto& [_, p] : patches) p->tryReset();
    for (auto* s : {&begin, &commit, &rollback, &insert_decision, &select_decision, &set_decision_task,
                    &insert_task, &update_task, &insert_review, &insert_feedback, &set_final, &erase_decision,
                    &erase_feedback, &erase_comments, &set_truth, &upsert_reviewer, &insert_delivery,
                    &update_delivery, &upsert_token,
                    &insert_audit, &audit_last_seq, &audit_last_hash})
      s->tryReset();
  }

  SQLite::Statement begin, commit, rollback;
  SQLite::Statement insert_decision, select_decision, set_decision_task;
  SQLite::Statement insert_task, update_task;
  SQLite::Statement insert_review, insert_feedback, set_final;
  SQLite::Statement erase_decision, erase_feedback, erase_comments, set_truth;
  SQLite::Statement upsert_reviewer, insert_delivery, update_delivery;
  SQLite::Statement upsert_token, insert_audit;
  // TaskPatch updates, one prepared statement per set of patched columns.
  std::map<std::string, std::unique_ptr<SQLite::Statement>> patches;
  SQLite::Statement audit_last_seq, audit_last_hash;
  AuditHasher hasher;  // reused for every audit record: one digest context, no reallocation
};

// A filtered list query: the WHERE clause holds only the filters that are set, so each variant
// is a plain condition SQLite can serve from an index. Binds in the order the conditions were
// added; ReadStatements caches one prepared statement per distinct text.
struct Query {
  std::string text;
  std::vector<std::variant<std::int64_t, const std::string*, double>> binds;
  void where(const char* cond, std::int64_t v) { add(cond); binds.emplace_back(v); }
  void where(const char* cond, const std::string& v) { add(cond); binds.emplace_back(&v); }
  void add(const char* cond) {
    text += text.find(" WHERE ") == std::string::npos ? " WHERE " : " AND ";
    text += cond;
  }
  void bind(SQLite::Statement& s) const {
    int i = 1;
    for (auto& b : binds) {
      if (auto* v = std::get_if<std::int64_t>(&b)) s.bind(i++, *v);
      else if (auto* d = std::get_if<double>(&b)) s.bind(i++, *d);
      else s.bindNoCopy(i++, *std::get<const std::string*>(b));
    }
  }
};

Query task_query(const sdk::TaskFilter& f) {
  Query q{sql({"SELECT ", kTaskColumns, " FROM tasks"}), {}};
  if (!f.domain.empty()) q.where("domain = ?", f.domain);
  if (!f.status.empty()) q.where("status = ?", f.status);
  if (f.from_ms) q.where("created_ms >= ?", f.from_ms);
  if (f.to_ms) q.where("created_ms < ?", f.to_ms);
  if (f.after_task_id) q.where("task_id > ?", f.after_task_id);
  if (!f.assignee.empty()) q.where("assignee = ?", f.assignee);
  if (!f.sla_state.empty()) q.where("sla_state = ?", f.sla_state);
  if (f.min_priority > 0) {
    q.add("priority >= ?");
    q.binds.emplace_back(f.min_priority);
  }
  q.text += " ORDER BY task_id LIMIT ?";
  q.binds.emplace_back(sql_limit(f.limit));
  return q;
}

Query decision_query(const sdk::DecisionFilter& f) {
  Query q{sql({"SELECT ", f.with_payload ? kDecisionColumns : kDecisionColumnsNoPayload, " FROM decisions"}), {}};
  q.where("domain = ?", f.domain);
  if (f.from_ms) q.where("created_ms >= ?", f.from_ms);
  if (f.to_ms) q.where("created_ms < ?", f.to_ms);
  if (f.exclude_erased) q.add("erased_ms = 0");
  if (f.after_created_ms || !f.after_id.empty()) {
    // Row-value comparison: continues after (created_ms, id) through decisions_by_created.
    q.add("(created_ms, id) > (?, ?)");
    q.binds.emplace_back(f.after_created_ms);
    q.binds.emplace_back(&f.after_id);
  }
  q.text += " ORDER BY created_ms, id LIMIT ?";
  q.binds.emplace_back(sql_limit(f.limit));
  return q;
}

Query delivery_query(const sdk::DeliveryFilter& f) {
  Query q{sql({"SELECT ", kDeliveryColumns, " FROM deliveries"}), {}};
  if (!f.status.empty()) q.where("status = ?", f.status);
  if (f.due_before_ms) q.where("next_attempt_ms <= ?", f.due_before_ms);
  if (!f.decision_id.empty()) q.where("decision_id = ?", f.decision_id);
  if (f.after_delivery_id) q.where("delivery_id > ?", f.after_delivery_id);
  q.text += " ORDER BY delivery_id LIMIT ?";
  q.binds.emplace_back(sql_limit(f.limit));
  return q;
}

Query review_query(const sdk::ReviewFilter& f) {
  Query q{sql({"SELECT ", kReviewColumns, " FROM reviews"}), {}};
  if (f.task_id) q.where("task_id = ?", f.task_id);
  if (!f.domain.empty()) q.where("domain = ?", f.domain);
  if (f.from_ms) q.where("created_ms >= ?", f.from_ms);
  if (f.to_ms) q.where("created_ms < ?", f.to_ms);
  if (f.after_review_id) q.where("review_id > ?", f.after_review_id);
  if (!f.reviewer.empty()) q.where("reviewer = ?", f.reviewer);
  if (!f.decision_id.empty()) q.where("decision_id = ?", f.decision_id);
  // By task: in submission order; otherwise by id, which is the cursor.
  q.text += f.task_id ? " ORDER BY created_ms, review_id LIMIT ?" : " ORDER BY review_id LIMIT ?";
  q.binds.emplace_back(sql_limit(f.limit));
  return q;
}

std::string audit_query(bool by_domain, bool by_entity) {
  std::string q = sql({"SELECT ", kAuditColumns, " FROM audit WHERE seq > ?"});
  if (by_domain) q += " AND domain = ?";
  if (by_entity) q += " AND entity_id = ?";
  return q + " ORDER BY seq LIMIT ?";
}

struct ReadStatements {
  explicit ReadStatements(SQLite::Database& db)
      : get_decision(db, sql({"SELECT ", kDecisionColumns, " FROM decisions WHERE domain = ? AND id = ?"})),
        get_task(db, sql({"SELECT ", kTaskColumns, " FROM tasks WHERE task_id = ?"})),
        db_(db),
        list_feedback_domain(db,
                             "SELECT domain, decision_id, input_json, final_label, model_label, model_confidence, "
                             "outcome, reviewer, created_ms FROM feedback WHERE domain = ? "
                             "ORDER BY created_ms, feedback_id"),
        list_feedback_all(db,
                          "SELECT domain, decision_id, input_json, final_label, model_label, model_confidence, "
                          "outcome, reviewer, created_ms FROM feedback ORDER BY created_ms, feedback_id"),
        list_audit{SQLite::Statement(db, audit_query(false, false)), SQLite::Statement(db, audit_query(false, true)),
                   SQLite::Statement(db, audit_query(true, false)), SQLite::Statement(db, audit_query(true, true))},
        find_token(db, "SELECT name, role, domains, hash, created_ms, revoked FROM tokens WHERE hash = ?"),
        schema_version(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?") {}

  // The prepared statement for a list query's text, prepared on first use.
  SQLite::Statement& cached(const std::string& text) {
    auto it = by_text_.find(text);
    if (it == by_text_.end()) it = by_text_.emplace(text, std::make_unique<SQLite::Statement>(db_, text)).first;
    return *it->second;
  }

  SQLite::Statement get_decision, get_task;
  SQLite::Database& db_;
  std::map<std::string, std::unique_ptr<SQLite::Statement>> by_text_;
  SQLite::Statement list_feedback_domain, list_feedback_all;
  SQLite::Statement list_audit[4];  // [by_domain * 2 + by_entity]
  SQLite::Statement find_token, schema_version;
};

// Runs `write` on each element of one part of a batch, keeping `stage`/`index` on the one being
// written (the batch error names it).
template <class T, class Write>
void each(std::vector<T>& items, const char* name, const char*& stage, std::size_t& index, Write write) {
  stage = name;
  for (index = 0; index < items.size(); ++index) write(items[index]);
}

class SqliteStorage final : public sdk::Storage {
 public:
  SqliteStorage(StorageConfig cfg, std::unique_ptr<SQLite::Database> writer,
                std::unique_ptr<SQLite::Database> reader)
      : cfg_(std::move(cfg)),
        wdb_(std::move(writer)),
        w_(std::make_unique<WriteStatements>(*wdb_)),
        rdb_(std::move(reader)),
        r_(std::make_unique<ReadStatements>(*rdb_)) {}

  Status commit(sdk::WriteBatch& batch) noexcept override;
  Status get_decision(const std::string& domain, const std::string& id,
                      std::optional<sdk::DecisionRecord>& out) noexcept override;
  Status get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept override;
  Status list_tasks(const sdk::TaskFilter& filter, std::vector<sdk::TaskRecord>& out) noexcept override;
  Status list_decisions(const sdk::DecisionFilter& filter, std::vector<sdk::DecisionRecord>& out) noexcept override;
  Status list_reviews(const sdk::ReviewFilter& filter, std::vector<sdk::ReviewRecord>& out) noexcept override;
  Status list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept override;
  Status list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept override;
  Status find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept override;
  Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override {
    return list("list_reviewers", Query{sql({"SELECT ", kReviewerColumns, " FROM reviewers ORDER BY id"}), {}},
                read_reviewer, out);
  }
  Status list_deliveries(const sdk::DeliveryFilter& filter, std::vector<sdk::DeliveryRecord>& out) noexcept override {
    return list("list_deliveries", delivery_query(filter), read_delivery, out);
  }
  Status schema_version(int& out) noexcept override;

 private:
  static Status validate(const sdk::WriteBatch& batch);
  void apply(sdk::WriteBatch& batch, const char*& stage, std::size_t& index);
  void insert_decision(sdk::NewDecision& nd);
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
  void roll_back() noexcept;

  // Runs a filtered list query (prepared once per distinct text) into `out`.
  template <typename Rec>
  Status list(const char* what, const Query& q, Rec (*row)(const SQLite::Statement&), std::vector<Rec>& out) noexcept {
    out.clear();
    return read(what, [&](ReadStatements& r) {
      auto& s = fresh(r.cached(q.text));
      ResetOnExit reset{s};
      q.bind(s);
      while (s.executeStep()) out.push_back(row(s));
    });
  }

  // Runs `body` under the read lock, turning exceptions into a Status that names `what`.
  template <typename Body>
  Status read(const char* what, Body&& body) noexcept {
    try {
      std::lock_guard lock(read_mu_);
      body(*r_);
      return Status::Ok();
    } catch (const SQLite::Exception& e) {
      return Status::Error(code_for(e), std::string("storage-sqlite: ") + what + " failed: " + e.what());
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("storage-sqlite: ") + what + " failed: " + e.what());
    }
  }

  // Declaration order matters: statements are destroyed before the connection they belong to.
  StorageConfig cfg_;
  std::mutex write_mu_;  // commit() has one caller by contract; the lock makes misuse harmless
  std::unique_ptr<SQLite::Database> wdb_;
  std::unique_ptr<WriteStatements> w_;
  std::mutex read_mu_;  // one read connection, shared by the HTTP threads
  std::unique_ptr<SQLite::Database> rdb_;
  std::unique_ptr<ReadStatements> r_;
};

// ---------------------------------------------------------------------------------------------
// Write path

Status SqliteStorage::validate(const sdk::WriteBatch& b) {
  auto bad = [](std::string m) { return Status::Error(Code::invalid_argument, "storage-sqlite: " + std::move(m)); };
  for (std::size_t i = 0; i < b.decisions.size(); ++i)
    if (b.decisions[i].decision.domain.empty() || b.decisions[i].decision.id.empty())
      return bad("decision " + std::to_string(i) + " of the batch has an empty domain or id");
  for (const auto& u : b.task_updates)
    if (normalized_status_list(u.from).empty() || u.to.empty())
      return bad("task update for task " + std::to_string(u.task_id) + " needs a non-empty 'from' list and 'to'");
  for (const auto& f : b.finals)
    if (f.domain.empty() || f.decision_id.empty()) return bad("final outcome with an empty domain or decision_id");
  for (const auto& t : b.tokens)
    if (t.name.empty() || t.hash.empty()) return bad("token with an empty name or hash");
  for (const auto& e : b.erasures)
    if (e.domain.empty() || e.decision_id.empty()) return bad("erasure with an empty domain or decision_id");
  for (const auto& t : b.truths)
    if (t.domain.empty() || t.decision_id.empty() || t.label.empty())
      return bad("ground truth with an empty domain, decision_id or label");
  return Status::Ok();
}

Status SqliteStorage::commit(sdk::WriteBatch& batch) noexcept {
  if (Status st = validate(batch); !st.ok()) return st;
  if (batch.empty()) return Status::Ok();
  std::lock_guard lock(write_mu_);
  const char* stage = "beginning the transaction";
  std::size_t index = 0;
  try {
    fresh(w_->begin).exec();
    apply(batch, stage, index);
    stage = "committing";
    index = 0;
    fresh(w_->commit).exec();
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    roll_back();
    return Status::Error(code_for(e), std::string("storage-sqlite: commit failed while ") + stage + " " +
                                          std::to_string(index) + " of the batch (rolled back): " + e.what());
  } catch (const BatchError& e) {
    roll_back();
    return Status::Error(e.code, "storage-sqlite: commit failed (rolled back): " + e.message);
  } catch (const std::exception& e) {
    roll_back();
    return Status::Error(Code::internal, std::string("storage-sqlite: commit failed while ") + stage +
                                             " (rolled back): " + e.what());
  }
}

void SqliteStorage::roll_back() noexcept {
  w_->reset_all();
  // Some errors (SQLITE_FULL, IOERR, ...) already rolled the transaction back; a second
  // ROLLBACK would only fail with "no transaction is active".
  if (sqlite3_get_autocommit(wdb_->getHandle()) == 0) {
    try {
      fresh(w_->rollback).exec();
    } catch (...) {
      // Nothing better to do: the connection closes (and SQLite rolls back) with the object.
    }
    w_->rollback.tryReset();
  }
}

// Applies every part of a batch inside the caller's transaction; `stage` and `index` name the
// record being written when one fails.
void SqliteStorage::apply(sdk::WriteBatch& b, const char*& stage, std::size_t& index) {
  each(b.decisions, "inserting decision", stage, index, [this](sdk::NewDecision& nd) { insert_decision(nd); });
  each(b.task_updates, "updating task", stage, index, [this](sdk::TaskUpdate& u) { write_task_update(u); });
  each(b.reviews, "inserting review", stage, index, [this](sdk::ReviewRecord& r) { write_review(r); });
  each(b.feedback, "inserting feedback", stage, index, [this](const sdk::FeedbackRecord& f) { write_feedback(f); });
  each(b.finals, "recording final outcome", stage, index, [this](const sdk::FinalOutcome& f) { write_final(f); });
  each(b.task_patches, "patching task", stage, index, [this](const sdk::TaskPatch& p) { write_task_patch(p); });
  each(b.reviewers, "storing reviewer", stage, index, [this](const sdk::ReviewerRecord& r) { write_reviewer(r); });
  each(b.deliveries, "inserting delivery", stage, index, [this](sdk::DeliveryRecord& d) { write_delivery(d); });
  each(b.delivery_updates, "updating delivery", stage, index, [this](const sdk::DeliveryUpdate& u) { write_delivery_update(u); });
  each(b.erasures, "erasing payload", stage, index, [this](sdk::PayloadErasure& e) { write_erasure(e); });
  each(b.truths, "recording ground truth", stage, index, [this](const sdk::GroundTruth& t) { write_truth(t); });
  each(b.tokens, "storing token", stage, index, [this](const sdk::TokenRecord& t) { write_token(t); });
  stage = "appending audit record";
  append_audit(b, index);
}

void SqliteStorage::write_task_update(sdk::TaskUpdate& u) {
  const std::string from = normalized_status_list(u.from);
  auto& s = fresh(w_->update_task);
  ResetOnExit reset{s};
  s.bindNoCopy(1, u.to);
  s.bindNoCopy(2, u.assignee);
  s.bind(3, u.lease_expires_ms);
  s.bind(4, u.updated_ms);
  s.bind(5, u.task_id);
  s.bindNoCopy(6, from);
  // A guard that does not match (lease lost, already completed) is an answer, not an error.
  u.applied = s.exec() == 1;
}

void SqliteStorage::write_review(sdk::ReviewRecord& r) {
  auto& s = fresh(w_->insert_review);
  ResetOnExit reset{s};
  s.bind(1, r.task_id);
  s.bindNoCopy(2, r.domain);
  s.bindNoCopy(3, r.decision_id);
  s.bindNoCopy(4, r.reviewer);
  s.bindNoCopy(5, r.outcome);
  s.bindNoCopy(6, r.final_label);
  s.bindNoCopy(7, r.comment);
  s.bind(8, r.created_ms);
  s.bind(9, r.started_ms);
  s.exec();
  r.review_id = wdb_->getLastInsertRowid();
}

void SqliteStorage::write_feedback(const sdk::FeedbackRecord& f) {
  auto& s = fresh(w_->insert_feedback);
  ResetOnExit reset{s};
  s.bindNoCopy(1, f.domain);
  s.bindNoCopy(2, f.decision_id);
  s.bindNoCopy(3, f.input_json);
  s.bindNoCopy(4, f.final_label);
  s.bindNoCopy(5, f.model_label);
  s.bind(6, f.model_confidence);
  s.bindNoCopy(7, f.outcome);
  s.bindNoCopy(8, f.reviewer);
  s.bind(9, f.created_ms);
  s.exec();
}

void SqliteStorage::write_final(const sdk::FinalOutcome& f) {
  auto& s = fresh(w_->set_final);
  ResetOnExit reset{s};
  s.bindNoCopy(1, f.final_label);
  s.bindNoCopy(2, f.final_outcome);
  s.bind(3, f.final_ms);
  s.bindNoCopy(4, f.domain);
  s.bindNoCopy(5, f.decision_id);
  if (s.exec() == 0)
    throw BatchError{Code::not_found, "final outcome for unknown decision '" + f.decision_id + "' in domain '" +
                                          f.domain + "'"};
}

void SqliteStorage::write_task_patch(const sdk::TaskPatch& p) {
  std::string text = "UPDATE tasks SET ";
  bool first = true;
  auto col = [&](bool set, const char* name) {
    if (!set) return;
    text += first ? "" : ", ";
    text += name;
    text += " = ?";
    first = false;
  };
  col(p.priority.has_value(), "priority");
  col(p.pool.has_value(), "pool");
  col(p.sla_state.has_value(), "sla_state");
  col(p.preassigned.has_value(), "preassigned");
  col(p.reviews_done.has_value(), "reviews_done");
  col(p.escalations.has_value(), "escalations");
  col(p.deadline_ms.has_value(), "deadline_ms");
  if (first) return;  // nothing to change
  text += " WHERE task_id = ?";
  auto& s = fresh(w_->patch_statement(*wdb_, text));
  ResetOnExit reset{s};
  int i = 1;
  if (p.priority) s.bind(i++, *p.priority);
  if (p.pool) s.bindNoCopy(i++, *p.pool);
  if (p.sla_state) s.bindNoCopy(i++, *p.sla_state);
  if (p.preassigned) s.bindNoCopy(i++, *p.preassigned);
  if (p.reviews_done) s.bind(i++, *p.reviews_done);
  if (p.escalations) s.bind(i++, *p.escalations);
  if (p.deadline_ms) s.bind(i++, *p.deadline_ms);
  s.bind(i, p.task_id);
  if (s.exec() == 0) throw BatchError{Code::not_found, "patch for unknown task " + std::to_string(p.task_id)};
}

void SqliteStorage::write_reviewer(const sdk::ReviewerRecord& r) {
  auto& s = fresh(w_->upsert_reviewer);
  ResetOnExit reset{s};
  s.bindNoCopy(1, r.id);
  s.bindNoCopy(2, r.name);
  s.bindNoCopy(3, r.roles);
  s.bindNoCopy(4, r.domains);
  s.bindNoCopy(5, r.skills);
  s.bind(6, r.capacity);
  s.bind(7, r.cost_per_hour);
  s.bind(8, r.disabled ? 1 : 0);
  s.bind(9, r.created_ms);
  s.bind(10, r.updated_ms);
  s.exec();
}

void SqliteStorage::write_delivery(sdk::DeliveryRecord& d) {
  auto& s = fresh(w_->insert_delivery);
  ResetOnExit reset{s};
  s.bindNoCopy(1, d.domain);
  s.bindNoCopy(2, d.decision_id);
  s.bindNoCopy(3, d.event);
  s.bindNoCopy(4, d.url);
  s.bindNoCopy(5, d.payload_json);
  if (d.status.empty()) d.status = "pending";
  s.bindNoCopy(6, d.status);
  s.bind(7, d.attempts);
  s.bind(8, d.next_attempt_ms);
  s.bindNoCopy(9, d.last_error);
  s.bind(10, d.created_ms);
  s.bind(11, d.delivered_ms);
  s.exec();
  d.delivery_id = wdb_->getLastInsertRowid();
}

void SqliteStorage::write_delivery_update(const sdk::DeliveryUpdate& u) {
  auto& s = fresh(w_->update_delivery);
  ResetOnExit reset{s};
  s.bindNoCopy(1, u.status);
  s.bind(2, u.attempts);
  s.bind(3, u.next_attempt_ms);
  s.bindNoCopy(4, u.last_error);
  s.bind(5, u.delivered_ms);
  s.bind(6, u.delivery_id);
  if (s.exec() == 0) throw BatchError{Code::not_found, "update for unknown delivery " + std::to_string(u.delivery_id)};
}

void SqliteStorage::write_erasure(sdk::PayloadErasure& e) {
  {
    auto& s = fresh(w_->erase_decision);
    ResetOnExit reset{s};
    s.bind(1, e.erased_ms);
    s.bindNoCopy(2, e.domain);
    s.bindNoCopy(3, e.decision_id);
    e.applied = s.exec() == 1;
  }
  // Feedback and comments too, also when the decision was erased before (a retried erasure
  // then still catches rows written since, e.g. a review submitted after the first erasure).
  for (auto* stmt : {&w_->erase_feedback, &w_->erase_comments}) {
    auto& s = fresh(*stmt);
    ResetOnExit reset{s};
    s.bindNoCopy(1, e.domain);
    s.bindNoCopy(2, e.decision_id);
    s.exec();
  }
}

void SqliteStorage::write_truth(const sdk::GroundTruth& t) {
  auto& s = fresh(w_->set_truth);
  ResetOnExit reset{s};
  s.bindNoCopy(1, t.label);
  s.bind(2, t.reported_ms);
  s.bindNoCopy(3, t.domain);
  s.bindNoCopy(4, t.decision_id);
  if (s.exec() == 0)
    throw BatchError{Code::not_found, "ground truth for unknown decision '" + t.decision_id + "' in domain '" +
                                          t.domain + "'"};
}

void SqliteStorage::write_token(const sdk::TokenRecord& t) {
  auto& s = fresh(w_->upsert_token);
  ResetOnExit reset{s};
  s.bindNoCopy(1, t.name);
  s.bindNoCopy(2, t.role);
  s.bindNoCopy(3, t.domains);
  s.bindNoCopy(4, t.hash);
  s.bind(5, t.created_ms);
  s.bind(6, t.revoked ? 1 : 0);
  s.exec();
}

// The decisions' own records (new decisions only, ABI 5), then the batch's, as one chain
// continuing from the newest stored record.
void SqliteStorage::append_audit(sdk::WriteBatch& b, std::size_t& index) {
  std::vector<sdk::AuditRecord*> records;
  for (auto& nd : b.decisions) {
    for (auto& a : nd.audit) {
      if (nd.duplicate) a.seq = 0;  // its creation was not stored: neither is its record
      else records.push_back(&a);
    }
  }
  for (auto& a : b.audit) records.push_back(&a);
  if (records.empty()) return;
  std::int64_t seq = 0;
  std::string prev;
  {
    auto& q = fresh(w_->audit_last_seq);
    ResetOnExit reset{q};
    if (q.executeStep()) seq = q.getColumn(0).getInt64();
  }
  {
    auto& q = fresh(w_->audit_last_hash);
    ResetOnExit reset{q};
    prev = q.executeStep() ? q.getColumn(0).getString() : sdk::kAuditGenesisHash;
  }
  for (index = 0; index < records.size(); ++index) {
    auto& a = *records[index];
    a.seq = ++seq;
    a.prev_hash = std::move(prev);
    a.hash = w_->hasher.hash(a, a.prev_hash);
    auto& s = fresh(w_->insert_audit);
    ResetOnExit reset{s};
    s.bind(1, a.seq);
    s.bind(2, a.ts_ms);
    s.bindNoCopy(3, a.actor);
    s.bindNoCopy(4, a.action);
    s.bindNoCopy(5, a.domain);
    s.bindNoCopy(6, a.entity);
    s.bindNoCopy(7, a.entity_id);
    s.bindNoCopy(8, a.detail_json);
    s.bindNoCopy(9, a.prev_hash);
    s.bindNoCopy(10, a.hash);
    s.exec();
    prev = a.hash;
  }
}

void SqliteStorage::insert_decision(sdk::NewDecision& nd) {
  auto& d = nd.decision;
  nd.duplicate = false;  // recomputed: a batch retried after a rollback may carry a stale flag
  {
    auto& s = fresh(w_->insert_decision);
    ResetOnExit reset{s};
    s.bindNoCopy(1, d.domain);
    s.bindNoCopy(2, d.id);
    s.bindNoCopy(3, d.status);
    s.bindNoCopy(4, d.reason);
    s.bind(5, nd.task ? std::int64_t{0} : d.task_id);  // set below once the task row exists
    s.bind(6, d.priority);
    s.bindNoCopy(7, d.label);
    s.bind(8, d.confidence);
    s.bindNoCopy(9, d.input_json);
    s.bindNoCopy(10, d.prediction_json);
    s.bindNoCopy(11, d.meta_json);
    s.bindNoCopy(12, d.model_version);
    s.bindNoCopy(13, d.policy_hash);
    s.bind(14, d.created_ms);
    s.bindNoCopy(15, d.final_label);
    s.bindNoCopy(16, d.final_outcome);
    s.bind(17, d.final_ms);
    s.bindNoCopy(18, d.input_hash);
    s.bind(19, d.erased_ms);
    s.bindNoCopy(20, d.truth_label);
    s.bind(21, d.truth_ms);
    if (s.exec() == 0) {
      // (domain, id) exists: answer with the stored original so a retried ingest is idempotent.
      auto& q = fresh(w_->select_decision);
      ResetOnExit reset_select{q};
      q.bindNoCopy(1, d.domain);
      q.bindNoCopy(2, d.id);
      if (!q.executeStep()) throw BatchError{Code::internal, "decision '" + d.id + "' conflicted but cannot be read"};
      d = read_decision(q);
      nd.duplicate = true;
      return;
    }
  }
  if (!nd.task) return;

  const std::int64_t decision_rowid = wdb_->getLastInsertRowid();
  auto& t = *nd.task;
  t.domain = d.domain;
  t.decision_id = d.id;
  if (t.status.empty()) t.status = "pending";
  {
    auto& s = fresh(w_->insert_task);
    ResetOnExit reset{s};
    s.bindNoCopy(1, t.domain);
    s.bindNoCopy(2, t.decision_id);
    s.bindNoCopy(3, t.status);
    s.bind(4, t.priority);
    s.bindNoCopy(5, t.reason);
    s.bindNoCopy(6, t.assignee);
    s.bind(7, t.lease_expires_ms);
    s.bind(8, t.deadline_ms);
    s.bind(9, t.created_ms);
    s.bind(10, t.updated_ms);
    s.bindNoCopy(11, t.skills);
    s.bindNoCopy(12, t.pool);
    s.bind(13, t.reviews_required);
    s.bind(14, t.reviews_done);
    s.bind(15, t.gold ? 1 : 0);
    s.bindNoCopy(16, t.gold_label);
    s.bindNoCopy(17, t.sla_state);
    s.bind(18, t.escalations);
    s.bindNoCopy(19, t.preassigned);
    s.bindNoCopy(20, t.origin);
    s.exec();
  }
  t.task_id = wdb_->getLastInsertRowid();
  d.task_id = t.task_id;
  auto& s = fresh(w_->set_decision_task);
  ResetOnExit reset{s};
  s.bind(1, t.task_id);
  s.bind(2, decision_rowid);
  s.exec();
}

// ---------------------------------------------------------------------------------------------
// Read path

Status SqliteStorage::get_decision(const std::string& domain, const std::string& id,
                                   std::optional<sdk::DecisionRecord>& out) noexcept {
  out.reset();
  return read("get_decision", [&](ReadStatements& r) {
    auto& s = fresh(r.get_decision);
    ResetOnExit reset{s};
    s.bindNoCopy(1, domain);
    s.bindNoCopy(2, id);
    if (s.executeStep()) out = read_decision(s);
  });
}

Status SqliteStorage::get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept {
  out.reset();
  return read("get_task", [&](ReadStatements& r) {
    auto& s = fresh(r.get_task);
    ResetOnExit reset{s};
    s.bind(1, task_id);
    if (s.executeStep()) out = read_task(s);
  });
}

Status SqliteStorage::list_tasks(const sdk::TaskFilter& filter, std::vector<sdk::TaskRecord>& out) noexcept {
  return list("list_tasks", task_query(filter), read_task, out);
}

Status SqliteStorage::list_decisions(const sdk::DecisionFilter& filter, std::vector<sdk::DecisionRecord>& out) noexcept {
  out.clear();
  if (filter.domain.empty())
    return Status::Error(Code::invalid_argument, "storage-sqlite: list_decisions needs a domain");
  return list("list_decisions", decision_query(filter), read_decision, out);
}

Status SqliteStorage::list_reviews(const sdk::ReviewFilter& filter, std::vector<sdk::ReviewRecord>& out) noexcept {
  return list("list_reviews", review_query(filter), read_review, out);
}

Status SqliteStorage::list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept {
  out.clear();
  return read("list_feedback", [&](ReadStatements& r) {
    auto& s = fresh(domain.empty() ? r.list_feedback_all : r.list_feedback_domain);  // "" = every domain
    ResetOnExit reset{s};
    if (!domain.empty()) s.bindNoCopy(1, domain);
    while (s.executeStep()) {
      sdk::FeedbackRecord f;
      f.domain = s.getColumn(0).getString();
      f.decision_id = s.getColumn(1).getString();
      f.input_json = s.getColumn(2).getString();
      f.final_label = s.getColumn(3).getString();
      f.model_label = s.getColumn(4).getString();
      f.model_confidence = s.getColumn(5).getDouble();
      f.outcome = s.getColumn(6).getString();
      f.reviewer = s.getColumn(7).getString();
      f.created_ms = s.getColumn(8).getInt64();
      out.push_back(std::move(f));
    }
  });
}

Status SqliteStorage::list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept {
  out.clear();
  return read("list_audit", [&](ReadStatements& r) {
    const bool by_domain = !filter.domain.empty(), by_entity = !filter.entity_id.empty();
    auto& s = fresh(r.list_audit[by_domain * 2 + by_entity]);
    ResetOnExit reset{s};
    int i = 1;
    s.bind(i++, filter.after_seq);
    if (by_domain) s.bindNoCopy(i++, filter.domain);
    if (by_entity) s.bindNoCopy(i++, filter.entity_id);
    s.bind(i, sql_limit(filter.limit));
    while (s.executeStep()) out.push_back(read_audit(s));
  });
}

Status SqliteStorage::find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept {
  out.reset();
  return read("find_token", [&](ReadStatements& r) {
    auto& s = fresh(r.find_token);
    ResetOnExit reset{s};
    s.bindNoCopy(1, hash);
    if (!s.executeStep()) return;
    sdk::TokenRecord t;
    t.name = s.getColumn(0).getString();
    t.role = s.getColumn(1).getString();
    t.domains = s.getColumn(2).getString();
    t.hash = s.getColumn(3).getString();
    t.created_ms = s.getColumn(4).getInt64();
    t.revoked = s.getColumn(5).getInt() != 0;
    out = std::move(t);
  });
}

Status SqliteStorage::schema_version(int& out) noexcept {
  out = 0;
  return read("schema_version", [&](ReadStatements& r) {
    auto& s = fresh(r.schema_version);
    ResetOnExit reset{s};
    s.bind(1, kComponent);
    if (s.executeStep()) out = s.getColumn(0).getInt();
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------

sdk::Status open_storage(const StorageConfig& cfg, std::unique_ptr<sdk::Storage>& out) noexcept {
  out.reset();
  const char* step = "opening";
  try {
    const std::filesystem::path file(cfg.path);
    if (file.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec)
        return Status::Error(Code::invalid_argument, "storage-sqlite: cannot create directory " +
                                                         file.parent_path().string() + " for 'path': " + ec.message());
    }

    // NOMUTEX: each connection is used under its own lock (or by the single writer thread).
    auto writer = std::make_unique<SQLite::Database>(
        cfg.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX, cfg.busy_timeout_ms);
    step = "enabling WAL on";
    {
      SQLite::Statement mode(*writer, "PRAGMA journal_mode = WAL");
      std::string got = mode.executeStep() ? mode.getColumn(0).getString() : "";
      std::transform(got.begin(), got.end(), got.begin(), [](unsigned char c) { return std::tolower(c); });
      if (got != "wal")
        return Status::Error(Code::invalid_argument, "storage-sqlite: cannot use WAL journal mode on " + cfg.path +
                                                         " (SQLite answered '" + got + "'); use a regular file");
    }
    // WAL + NORMAL: a commit survives a process crash; only an OS crash / power cut can lose
    // the last commits. FULL fsyncs the WAL on every commit.
    writer->exec(cfg.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");

    step = "migrating";
    int version = 0;
    if (Status st = migrate(*writer, cfg.path, now_ms(), version); !st.ok()) return st;

    step = "opening the read connection to";
    auto reader = std::make_unique<SQLite::Database>(cfg.path, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX,
                                                     cfg.busy_timeout_ms);
    step = "preparing statements on";
    out = with_token_life(std::make_unique<SqliteStorage>(cfg, std::move(writer), std::move(reader)), cfg);
    return Status::Ok();
  } catch (const SQLite::Exception& e) {
    const int primary = e.getErrorCode() & 0xff;
    // CANTOPEN / NOTADB / READONLY are about the configured path, not a transient failure.
    const Code code = primary == SQLITE_CANTOPEN || primary == SQLITE_NOTADB || primary == SQLITE_READONLY ||
                              primary == SQLITE_PERM
                          ? Code::invalid_argument
                          : code_for(e);
    return Status::Error(code, std::string("storage-sqlite: ") + step + " database " + cfg.path + " failed: " + e.what());
  } catch (const std::exception& e) {
    return Status::Error(Code::internal,
                         std::string("storage-sqlite: ") + step + " database " + cfg.path + " failed: " + e.what());
  }
}

}  // namespace hitl::storage_sqlite
