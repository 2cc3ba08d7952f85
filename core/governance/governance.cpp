#include "governance/governance.hpp"

#include "audit/audit_record.hpp"
#include "common/task_state.hpp"
#include "common/clock.hpp"
#include "common/service_error.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace hitl::service {
using nlohmann::json;

namespace {
[[noreturn]] void storage_failed(const sdk::Status& st) {
  throw ServiceError(503, "storage_unavailable", "storage: " + st.message);
}

sdk::DecisionRecord load(sdk::Storage& storage, const std::string& domain, const std::string& id) {
  std::optional<sdk::DecisionRecord> d;
  auto st = storage.get_decision(domain, id, d);
  if (!st.ok()) storage_failed(st);
  if (!d) throw ServiceError(404, "not_found", "no decision \"" + id + "\" in domain \"" + domain + "\"", "id");
  return *d;
}

sdk::AuditRecord decision_audit(std::int64_t now, const std::string& actor, const char* action,
                                const std::string& domain, const std::string& id, const json& detail) {
  return audit::make_record(now, actor, action, domain, audit::Entity::decision, id, detail.dump());
}

void add_erasure(sdk::WriteBatch& batch, const sdk::DecisionRecord& d, std::int64_t now, const std::string& actor,
                 const std::string& reason) {
  batch.erasures.push_back({d.domain, d.id, now, false});
  batch.audit.push_back(decision_audit(now, actor, "decision.payload_erased", d.domain, d.id,
                                       {{"reason", reason}, {"input_hash", d.input_hash}}));
}
}  // namespace

Governance::Governance(sdk::Storage& storage, CommitFn commit, ForgetFn forget, TruthFn on_truth)
    : storage_(storage), commit_(std::move(commit)), forget_(std::move(forget)), on_truth_(std::move(on_truth)) {}

void Governance::forget(const std::string& domain, const std::set<std::string>& ids) const {
  if (!forget_ || ids.empty()) return;
  // Storage is erased already (committed and audited); a copy that cannot be rewritten now is
  // logged loudly and removed at the next erasure of the domain, which rewrites the same files.
  try {
    const std::size_t n = forget_(domain, ids);
    if (n) spdlog::info("payload erasure domain={} removed {} copies from dataset versions and golden cases", domain, n);
  } catch (const std::exception& e) {
    spdlog::error("payload erasure domain={}: the dataset copies of {} decisions could not be removed: {}", domain,
                  ids.size(), e.what());
  }
}

EraseResult Governance::erase(const std::string& domain, const std::string& id, const std::string& reason,
                              const std::string& actor) {
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ServiceError(422, "invalid_field", "reason: required (why the payload is erased, e.g. the request id)", "reason");
  const sdk::DecisionRecord d = load(storage_, domain, id);
  EraseResult r{domain, id, false, d.erased_ms, d.input_hash};
  const std::int64_t now = now_ms();
  sdk::WriteBatch batch;
  add_erasure(batch, d, now, actor, reason);
  // Already erased: the storage still blanks feedback and comments written since; the audit
  // record says so, so a repeated request is visible too.
  auto st = commit_(batch);
  if (!st.ok()) storage_failed(st);
  r.erased = batch.erasures.at(0).applied;
  if (r.erased) r.erased_ms = now;
  forget(domain, {id});  // also when it was erased before: a copy may have been made since
  spdlog::info("payload erased domain={} decision={} by={} applied={}", domain, id, actor, r.erased);
  return r;
}

sdk::DecisionRecord Governance::report_truth(const std::string& domain, const std::string& id, const std::string& label,
                                             const std::vector<std::string>& labels, const std::string& actor) {
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) {
    std::string allowed;
    for (auto& l : labels) allowed += (allowed.empty() ? "" : ", ") + l;
    throw ServiceError(422, "invalid_field", "label \"" + label + "\" is not in the domain's labels (" + allowed + ")", "label");
  }
  sdk::DecisionRecord d = load(storage_, domain, id);
  const std::int64_t now = now_ms();
  sdk::WriteBatch batch;
  batch.truths.push_back({domain, id, label, now});
  const std::string delivered = d.final_outcome.empty() ? d.label : d.final_label;
  batch.audit.push_back(decision_audit(now, actor, "decision.truth_reported", domain, id,
                                       {{"label", label}, {"previous", d.truth_label}, {"model_label", d.label},
                                        {"delivered_label", delivered}, {"delivered_correct", delivered == label}}));
  auto st = commit_(batch);
  if (st.code == sdk::Code::not_found) throw ServiceError(404, "not_found", st.message, "id");
  if (!st.ok()) storage_failed(st);
  spdlog::info("ground truth domain={} decision={} label={} delivered_correct={}", domain, id, label, delivered == label);
  const bool first = d.truth_label.empty();
  d.truth_label = label;
  d.truth_ms = now;
  if (on_truth_) on_truth_(d, first);
  return d;
}

