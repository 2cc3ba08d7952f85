// The write batch's other parts, one statement per record: tokens, reviewers, erasures, ground
// truths; and the review path's kinds when a batch holds one row of a kind or repeats a key in it
// (task transitions, reviews, finals, patches, deliveries; in bulk: pg_review_writes.cpp).
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_postgres {

using sdk::Code;

BatchError unknown_decision(const char* what, const std::string& domain, const std::string& decision_id) {
  return {Code::not_found, std::string(what) + " for unknown decision '" + decision_id + "' in domain '" + domain + "'"};
}

BatchError unknown_task_patch(const sdk::TaskPatch& p) {
  return {Code::not_found, "patch for unknown task " + std::to_string(p.task_id)};
}

void PgStorage::write_task_update(Tx& tx, sdk::TaskUpdate& u) {
  // A guard that does not match (lease lost, already completed) is an answer, not an error; a
  // matching guard with an illegal pair is refused by the lifecycle trigger (check_violation).
  const auto r = tx.run(
      "UPDATE tasks SET status = $1, assignee = $2, lease_expires_ms = $3, updated_ms = $4 "
      "WHERE task_id = $5 AND status = ANY(string_to_array(regexp_replace($6, '\\s', '', 'g'), ','))",
      pg::params(u.to, u.assignee, u.lease_expires_ms, u.updated_ms, u.task_id, u.from));
  u.applied = r.affected_rows() == 1;
}

void PgStorage::write_review(Tx& tx, sdk::ReviewRecord& r) {
  pg::Params p;
  kReviews.append(p, r);
  r.review_id = tx.run(kReviews.insert() + " RETURNING review_id", p)[0][0].as<std::int64_t>();
}

void PgStorage::write_final(Tx& tx, const sdk::FinalOutcome& f) {
  const auto r = tx.run("UPDATE decisions SET final_label = $1, final_outcome = $2, final_ms = $3 WHERE domain = $4 AND id = $5",
                        pg::params(f.final_label, f.final_outcome, f.final_ms, f.domain, f.decision_id));
  if (r.affected_rows() == 0) throw unknown_decision("final outcome", f.domain, f.decision_id);
}

void PgStorage::write_task_patch(Tx& tx, const sdk::TaskPatch& p) {
  std::string set;
  pg::Params values;
  storage_common::each_patchable(p, [&](const char* column, const auto& v) {
    if (!v) return;
    values.push_back(std::string(pg::text_of(*v)));
    set.append(set.empty() ? "" : ", ").append(column).append(" = $" + std::to_string(values.size()));
  });
  if (set.empty()) return;  // nothing to change
  values.push_back(pg::text_of(p.task_id));
  const auto r = tx.run("UPDATE tasks SET " + set + " WHERE task_id = $" + std::to_string(values.size()), values);
  if (r.affected_rows() == 0) throw unknown_task_patch(p);
}

void PgStorage::write_reviewer(Tx& tx, const sdk::ReviewerRecord& r) {
  pg::Params p;
  kReviewers.append(p, r);
  tx.run(kReviewers.insert() +
             " ON CONFLICT(id) DO UPDATE SET name = excluded.name, roles = excluded.roles, domains = excluded.domains, "
             "skills = excluded.skills, capacity = excluded.capacity, cost_per_hour = excluded.cost_per_hour, "
             "disabled = excluded.disabled, updated_ms = excluded.updated_ms",
         p);
}

// d.status is set ("pending" when it was empty: write_deliveries).
void PgStorage::write_delivery(Tx& tx, sdk::DeliveryRecord& d) {
  pg::Params p;
  kDeliveries.append(p, d);
  d.delivery_id = tx.run(kDeliveries.insert() + " RETURNING delivery_id", p)[0][0].as<std::int64_t>();
}

void PgStorage::write_delivery_update(Tx& tx, const sdk::DeliveryUpdate& u) {
  const auto r = tx.run(
      "UPDATE deliveries SET status = $1, attempts = $2, next_attempt_ms = $3, last_error = $4, delivered_ms = $5 "
      "WHERE delivery_id = $6",
      pg::params(u.status, u.attempts, u.next_attempt_ms, u.last_error, u.delivered_ms, u.delivery_id));
  if (r.affected_rows() == 0) throw BatchError{Code::not_found, "update for unknown delivery " + std::to_string(u.delivery_id)};
}

void PgStorage::write_erasure(Tx& tx, sdk::PayloadErasure& e) {
  const auto r = tx.run(
      "UPDATE decisions SET input_json = '{}', meta_json = '{}', erased_ms = $1, "
      "prediction_json = hitl_without_contributions(prediction_json) WHERE domain = $2 AND id = $3 AND erased_ms = 0",
      pg::params(e.erased_ms, e.domain, e.decision_id));
  e.applied = r.affected_rows() == 1;
  // Feedback and comments too, also when the decision was erased before (a retried erasure
  // then still catches rows written since).
  tx.run("UPDATE feedback SET input_json = '{}' WHERE domain = $1 AND decision_id = $2", pg::params(e.domain, e.decision_id));
  tx.run("UPDATE reviews SET comment = '' WHERE domain = $1 AND decision_id = $2", pg::params(e.domain, e.decision_id));
}

void PgStorage::write_truth(Tx& tx, const sdk::GroundTruth& t) {
  const auto r = tx.run("UPDATE decisions SET truth_label = $1, truth_ms = $2 WHERE domain = $3 AND id = $4",
                        pg::params(t.label, t.reported_ms, t.domain, t.decision_id));
  if (r.affected_rows() == 0) throw unknown_decision("ground truth", t.domain, t.decision_id);
}

void PgStorage::write_token(Tx& tx, const sdk::TokenRecord& t) {
  pg::Params p;
  kTokens.append(p, t);
  tx.run(kTokens.insert() +
             " ON CONFLICT(name) DO UPDATE SET role = excluded.role, domains = excluded.domains, hash = excluded.hash, "
             "created_ms = excluded.created_ms, revoked = excluded.revoked",
         p);
}

}  // namespace hitl::storage_postgres
