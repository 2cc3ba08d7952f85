// The audit hash chain as storage-sqlite computes it (the format is defined in plugin_api.hpp,
// above sdk::AuditRecord). One AuditHasher per connection: it reuses its OpenSSL digest context
// and buffers, so hashing a record allocates nothing once they have grown.
#pragma once

#include <hitl/plugin_api.hpp>

#include <string>

struct evp_md_ctx_st;
struct evp_md_st;

namespace hitl::storage_sqlite {

class AuditHasher {
 public:
  AuditHasher();  // throws std::runtime_error when OpenSSL cannot allocate a context
  ~AuditHasher();
  AuditHasher(const AuditHasher&) = delete;
  AuditHasher& operator=(const AuditHasher&) = delete;

  // Lowercase hex SHA-256 of `data` (used for decisions' input_hash when migrating old rows).
  std::string sha256_hex(const std::string& data);

  // The hex hash of `r` chained to `prev_hash` (r.seq must already be set; r.prev_hash and
  // r.hash are not read). Throws std::runtime_error if OpenSSL fails.
  std::string hash(const sdk::AuditRecord& r, const std::string& prev_hash);

 private:
  void digest_hex(const char* data, std::size_t size, char* out64);

  evp_md_ctx_st* ctx_;
  evp_md_st* md_;  // SHA-256, fetched once
  std::string canonical_;
};

}  // namespace hitl::storage_sqlite
