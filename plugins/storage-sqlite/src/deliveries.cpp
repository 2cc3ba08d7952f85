// Webhook deliveries: the outbox the notifier drains, with its retry state.
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

using sdk::Code;

void SqliteStorage::write_delivery(sdk::DeliveryRecord& d) {
  if (d.status.empty()) d.status = "pending";
  kDeliveries.exec_insert(w_->insert_delivery, d);
  d.delivery_id = wdb_->getLastInsertRowid();
}

void SqliteStorage::write_delivery_update(const sdk::DeliveryUpdate& u) {
  if (exec_with(w_->update_delivery, u.status, u.attempts, u.next_attempt_ms, u.last_error, u.delivered_ms,
                u.delivery_id) == 0)
    throw BatchError{Code::not_found, "update for unknown delivery " + std::to_string(u.delivery_id)};
}

namespace {

Query delivery_query(const sdk::DeliveryFilter& f) {
  Query q(kDeliveries.select());
  q.where_set("status = ?", f.status).where_set("next_attempt_ms <= ?", f.due_before_ms);
  q.where_set("decision_id = ?", f.decision_id).where_set("delivery_id > ?", f.after_delivery_id);
  return q.order_and_limit("delivery_id", f.limit);
}

}  // namespace

sdk::Status SqliteStorage::list_deliveries(const sdk::DeliveryFilter& filter,
                                           std::vector<sdk::DeliveryRecord>& out) noexcept {
  return list("list_deliveries", delivery_query(filter), kDeliveries, out);
}

}  // namespace hitl::storage_sqlite
