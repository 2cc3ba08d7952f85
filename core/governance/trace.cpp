#include "governance/trace.hpp"

#include "common/service_error.hpp"
#include "common/task_state.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hitl::service {
using nlohmann::json;

namespace {

[[noreturn]] void storage_failed(const char* what, const sdk::Status& st) {
  throw ServiceError(503, "storage_unavailable", std::string("cannot read ") + what + ": " + st.message);
}

// Audit detail is JSON written by the service; should a record hold anything else, it is shown
// as the raw string rather than hidden.
json parse_detail(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

// Every audit record of `domain` whose entity_id is `entity_id`, in seq order. Pages through
// the trail so a long-lived decision is never cut off at the storage's page size.
std::vector<sdk::AuditRecord> audit_for(sdk::Storage& storage, const std::string& domain,
                                        const std::string& entity_id) {
  std::vector<sdk::AuditRecord> all, page;
  sdk::AuditFilter f;
  f.domain = domain;
  f.entity_id = entity_id;
  f.limit = 1000;
  for (;;) {
    auto st = storage.list_audit(f, page);
    if (!st.ok()) storage_failed("the audit trail", st);
    if (page.empty()) break;
    const std::int64_t last = page.back().seq;
    const bool full = page.size() >= f.limit;
    for (auto& a : page) all.push_back(std::move(a));
    if (!full || last <= f.after_seq) break;  // the second test guards against a storage looping
    f.after_seq = last;
  }
  return all;
}

json audit_json(const sdk::AuditRecord& a) {
  return {{"seq", a.seq},           {"ts_ms", a.ts_ms},         {"actor", a.actor},
          {"action", a.action},     {"entity", a.entity},       {"entity_id", a.entity_id},
          {"detail", parse_detail(a.detail_json)},              {"prev_hash", a.prev_hash},
          {"hash", a.hash}};
}

json task_json(const sdk::TaskRecord& t) {
  return {{"task_id", t.task_id},       {"status", t.status},
          {"priority", t.priority},     {"reason", t.reason},
          {"assignee", t.assignee},     {"lease_expires_ms", t.lease_expires_ms},
          {"created_ms", t.created_ms}, {"updated_ms", t.updated_ms}};
}

json review_json(const sdk::ReviewRecord& r) {
  return {{"reviewer", r.reviewer}, {"outcome", r.outcome},       {"final_label", r.final_label},
          {"comment", r.comment},   {"started_ms", r.started_ms}, {"created_ms", r.created_ms}};
}

}  // namespace

json build_trace(sdk::Storage& storage, const sdk::DecisionRecord& d, json decision_json, bool for_reviewer) {
  json out;
  out["decision"] = std::move(decision_json);
  // The pipeline stores a model version only for records the domain's model scored itself.
  out["model"] = {{"version", d.model_version}, {"scored_by_model", !d.model_version.empty()}};
  out["policy"] = {{"hash", d.policy_hash}};
  // The chain covers the input through this hash; after an erasure the input itself is gone.
  out["payload"] = {{"input_hash", d.input_hash},
                    {"erased", d.erased_ms != 0},
                    {"erased_ms", d.erased_ms ? json(d.erased_ms) : json(nullptr)}};
  out["truth"] = d.truth_label.empty() ? json(nullptr)
                                       : json{{"label", d.truth_label}, {"reported_ms", d.truth_ms}};

  std::optional<sdk::TaskRecord> task;
  if (d.task_id != 0) {
    auto st = storage.get_task(d.task_id, task);
    if (!st.ok()) storage_failed("the review task", st);
  }
  out["task"] = task ? task_json(*task) : json(nullptr);
  const bool open = task && is_open(*task);
  const bool blind = for_reviewer && task && (open || task->gold);
  out["blind"] = blind;

  json reviews = json::array();
  if (task && !blind) {
    std::vector<sdk::ReviewRecord> rows;
    sdk::ReviewFilter f;
    f.task_id = task->task_id;
    f.limit = 100000;
    auto st = storage.list_reviews(f, rows);
    if (!st.ok()) storage_failed("the reviews", st);
    for (auto& r : rows) reviews.push_back(review_json(r));
  }
  out["reviews"] = std::move(reviews);

  if (!d.final_outcome.empty())
    out["final"] = {{"label", d.final_label}, {"outcome", d.final_outcome}, {"reviewed_ms", d.final_ms}};
  else
    out["final"] = nullptr;

  // Records about the decision (entity "decision", id = decision id) and about its task (entity
  // "task", id = task number). Storage filters by entity_id only, so the entity is checked here
  // too: a decision called "7" must not pick up task 7's records, nor the reverse.
  const std::string task_key = task ? std::to_string(task->task_id) : std::string();
  auto belongs = [&](const sdk::AuditRecord& a) {
    return (a.entity == "decision" && a.entity_id == d.id) ||
           (task && a.entity == "task" && a.entity_id == task_key);
  };
  std::set<std::string> ids{d.id};
  if (task) ids.insert(task_key);
  std::vector<sdk::AuditRecord> records;
  if (!blind)  // a blind trace shows none: the trail is not read at all
    for (auto& id : ids)
      for (auto& a : audit_for(storage, d.domain, id))
        if (belongs(a)) records.push_back(std::move(a));
  std::sort(records.begin(), records.end(),
            [](const sdk::AuditRecord& a, const sdk::AuditRecord& b) { return a.seq < b.seq; });
  json audit = json::array();
  for (auto& a : records) audit.push_back(audit_json(a));
  out["audit"] = std::move(audit);
  return out;
}

}  // namespace hitl::service
