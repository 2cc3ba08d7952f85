// The write batch's rules that do not depend on the database, for every storage plugin here.
#pragma once

#include <hitl/plugin_api.hpp>

#include <cctype>
#include <string>
#include <vector>

namespace hitl::storage_common {

// Checks what must hold before anything of `b` is written (non-empty keys, a TaskUpdate's
// from/to); the message starts with `plugin`.
inline sdk::Status validate_batch(const sdk::WriteBatch& b, const char* plugin) {
  auto bad = [&](std::string m) { return sdk::Status::Error(sdk::Code::invalid_argument, std::string(plugin) + ": " + m); };
  auto blank = [](const std::string& s) {
    for (char c : s)
      if (!std::isspace(static_cast<unsigned char>(c))) return false;
    return true;
  };
  for (std::size_t i = 0; i < b.decisions.size(); ++i)
    if (b.decisions[i].decision.domain.empty() || b.decisions[i].decision.id.empty())
      return bad("decision " + std::to_string(i) + " of the batch has an empty domain or id");
  for (const auto& u : b.task_updates)
    if (blank(u.from) || u.to.empty())
      return bad("task update for task " + std::to_string(u.task_id) + " needs a non-empty 'from' list and 'to'");
  for (const auto& f : b.finals)
    if (f.domain.empty() || f.decision_id.empty()) return bad("final outcome with an empty domain or decision_id");
  for (const auto& t : b.tokens)
    if (t.name.empty() || t.hash.empty()) return bad("token with an empty name or hash");
  for (const auto& e : b.erasures)
    if (e.domain.empty() || e.decision_id.empty()) return bad("erasure with an empty domain or decision_id");
  for (const auto& t : b.truths)
    if (t.domain.empty() || t.decision_id.empty() || t.label.empty())
      return bad("ground truth with an empty domain, decision_id or label");
  return sdk::Status::Ok();
}

// The audit records a batch appends, in chain order: the decisions' own (new decisions only,
// ABI 5), then the batch's. A duplicate's records keep seq 0: its creation was not stored.
inline std::vector<sdk::AuditRecord*> audit_records_to_append(sdk::WriteBatch& b) {
  std::vector<sdk::AuditRecord*> records;
  for (auto& nd : b.decisions)
    for (auto& a : nd.audit) {
      if (nd.duplicate) a.seq = 0;
      else records.push_back(&a);
    }
  for (auto& a : b.audit) records.push_back(&a);
  return records;
}

// Runs `write` on each element of one part of a batch, keeping `stage`/`index` on the one being
// written (the batch error names it).
template <class T, class Write>
void each(std::vector<T>& items, const char* name, const char*& stage, std::size_t& index, Write write) {
  stage = name;
  for (index = 0; index < items.size(); ++index) write(items[index]);
}

// Calls f(column, optional value) for each column a TaskPatch may set, in one fixed order: the
// SET clause and the parameters both follow it.
template <class F>
void each_patchable(const sdk::TaskPatch& p, F f) {
  f("priority", p.priority);
  f("pool", p.pool);
  f("sla_state", p.sla_state);
  f("preassigned", p.preassigned);
  f("reviews_done", p.reviews_done);
  f("escalations", p.escalations);
  f("deadline_ms", p.deadline_ms);
}

}  // namespace hitl::storage_common
