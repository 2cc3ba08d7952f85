#include "audit/audit_chain.hpp"

#include <nlohmann/json.hpp>

#include <ostream>
#include <vector>

namespace hitl::audit {

std::int64_t export_jsonl(sdk::Storage& storage, std::int64_t from_seq, std::int64_t to_seq, std::ostream& out,
                          std::size_t page_size) {
  if (from_seq < 1) throw std::invalid_argument("audit export: from seq must be at least 1, got " + std::to_string(from_seq));
  if (to_seq != 0 && to_seq < from_seq)
    throw std::invalid_argument("audit export: to seq " + std::to_string(to_seq) + " is before from seq " +
                                std::to_string(from_seq));
  if (page_size == 0) throw std::invalid_argument("audit export: page_size must be at least 1");
  std::int64_t written = 0;
  std::vector<sdk::AuditRecord> page;
  for (std::int64_t after = from_seq - 1;;) {
    sdk::AuditFilter f;
    f.after_seq = after;
    f.limit = page_size;
    if (auto st = storage.list_audit(f, page); !st.ok())
      throw AuditError("audit export: reading the records after seq " + std::to_string(after) + " failed: " + st.message);
    if (page.empty()) return written;
    for (const auto& r : page) {
      if (to_seq != 0 && r.seq > to_seq) return written;
      // Fields in their documented order; invalid UTF-8 is replaced so one bad byte string never
      // aborts an export (that record then no longer re-verifies offline).
      const nlohmann::ordered_json line{{"seq", r.seq},
                                        {"ts_ms", r.ts_ms},
                                        {"actor", r.actor},
                                        {"action", r.action},
                                        {"domain", r.domain},
                                        {"entity", r.entity},
                                        {"entity_id", r.entity_id},
                                        {"detail_json", r.detail_json},
                                        {"prev_hash", r.prev_hash},
                                        {"hash", r.hash}};
      out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
      ++written;
    }
    if (!out) throw AuditError("audit export: writing the output failed after " + std::to_string(written) + " records");
    after = page.back().seq;
  }
}

}  // namespace hitl::audit
