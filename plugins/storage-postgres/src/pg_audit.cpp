// The audit trail: appending a batch's records to the one hash chain, and reading them back.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_postgres {
// The head row is locked (FOR UPDATE) until this transaction ends: a second writer -- another
// instance, `hitl token create` -- waits here and then continues from our last record, so
// the chain never forks. Taken last in the batch, so the lock is held only for the append: one
// COPY of the batch's records and the head's update.
void PgStorage::append_audit(Tx& tx, sdk::WriteBatch& b, std::size_t& index) {
  const std::vector<sdk::AuditRecord*> records = storage_common::audit_records_to_append(b);
  if (records.empty()) return;
  const auto head = tx.run("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE");
  if (head.empty()) throw BatchError{sdk::Code::internal, "the audit chain's head row is missing"};
  std::int64_t seq = head[0][0].as<std::int64_t>();
  std::string prev = head[0][1].as<std::string>();
  for (index = 0; index < records.size(); ++index) {
    auto& a = *records[index];
    a.seq = ++seq;
    a.prev_hash = std::move(prev);
    a.hash = hasher_.hash(a, a.prev_hash);
    prev = a.hash;
  }
  index = 0;
  kAudit.copy_in(tx.w, records.begin(), records.end(), [](const sdk::AuditRecord* a) -> const auto& { return *a; });
  tx.run("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", pg::params(seq, prev));
}

sdk::Status PgStorage::list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept {
  pg::Query q(kAudit.select());
  q.where("seq > ?", filter.after_seq).where_set("domain = ?", filter.domain).where_set("entity_id = ?", filter.entity_id);
  return list("list_audit", q.order_and_limit("seq", filter.limit), [](const pqxx::row& r) { return kAudit.read(r); }, out);
}

}  // namespace hitl::storage_postgres
