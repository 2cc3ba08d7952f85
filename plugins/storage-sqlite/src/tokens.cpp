// API tokens (only their hashes are stored).
#include "storage_impl.hpp"
#include "tables.hpp"

namespace hitl::storage_sqlite {

void SqliteStorage::write_token(const sdk::TokenRecord& t) { kTokens.exec_insert(w_->upsert_token, t); }

sdk::Status SqliteStorage::find_token(const std::string& hash, std::optional<sdk::TokenRecord>& out) noexcept {
  return get("find_token", Query(kTokens.select()).where("hash = ?", hash), kTokens, out);
}

}  // namespace hitl::storage_sqlite
