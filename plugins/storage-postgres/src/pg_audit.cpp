// The audit trail: appending a batch's records to the one hash chain, and reading them back.
#include "pg_storage.hpp"
#include "pg_tables.hpp"

#include "batch_rules.hpp"

namespace hitl::storage_postgres {
namespace {

// A small batch's records and the head's new position in one statement: the head's UPDATE as a
// CTE (which runs whether or not the INSERT reads it), the records as one array per column. The
// last two parameters are the head's new seq and hash.
const std::string& append_small_sql() {
  static const std::string sql = [] {
    const std::size_t n = kAudit.inserted_count();
    return "WITH head AS (UPDATE audit_head SET seq = $" + std::to_string(n + 1) + "::bigint, hash = $" +
           std::to_string(n + 2) + " WHERE id = 1) " + kAudit.bulk_insert();
  }();
  return sql;
}

}  // namespace

// The head row is locked (FOR UPDATE) until this transaction ends: a second writer -- another
// instance, `hitl token create` -- waits here and then continues from our last record, so
// the chain never forks. Taken last in the batch, so the lock is held only for the append: for a
// small batch one statement (append_small_sql), for a large one a COPY of the records and the
// head's update.
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
  const auto record_of = [](const sdk::AuditRecord* a) -> const sdk::AuditRecord& { return *a; };
  if (records.size() < pg::kCopyFromRows) {
    pg::Params p = kAudit.bulk_params(records.begin(), records.end(), record_of);
    p.push_back(pg::text_of(seq));
    p.push_back(prev);
    tx.run(append_small_sql(), p);
    return;
  }
  kAudit.copy_in(tx.w, records.begin(), records.end(), record_of);
  tx.run("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", pg::params(seq, prev));
}

sdk::Status PgStorage::list_audit(const sdk::AuditFilter& filter, std::vector<sdk::AuditRecord>& out) noexcept {
  pg::Query q(kAudit.select());
  q.where("seq > ?", filter.after_seq).where_set("domain = ?", filter.domain).where_set("entity_id = ?", filter.entity_id);
  return list("list_audit", q.order_and_limit("seq", filter.limit), [](const pqxx::row& r) { return kAudit.read(r); }, out);
}

}  // namespace hitl::storage_postgres
