// The reviewer directory.
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

void SqliteStorage::write_reviewer(const sdk::ReviewerRecord& r) { kReviewers.exec_insert(w_->upsert_reviewer, r); }

sdk::Status SqliteStorage::list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept {
  Query q(kReviewers.select());
  q.text += " ORDER BY id";
  return list("list_reviewers", q, kReviewers, out);
}

}  // namespace hitl::storage_sqlite
