// Reviews and the feedback they produce (the training examples of `hitl train`).
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

using sdk::Status;

void SqliteStorage::write_review(sdk::ReviewRecord& r) {
  kReviews.exec_insert(w_->insert_review, r);
  r.review_id = wdb_->getLastInsertRowid();
}

void SqliteStorage::write_feedback(const sdk::FeedbackRecord& f) { kFeedback.exec_insert(w_->insert_feedback, f); }

namespace {

Query review_query(const sdk::ReviewFilter& f) {
  Query q(kReviews.select());
  q.where_set("task_id = ?", f.task_id).where_set("domain = ?", f.domain).created_between(f.from_ms, f.to_ms);
  q.where_set("review_id > ?", f.after_review_id).where_set("reviewer = ?", f.reviewer);
  q.where_set("decision_id = ?", f.decision_id);
  // By task: in submission order; otherwise by id, which is the cursor.
  return q.order_and_limit(f.task_id ? "created_ms, review_id" : "review_id", f.limit);
}

}  // namespace

Status SqliteStorage::list_reviews(const sdk::ReviewFilter& filter, std::vector<sdk::ReviewRecord>& out) noexcept {
  return list("list_reviews", review_query(filter), kReviews, out);
}

Status SqliteStorage::list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept {
  Query q(kFeedback.select());
  q.where_set("domain = ?", domain);  // "" = every domain
  q.text += " ORDER BY created_ms, feedback_id";
  return list("list_feedback", q, kFeedback, out);
}

}  // namespace hitl::storage_sqlite