std::size_t Governance::erase_older_than(const std::string& domain, std::int64_t cutoff_ms, const std::string& actor,
                                         const std::string& reason) {
  std::size_t erased = 0;
  sdk::DecisionFilter f;
  f.domain = domain;
  f.to_ms = cutoff_ms;
  f.with_payload = false;
  f.exclude_erased = true;
  f.limit = 500;
  std::vector<sdk::DecisionRecord> page;
  for (;;) {
    auto st = storage_.list_decisions(f, page);
    if (!st.ok()) storage_failed(st);
    if (page.empty()) break;
    const std::int64_t now = now_ms();
    sdk::WriteBatch batch;
    for (const auto& d : page) {
      if (d.task_id && d.final_outcome.empty()) {
        // A case still waiting for its reviewer keeps its input: the reviewer needs it.
        std::optional<sdk::TaskRecord> t;
        st = storage_.get_task(d.task_id, t);
        if (!st.ok()) storage_failed(st);
        if (t && is_open(*t)) continue;
      }
      add_erasure(batch, d, now, actor, reason);
    }
    if (!batch.empty()) {
      st = commit_(batch);
      if (!st.ok()) storage_failed(st);
      std::set<std::string> ids;
      for (auto& e : batch.erasures) {
        erased += e.applied;
        if (e.applied) ids.insert(e.decision_id);
      }
      forget(domain, ids);
    }
    if (page.size() < f.limit) break;
    f.after_created_ms = page.back().created_ms;
    f.after_id = page.back().id;
  }
  if (erased) spdlog::info("retention domain={} erased {} payloads created before {}", domain, erased, cutoff_ms);
  return erased;
}

namespace {
struct PreviousStart {
  json started;   // the newest service.started detail (null: none)
  json policies;  // domain -> policy hash in force when that service started, or last swapped one in
};

// What the previous start recorded: the newest "service.started" record (entity service, id
// "hitl"), with its policies replaced by a later "service.policies" record (a policy swapped in
// while that service ran, PolicyReloader), so a reload is not reported again as a change.
PreviousStart previous_start(sdk::Storage& storage) {
  PreviousStart out;
  sdk::AuditFilter f;
  f.entity_id = "hitl";
  f.limit = 1000;
  std::vector<sdk::AuditRecord> page;
  for (;;) {
    auto st = storage.list_audit(f, page);
    if (!st.ok()) storage_failed(st);
    for (auto& a : page) {
      if (a.entity != "service") continue;
      if (a.action == "service.started") {
        out.started = json::parse(a.detail_json, nullptr, false);
        out.policies = out.started.is_object() ? out.started.value("policies", json::object()) : json::object();
      } else if (a.action == "service.policies" && out.started.is_object()) {
        const json now_in_force = json::parse(a.detail_json, nullptr, false);
        if (now_in_force.is_object()) out.policies = now_in_force.value("policies", out.policies);
      }
    }
    if (page.size() < f.limit) break;
    f.after_seq = page.back().seq;
  }
  return out;
}

}  // namespace

std::vector<std::string> Governance::record_start(const std::string& config_file, const std::string& config_sha256,
                                                  const std::map<std::string, std::string>& policy_hashes) {
  const PreviousStart previous = previous_start(storage_);
  json policies = json::object();
  for (auto& [d, h] : policy_hashes) policies[d] = h;
  const std::int64_t now = now_ms();
  sdk::WriteBatch batch;
  std::vector<std::string> changes;
  auto record = [&](const char* action, const std::string& domain, json detail) {
    batch.audit.push_back(
        audit::make_record(now, audit::kSystemActor, action, domain, audit::Entity::service, "hitl", detail.dump()));
  };
  if (previous.started.is_object()) {
    const std::string before = previous.started.value("config_sha256", "");
    if (before != config_sha256) {
      record("config.changed", "", {{"file", config_file}, {"from", before}, {"to", config_sha256}});
      changes.push_back("config " + before.substr(0, 12) + " -> " + config_sha256.substr(0, 12));
    }
    const json& old = previous.policies;
    for (auto& [d, h] : policy_hashes) {
      const std::string was = old.is_object() ? old.value(d, "") : "";
      if (was != h) {
        record("policy.changed", d, {{"from", was}, {"to", h}});
        changes.push_back("policy " + d + " " + (was.empty() ? std::string("(new)") : was.substr(0, 12)) + " -> " +
                          h.substr(0, 12));
      }
    }
  }
  record("service.started", "", {{"file", config_file}, {"config_sha256", config_sha256}, {"policies", policies}});
  auto st = commit_(batch);
  if (!st.ok()) storage_failed(st);
  return changes;
}

}  // namespace hitl::service
