#pragma once
// hitl plugin SDK helper: the audit hash chain's canonical form (defined in plugin_api.hpp,
// above AuditRecord), header-only, for the host and for every storage plugin, so the format is
// written down in code once. It is no part of the plugin ABI (each side compiles its own copy;
// a test pins it to the worked example in plugin_api.hpp).
//
// SHA-256 itself is the caller's: the SDK pulls in no crypto library. Pass any callable taking
// a std::string_view and returning the lowercase hex digest (64 characters) -- OpenSSL's EVP,
// a database's built-in function, your own.
#include <hitl/plugin_api.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace hitl::sdk::audit_chain {

// F(x): <decimal byte length of x> ":" <x> ","
inline void append_field(std::string& out, std::string_view x) {
  char len[24];
  const auto end = std::to_chars(len, len + sizeof len, x.size()).ptr;
  out.append(len, end);
  out.push_back(':');
  out.append(x);
  out.push_back(',');
}

// An integer in decimal ASCII: "-" when negative, no "+", no leading zeros.
inline void append_field(std::string& out, std::int64_t v) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  append_field(out, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

// Appends the canonical serialisation of `r` chained to `prev_hash`:
//   F(seq) F(ts_ms) F(actor) F(action) F(domain) F(entity) F(entity_id) F(D) F(prev_hash)
// where D = `detail_sha256_hex`, the hex SHA-256 of r.detail_json. r.prev_hash and r.hash are
// not read. Appending (rather than returning) lets a caller reuse one buffer for many records.
inline void append_canonical(std::string& out, const AuditRecord& r, std::string_view detail_sha256_hex,
                             std::string_view prev_hash) {
  append_field(out, r.seq);
  append_field(out, r.ts_ms);
  append_field(out, r.actor);
  append_field(out, r.action);
  append_field(out, r.domain);
  append_field(out, r.entity);
  append_field(out, r.entity_id);
  append_field(out, detail_sha256_hex);
  append_field(out, prev_hash);
}

// The `hash` of `r` when chained to `prev_hash`, with the caller's SHA-256 (see above).
template <class Sha256Hex>
std::string record_hash(const AuditRecord& r, std::string_view prev_hash, Sha256Hex&& sha256_hex) {
  std::string canonical;
  canonical.reserve(256 + r.actor.size() + r.action.size() + r.domain.size() + r.entity.size() + r.entity_id.size());
  append_canonical(canonical, r, sha256_hex(std::string_view(r.detail_json)), prev_hash);
  return sha256_hex(std::string_view(canonical));
}

}  // namespace hitl::sdk::audit_chain
