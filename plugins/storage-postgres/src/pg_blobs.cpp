// Named blobs (storage 1.3): the `blobs` table of schema migration 5. A put is one statement (an
// upsert) in its own transaction on a pooled session: readers see the old row or the new one.
// Bytes travel as bytea's escaped text (parameters are text here), and come back unescaped.
#include "pg_storage.hpp"

#include "blob_rules.hpp"

namespace hitl::storage_postgres {

using sdk::Status;
using storage_common::check_blob_name;

namespace {
// bytea's hex input form, "\x4142...": any byte, NUL included, as text.
std::string bytea_text(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}
}  // namespace

Status PgStorage::put_blob(const std::string& name, const std::string& bytes, std::int64_t updated_ms) noexcept {
  if (Status st = check_blob_name(name, kPlugin, "put_blob"); !st.ok()) return st;
  return pg::with_session(readers_, kPlugin, "put_blob", [&](pg::Session& s) {
    const std::string sha256 = storage_sqlite::AuditHasher().sha256_hex(bytes);
    pqxx::work tx(s.conn());
    s.run(tx,
          "INSERT INTO blobs(name, bytes, size, sha256, updated_ms) VALUES($1, $2::bytea, $3, $4, $5) "
          "ON CONFLICT(name) DO UPDATE SET bytes = excluded.bytes, size = excluded.size, sha256 = excluded.sha256, "
          "updated_ms = excluded.updated_ms",
          pg::params(name, bytea_text(bytes), static_cast<std::int64_t>(bytes.size()), sha256, updated_ms));
    tx.commit();
  });
}

Status PgStorage::get_blob(const std::string& name, std::optional<std::string>& out) noexcept {
  out.reset();
  if (Status st = check_blob_name(name, kPlugin, "get_blob"); !st.ok()) return st;
  return pg::with_session(readers_, kPlugin, "get_blob", [&](pg::Session& s) {
    pqxx::nontransaction tx(s.conn());
    const auto r = s.run(tx, "SELECT bytes FROM blobs WHERE name = $1", pg::params(name));
    if (!r.empty()) out = pqxx::binarystring(r[0][0]).str();
  });
}

// The names from `prefix` on, in byte order (the column's "C" collation), that start with it.
Status PgStorage::list_blobs(const std::string& prefix, std::vector<sdk::BlobInfo>& out) noexcept {
  if (Status st = storage_common::check_blob_prefix(prefix, kPlugin); !st.ok()) return st;
  pg::Query q("SELECT name, size, sha256, updated_ms FROM blobs");
  q.where("name >= ?", prefix);
  // Bounded above when it can be, so the scan stops at the last match instead of the last name.
  const auto bound = storage_common::prefix_upper_bound(prefix);
  if (bound) q.where("name < ?", *bound);
  q.where("left(name, char_length(?::text)) = ?::text", prefix, prefix);
  return list("list_blobs", q.order_and_limit("name", static_cast<std::size_t>(-1)),
              [](const pqxx::row& r) {
                return sdk::BlobInfo{r[0].as<std::string>(), r[1].as<std::int64_t>(), r[2].as<std::string>(),
                                     r[3].as<std::int64_t>()};
              },
              out);
}

Status PgStorage::delete_blob(const std::string& name) noexcept {
  if (Status st = check_blob_name(name, kPlugin, "delete_blob"); !st.ok()) return st;
  return pg::with_session(readers_, kPlugin, "delete_blob", [&](pg::Session& s) {
    pqxx::work tx(s.conn());
    s.run(tx, "DELETE FROM blobs WHERE name = $1", pg::params(name));
    tx.commit();
  });
}

}  // namespace hitl::storage_postgres
