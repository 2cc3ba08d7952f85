// The token life cycle of storage 1.1: expiry, last use, revocation time, the list; and storage
// 1.3's export of every token with its hash, for `hitl storage copy`. token_life
// is kept by the trigger on tokens (pg_schema.cpp); commit_tokens writes the expiries and the
// batch in one transaction, so a token never exists without the expiry it was created with.
#include "pg_storage.hpp"
#include "token_export.hpp"

#include <chrono>

namespace hitl::storage_postgres {

using sdk::Status;

namespace {

constexpr std::int64_t kOrphanExpiryMs = 3'600'000;
constexpr const char* kInfo =
    "SELECT l.name, l.role, l.domains, l.created_ms, l.expires_ms, l.last_used_ms, l.revoked_ms FROM token_life l";

sdk::TokenExport read_export(const pqxx::row& r) {
  sdk::TokenExport t;
  t.token.name = r[0].as<std::string>();
  t.token.role = r[1].as<std::string>();
  t.token.domains = r[2].as<std::string>();
  t.token.hash = r[3].as<std::string>();
  t.token.created_ms = r[4].as<std::int64_t>();
  t.token.revoked = r[5].as<bool>();
  t.expires_ms = r[6].as<std::int64_t>();
  t.last_used_ms = r[7].as<std::int64_t>();
  t.revoked_ms = r[8].as<std::int64_t>();
  return t;
}

sdk::TokenInfo read_info(const pqxx::row& r) {
  sdk::TokenInfo t;
  t.name = r[0].as<std::string>();
  t.role = r[1].as<std::string>();
  t.domains = r[2].as<std::string>();
  t.created_ms = r[3].as<std::int64_t>();
  t.expires_ms = r[4].as<std::int64_t>();
  t.last_used_ms = r[5].as<std::int64_t>();
  t.revoked_ms = r[6].as<std::int64_t>();
  return t;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

void PgStorage::write_expiries(Tx& tx, const std::vector<sdk::TokenExpiry>& expiries) {
  const std::int64_t now = wall_ms();
  // An expiry left by an older failed batch names a hash no token has: it goes after an hour.
  tx.run("DELETE FROM token_expiries WHERE written_ms < $1", pg::params(now - kOrphanExpiryMs));
  for (const auto& e : expiries)
    tx.run("INSERT INTO token_expiries(hash, expires_ms, written_ms) VALUES($1, $2, $3) "
           "ON CONFLICT(hash) DO UPDATE SET expires_ms = excluded.expires_ms, written_ms = excluded.written_ms",
           pg::params(e.hash, e.expires_ms, now));
}

Status PgStorage::commit_tokens(sdk::WriteBatch& batch, const std::vector<sdk::TokenExpiry>& expiries) noexcept {
  return commit_with(batch, &expiries);
}

Status PgStorage::find_token_info(const std::string& hash, std::optional<sdk::TokenInfo>& out) noexcept {
  return get("find_token_info",
             pg::Query(std::string(kInfo) + " JOIN tokens t ON t.name = l.name").where("t.hash = ?", hash).where("NOT t.revoked"),
             read_info, out);
}

Status PgStorage::list_tokens(std::vector<sdk::TokenInfo>& out) noexcept {
  return list("list_tokens", pg::Query(std::string(kInfo) + " ORDER BY l.name"), read_info, out);
}

Status PgStorage::export_tokens(std::vector<sdk::TokenExport>& out) noexcept {
  return list("export_tokens", pg::Query(storage_common::kExportTokensSql), read_export, out);
}

Status PgStorage::record_token_uses(const std::vector<sdk::TokenUse>& uses) noexcept {
  return pg::with_session(readers_, kPlugin, "record_token_uses", [&](pg::Session& s) {
    pqxx::work tx(s.conn());
    for (const auto& u : uses)
      s.run(tx, "UPDATE token_life SET last_used_ms = GREATEST(last_used_ms, $1) WHERE name = $2",
            pg::params(u.used_ms, u.name));
    tx.commit();
  });
}

}  // namespace hitl::storage_postgres
