#include "audit_chain.hpp"

#include <hitl/audit_chain.hpp>

#include <openssl/evp.h>

#include <stdexcept>

namespace hitl::storage_sqlite {
// The algorithm is fetched once per hasher: EVP_sha256() in EVP_DigestInit_ex makes OpenSSL 3
// look it up in its provider tables (under locks) on every record, half the cost of hashing a
// small record (issue 19).
AuditHasher::AuditHasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (!ctx_ || !md_) {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
    throw std::runtime_error("cannot allocate an OpenSSL digest context or fetch SHA-256");
  }
  canonical_.reserve(512);
}

AuditHasher::~AuditHasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

void AuditHasher::digest_hex(const char* data, std::size_t size, char* out64) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx_, md_, nullptr) != 1 || EVP_DigestUpdate(ctx_, data, size) != 1 ||
      EVP_DigestFinal_ex(ctx_, md, &len) != 1 || len != 32)
    throw std::runtime_error("SHA-256 of an audit record failed (OpenSSL)");
  static const char* digits = "0123456789abcdef";
  for (unsigned i = 0; i < 32; ++i) {
    out64[2 * i] = digits[md[i] >> 4];
    out64[2 * i + 1] = digits[md[i] & 0xf];
  }
}

std::string AuditHasher::sha256_hex(const std::string& data) {
  std::string out(64, '0');
  digest_hex(data.data(), data.size(), out.data());
  return out;
}

std::string AuditHasher::hash(const sdk::AuditRecord& r, const std::string& prev_hash) {
  char detail_hash[64];
  digest_hex(r.detail_json.data(), r.detail_json.size(), detail_hash);
  canonical_.clear();
  sdk::audit_chain::append_canonical(canonical_, r, std::string_view(detail_hash, sizeof detail_hash), prev_hash);
  std::string out(64, '0');
  digest_hex(canonical_.data(), canonical_.size(), out.data());
  return out;
}

}  // namespace hitl::storage_sqlite
