// The write path's statements, prepared when the storage opens.
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

WriteStatements::WriteStatements(SQLite::Database& db)
    : begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      rollback(db, "ROLLBACK"),
      insert_decision(db, kDecisions.insert() + " ON CONFLICT(domain, id) DO NOTHING"),
      select_decision(db, kDecisions.select() + " WHERE domain = ? AND id = ?"),
      delete_new_task(db, "DELETE FROM tasks WHERE task_id = ?"),
      insert_task(db, kTasks.insert()),
      update_task(db,
                  "UPDATE tasks SET status = ?, assignee = ?, lease_expires_ms = ?, updated_ms = ? "
                  "WHERE task_id = ? AND instr(',' || ? || ',', ',' || status || ',') > 0"),
      insert_review(db, kReviews.insert()),
      insert_feedback(db, kFeedback.insert()),
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
      upsert_reviewer(db, kReviewers.insert() +
                              " ON CONFLICT(id) DO UPDATE SET name = excluded.name, roles = excluded.roles, "
                              "domains = excluded.domains, skills = excluded.skills, capacity = excluded.capacity, "
                              "cost_per_hour = excluded.cost_per_hour, disabled = excluded.disabled, "
                              "updated_ms = excluded.updated_ms"),
      insert_delivery(db, kDeliveries.insert()),
      update_delivery(db, "UPDATE deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, last_error = ?, "
                          "delivered_ms = ? WHERE delivery_id = ?"),
      upsert_token(db, kTokens.insert() +
                           " ON CONFLICT(name) DO UPDATE SET role = excluded.role, domains = excluded.domains, "
                           "hash = excluded.hash, created_ms = excluded.created_ms, revoked = excluded.revoked"),
      insert_audit(db, kAudit.insert()),
      // The chain head is read inside each write transaction (not cached) because other
      // processes append to the same file too (`hitl token create` while `hitl serve` runs).
      // The next seq comes from sqlite_sequence, not only MAX(seq): after a deleted tail it
      // still continues past the deleted records, so the gap stays visible to verification.
      // (MAX(seq) too, so an edited sqlite_sequence cannot make every insert collide.)
      audit_last_seq(db,
                     "SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'audit'), 0), "
                     "IFNULL((SELECT MAX(seq) FROM audit), 0))"),
      audit_last_hash(db, "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1"),
      patches(db) {}

void WriteStatements::reset_all() noexcept {
  patches.reset_all();
  for (auto* s : {&begin, &commit, &rollback, &insert_decision, &select_decision, &delete_new_task, &insert_task,
                  &update_task, &insert_review, &insert_feedback, &set_final, &erase_decision, &erase_feedback,
                  &erase_comments, &set_truth, &upsert_reviewer, &insert_delivery, &update_delivery, &upsert_token,
                  &insert_audit, &audit_last_seq, &audit_last_hash})
    s->tryReset();
}

}  // namespace hitl::storage_sqlite
