// The read path: every read runs on a pooled connection, one statement (its own snapshot), so
// it never waits for the writer and never sees part of a batch.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include <unordered_map>

namespace hitl::storage_postgres {

using sdk::Code;
using sdk::Status;

namespace {

template <class Rec>
auto reader(const Table<Rec>& table) {
  return [&table](const pqxx::row& r) { return table.read(r); };
}

pg::Query decision_query(const sdk::DecisionFilter& f) {
  pg::Query q(kDecisions.select(f.with_payload));
  q.where("domain = ?", f.domain).created_between(f.from_ms, f.to_ms);
  if (f.exclude_erased) q.where("erased_ms = 0");
  // Row-value comparison: continues after (created_ms, id) through decisions_by_created.
  if (f.after_created_ms || !f.after_id.empty()) q.where("(created_ms, id) > (?, ?)", f.after_created_ms, f.after_id);
  return std::move(q.order_and_limit("created_ms, id", f.limit));
}

pg::Query task_query(const sdk::TaskFilter& f) {
  pg::Query q(kTasks.select());
  q.where_set("domain = ?", f.domain).where_set("status = ?", f.status).created_between(f.from_ms, f.to_ms);
  q.where_set("task_id > ?", f.after_task_id).where_set("assignee = ?", f.assignee).where_set("sla_state = ?", f.sla_state);
  if (f.min_priority > 0) q.where("priority >= ?", f.min_priority);
  return std::move(q.order_and_limit("task_id", f.limit));
}

pg::Query review_query(const sdk::ReviewFilter& f) {
  pg::Query q(kReviews.select());
  q.where_set("task_id = ?", f.task_id).where_set("domain = ?", f.domain).created_between(f.from_ms, f.to_ms);
  q.where_set("review_id > ?", f.after_review_id).where_set("reviewer = ?", f.reviewer);
  q.where_set("decision_id = ?", f.decision_id);
  // By task: in submission order; otherwise by id, which is the cursor.
  return std::move(q.order_and_limit(f.task_id ? "created_ms, review_id" : "review_id", f.limit));
}

pg::Query delivery_query(const sdk::DeliveryFilter& f) {
  pg::Query q(kDeliveries.select());
  q.where_set("status = ?", f.status).where_set("next_attempt_ms <= ?", f.due_before_ms);
  q.where_set("decision_id = ?", f.decision_id).where_set("delivery_id > ?", f.after_delivery_id);
  return std::move(q.order_and_limit("delivery_id", f.limit));
}

}  // namespace

Status PgStorage::get_decision(const std::string& domain, const std::string& id,
                               std::optional<sdk::DecisionRecord>& out) noexcept {
  return get("get_decision", pg::Query(kDecisions.select()).where("domain = ?", domain).where("id = ?", id),
             reader(kDecisions), out);
}

// One statement for the whole batch (ids as one text[] parameter); rows matched back to the
// positions of their ids (an id may come twice in a batch).
// Asks made at once on several threads are read together (pg_find_batcher.hpp).
Status PgStorage::find_decisions(const std::string& domain, const std::vector<std::string>& ids,
                                 std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept {
  try {
    return finds_.find(domain, ids, out);
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string(kPlugin) + ": find_decisions failed: " + e.what());
  }
}

Status PgStorage::read_decisions(const std::string& domain, const std::vector<std::string>& ids,
                                 std::vector<std::optional<sdk::DecisionRecord>>& out) noexcept {
  out.assign(ids.size(), std::nullopt);
  if (ids.empty()) return Status::Ok();
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) pg::append_array_element(i ? array += ',' : array, ids[i]);
  array += '}';
  // One primary-key probe per id, whatever the planner believes of the table: a LATERAL
  // subquery with LIMIT is not flattened, so it stays a nested loop over the ids. The plain
  // `domain = $1 AND id = ANY($2)` was planned, on a table not analyzed yet (a fresh database
  // during its first load: autovacuum analyzes a minute later at the earliest), as a scan of the
  // domain's whole index filtering every row against the ids -- O(table) a call: 46 ms for 1000
  // ids at 206k decisions against 1.2 ms now, and with 1k-record ingest chunks batch ingest fell
  // to 2.6k records/s (docs/performance.md).
  std::vector<sdk::DecisionRecord> rows;
  pg::Query q("SELECT d.* FROM unnest($1::text[]) AS k(id), LATERAL (" + kDecisions.select() +
              " WHERE domain = $2 AND id = k.id LIMIT 1) d");
  q.args = {array, domain};
  Status st = list("find_decisions", q, reader(kDecisions), rows);
  if (!st.ok()) return st;
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t r = 0; r < rows.size(); ++r) row_of.emplace(rows[r].id, r);
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (auto it = row_of.find(ids[i]); it != row_of.end()) out[i] = rows[it->second];
  return Status::Ok();
}

Status PgStorage::list_decisions(const sdk::DecisionFilter& filter, std::vector<sdk::DecisionRecord>& out) noexcept {
  out.clear();
  if (filter.domain.empty()) return Status::Error(Code::invalid_argument, std::string(kPlugin) + ": list_decisions needs a domain");
  return list("list_decisions", decision_query(filter), reader(kDecisions), out);
}

Status PgStorage::get_task(std::int64_t task_id, std::optional<sdk::TaskRecord>& out) noexcept {
  return get("get_task", pg::Query(kTasks.select()).where("task_id = ?", task_id), reader(kTasks), out);
}

Status PgStorage::list_tasks(const sdk::TaskFilter& filter, std::vector<sdk::TaskRecord>& out) noexcept {
  return list("list_tasks", task_query(filter), reader(kTasks), out);
}

Status PgStorage::list_reviews(const sdk::ReviewFilter& filter, std::vector<sdk::ReviewRecord>& out) noexcept {
  return list("list_reviews", review_query(filter), reader(kReviews), out);
}

Status PgStorage::list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept {
  pg::Query q(kFeedback.select());
  q.where_set("domain = ?", domain);  // "" = every domain
  q.text += " ORDER BY created_ms, feedback_id";
  return list("list_feedback", q, reader(kFeedback), out);
}

Status PgStorage::find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept {
  return get("find_token", pg::Query(kTokens.select()).where("hash = ?", hash), reader(kTokens), out);
}

Status PgStorage::list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept {
  pg::Query q(kReviewers.select());
  q.text += " ORDER BY id";
  return list("list_reviewers", q, reader(kReviewers), out);
}

Status PgStorage::list_deliveries(const sdk::DeliveryFilter& filter, std::vector<sdk::DeliveryRecord>& out) noexcept {
  return list("list_deliveries", delivery_query(filter), reader(kDeliveries), out);
}

}  // namespace hitl::storage_postgres
