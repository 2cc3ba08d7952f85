// The audit trail: appending a batch's records to the one hash chain, and reading them back.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_postgres {
namespace {

// A small batch's records and the head's move in one statement: the head's UPDATE as a CTE,
// guarded by the head the records were chained to, and the records (one array per column)
// inserted only when it matched -- all or nothing. The last four parameters are the head's new
// seq and hash and the expected ones.
const std::string& append_small_sql() {
  static const std::string sql = [] {
    const std::size_t n = kAudit.inserted_count();
    const auto arg = [&](std::size_t k) { return "$" + std::to_string(n + k); };
    return "WITH head AS (UPDATE audit_head SET seq = " + arg(1) + "::bigint, hash = " + arg(2) + " WHERE id = 1 AND seq = " +
           arg(3) + "::bigint AND hash = " + arg(4) + " RETURNING 1) " + kAudit.bulk_insert() +
           " WHERE EXISTS (SELECT 1 FROM head)";
  }();
  return sql;
}

}  // namespace

// Numbers and hashes `records` on from `from`; returns the new head.
PgStorage::AuditHead PgStorage::chain(const std::vector<sdk::AuditRecord*>& records, const AuditHead& from,
                                      std::size_t& index) {
  AuditHead head = from;
  for (index = 0; index < records.size(); ++index) {
    auto& a = *records[index];
    a.seq = ++head.seq;
    a.prev_hash = std::move(head.hash);
    a.hash = hasher_.hash(a, a.prev_hash);
    head.hash = a.hash;
  }
  index = 0;
  return head;
}

// A small batch's append in one statement, chained to `from`: false when the head had moved
// (nothing written then).
bool PgStorage::append_small(Tx& tx, const std::vector<sdk::AuditRecord*>& records, const AuditHead& from,
                             std::size_t& index) {
  const AuditHead to = chain(records, from, index);
  pg::Params p = kAudit.bulk_params(records.begin(), records.end(), [](const sdk::AuditRecord* a) -> const auto& { return *a; });
  for (const auto& v : {pg::text_of(to.seq), to.hash, pg::text_of(from.seq), from.hash}) p.push_back(v);
  if (tx.run(append_small_sql(), p).affected_rows() != records.size()) return false;
  pending_head_ = to;
  return true;
}

// The chain never forks: every append moves the one head row, locked until this transaction
// ends, so a second writer -- another instance, `hitl token create` -- waits and continues from
// our last record. A small batch first tries the head this writer's last commit left, in one
// statement whose UPDATE matches only that head (append_small): one round trip when no other
// writer appended since, which the last read of the head tells (head_trusted_); else, and for a
// large batch, the head is read and locked (FOR UPDATE) first. Taken last in the batch, so the
// lock is held only for the append: one statement, or a COPY of the records and the head's update.
void PgStorage::append_audit(Tx& tx, sdk::WriteBatch& b, std::size_t& index) {
  const std::vector<sdk::AuditRecord*> records = storage_common::audit_records_to_append(b);
  if (records.empty()) return;
  const bool small = records.size() < pg::kCopyFromRows;
  if (small && head_trusted_ && committed_head_ && append_small(tx, records, *committed_head_, index)) return;
  const auto row = tx.run("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE");
  if (row.empty()) throw BatchError{sdk::Code::internal, "the audit chain's head row is missing"};
  const AuditHead head{row[0][0].as<std::int64_t>(), row[0][1].as<std::string>()};
  head_trusted_ = committed_head_ && committed_head_->seq == head.seq && committed_head_->hash == head.hash;
  if (small) {
    if (!append_small(tx, records, head, index))
      throw BatchError{sdk::Code::internal, "the audit chain's head moved while locked"};
    return;
  }
  const AuditHead to = chain(records, head, index);
  kAudit.copy_in(tx.w, records.begin(), records.end(), [](const sdk::AuditRecord* a) -> const auto& { return *a; });
  tx.run("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", pg::params(to.seq, to.hash));
  pending_head_ = to;
}

sdk::Status PgStorage::list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept {
  pg::Query q(kAudit.select());
  q.where("seq > ?", filter.after_seq).where_set("domain = ?", filter.domain).where_set("entity_id = ?", filter.entity_id);
  return list("list_audit", q.order_and_limit("seq", filter.limit), [](const pqxx::row& r) { return kAudit.read(r); }, out);
}

}  // namespace hitl::storage_postgres
