// The audit trail: appending a batch's records to the hash chain, and reading them back.
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

using sdk::Status;

namespace {

// The audit records a batch appends: the decisions' own (new decisions only, ABI 5), then the
// batch's.
std::vector<sdk::AuditRecord*> records_to_append(sdk::WriteBatch& b) {
  std::vector<sdk::AuditRecord*> records;
  for (auto& nd : b.decisions) {
    for (auto& a : nd.audit) {
      if (nd.duplicate) a.seq = 0;  // its creation was not stored: neither is its record
      else records.push_back(&a);
    }
  }
  for (auto& a : b.audit) records.push_back(&a);
  return records;
}

}  // namespace

// One chain continuing from the newest stored record.
void SqliteStorage::append_audit(sdk::WriteBatch& b, std::size_t& index) {
  const std::vector<sdk::AuditRecord*> records = records_to_append(b);
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
