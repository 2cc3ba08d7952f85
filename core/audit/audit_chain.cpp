#include "audit/audit_chain.hpp"

#include "common/hash.hpp"

#include <hitl/audit_chain.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

namespace hitl::audit {
namespace {

std::vector<sdk::AuditRecord> page_after(sdk::Storage& storage, std::int64_t after_seq, std::size_t limit) {
  std::vector<sdk::AuditRecord> out;
  sdk::AuditFilter f;
  f.after_seq = after_seq;
  f.limit = limit;
  if (auto st = storage.list_audit(f, out); !st.ok())
    throw AuditError("audit: reading the records after seq " + std::to_string(after_seq) + " failed: " + st.message);
  return out;
}

std::optional<sdk::AuditRecord> first_after(sdk::Storage& storage, std::int64_t after_seq) {
  auto page = page_after(storage, after_seq, 1);
  if (page.empty()) return std::nullopt;
  return std::move(page.front());
}

std::string short_hash(const std::string& h) { return h.size() > 12 ? h.substr(0, 12) + "..." : "'" + h + "'"; }

// Why `r` does not follow the record (prev_seq, prev_hash); "" when it does.
std::string check(const sdk::AuditRecord& r, std::int64_t prev_seq, const std::string& prev_hash) {
  if (r.seq != prev_seq + 1) {
    if (prev_seq == 0)
      return "seq gap: the trail starts at seq " + std::to_string(r.seq) + " instead of 1 (records before it deleted)";
    return "seq gap: seq " + std::to_string(prev_seq) + " is followed by seq " + std::to_string(r.seq) +
           " (records deleted)";
  }
  if (r.prev_hash != prev_hash) {
    const std::string of = prev_seq == 0 ? "the genesis hash" : "the hash of seq " + std::to_string(prev_seq);
    return "prev_hash " + short_hash(r.prev_hash) + " does not match " + of + " " + short_hash(prev_hash) +
           " (a record was inserted, deleted or moved before this one)";
  }
  const std::string computed = record_hash(r);
  if (r.hash != computed)
    return "hash mismatch: stored " + short_hash(r.hash) + ", computed " + short_hash(computed) +
           " (the record was edited after it was written)";
  return "";
}

}  // namespace

// The format lives once, in the SDK helper that storage plugins use too.
std::string canonical_record(const sdk::AuditRecord& r) {
  std::string out;
  sdk::audit_chain::append_canonical(out, r, sha256_hex(r.detail_json), r.prev_hash);
  return out;
}

std::string record_hash(const sdk::AuditRecord& r) {
  return sdk::audit_chain::record_hash(r, r.prev_hash, [](std::string_view s) { return sha256_hex(s); });
}

ChainHead chain_head(sdk::Storage& storage) {
  auto r = first_after(storage, 0);
  if (!r) return {};
  // Gallop past the newest record, then bisect: list_audit only pages forwards.
  std::int64_t step = 1, bound = 0;
  for (;;) {
    const std::int64_t max = std::numeric_limits<std::int64_t>::max();
    bound = r->seq > max - step ? max : r->seq + step;
    auto next = first_after(storage, bound - 1);  // the first record with seq >= bound
    if (!next) break;
    r = std::move(next);
    step = std::min<std::int64_t>(step * 2, std::int64_t{1} << 61);
  }
  // Now r exists and nothing has seq >= bound.
  while (bound - r->seq > 1) {
    const std::int64_t mid = r->seq + (bound - r->seq) / 2;
    if (auto next = first_after(storage, mid - 1)) r = std::move(next);
    else bound = mid;
  }
  return ChainHead{r->seq, r->hash};
}

VerifyResult verify_chain(sdk::Storage& storage, std::size_t page_size) {
  if (page_size == 0) throw std::invalid_argument("audit: verify_chain page_size must be at least 1");
  VerifyResult res;
  for (std::int64_t after = 0;;) {
    auto page = page_after(storage, after, page_size);
    if (page.empty()) return res;
    for (const auto& r : page) {
      if (std::string why = check(r, res.head.seq, res.head.hash); !why.empty()) {
        res.ok = false;
        res.bad_seq = r.seq;
        res.reason = std::move(why);
        return res;
      }
      ++res.records;
      res.head = ChainHead{r.seq, r.hash};
    }
    after = page.back().seq;
  }
}

}  // namespace hitl::audit
