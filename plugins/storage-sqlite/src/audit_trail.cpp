// The audit trail: appending a batch's records to the hash chain, and reading them back.
#include "storage_impl.hpp"
#include "tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_sqlite {

using sdk::Status;

// One chain continuing from the newest stored record.
void SqliteStorage::append_audit(sdk::WriteBatch& b, std::size_t& index) {
  const std::vector<sdk::AuditRecord*> records = storage_common::audit_records_to_append(b);
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
    kAudit.exec_insert(w_->insert_audit, a);
    prev = a.hash;
  }
}

Status SqliteStorage::list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept {
  Query q(kAudit.select());
  q.where("seq > ?", filter.after_seq).where_set("domain = ?", filter.domain);
  q.where_set("entity_id = ?", filter.entity_id);
  return list("list_audit", q.order_and_limit("seq", filter.limit), kAudit, out);
}

}  // namespace hitl::storage_sqlite
