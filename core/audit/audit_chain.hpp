#pragma once
// The audit hash chain seen from the host: the hash of a record (the format is defined in
// sdk/include/hitl/plugin_api.hpp, above sdk::AuditRecord), verification of a whole trail
// through sdk::Storage::list_audit, its head, and a JSON Lines export.
//
// Verification checks, record by record in seq order, that
//   1. seqs run 1, 2, 3, ... with no gap        (a gap means records were deleted),
//   2. prev_hash equals the previous record's stored hash (genesis for the first record)
//                                               (else records were inserted, deleted or reordered),
//   3. hash equals the hash recomputed from the record's fields (else the record was edited).
// It stops at the first record that fails one of them. The chain has no secret: whoever can write
// the database can rewrite every record from some point on consistently. Compare the head with a
// copy kept elsewhere (`hitl serve` logs it at start) to detect that, or a truncated tail.
#include <hitl/plugin_api.hpp>

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>

namespace hitl::audit {

// A storage read failed during a walk; what() names the call and the plugin's message.
class AuditError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The bytes a record's hash covers, with `r.prev_hash` as the link (r.hash is not read).
std::string canonical_record(const sdk::AuditRecord& r);
// Lowercase hex SHA-256 of canonical_record(r).
std::string record_hash(const sdk::AuditRecord& r);

struct ChainHead {
  std::int64_t seq = 0;                       // 0 for an empty trail
  std::string hash = sdk::kAuditGenesisHash;  // the newest record's stored hash
};

// The newest record (not verified), found with O(log n) list_audit calls. Throws AuditError.
ChainHead chain_head(sdk::Storage& storage);

struct VerifyResult {
  bool ok = true;
  std::int64_t records = 0;  // records that passed every check
  ChainHead head;            // the last record that passed (genesis when none did)
  // When !ok: the first record failing a check, and why (one line, naming the check).
  std::int64_t bad_seq = 0;
  std::string reason;
};

// Walks the whole trail in pages of `page_size` records (after_seq paging). Throws AuditError
// when storage fails, std::invalid_argument for page_size 0.
VerifyResult verify_chain(sdk::Storage& storage, std::size_t page_size = 1000);

// Writes records with from_seq <= seq <= to_seq (to_seq 0 = up to the newest) as JSON Lines:
// {"seq","ts_ms","actor","action","domain","entity","entity_id","detail_json","prev_hash","hash"}
// (keys in that order), detail_json kept as a string, byte for byte, so that an export can be
// re-verified offline.
// Returns the number of records written. Throws AuditError (storage) or std::invalid_argument
// (from_seq < 1, or to_seq before from_seq).
std::int64_t export_jsonl(sdk::Storage& storage, std::int64_t from_seq, std::int64_t to_seq, std::ostream& out,
                          std::size_t page_size = 1000);

}  // namespace hitl::audit
