#include "app/policy_reloader.hpp"

#include "audit/audit_record.hpp"
#include "common/clock.hpp"
#include "metrics/metrics.hpp"
#include "policy/policy_cases.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace hitl::service {

using nlohmann::json;
using policy::ReloadOutcome;

const char* trigger_name(ReloadTrigger t) {
  switch (t) {
    case ReloadTrigger::file_change: return "file_change";
    case ReloadTrigger::signal: return "signal";
    case ReloadTrigger::admin: return "admin";
  }
  return "file_change";
}

PolicyReloader::PolicyReloader(const config::ServiceConfig& cfg, policy::PolicyEngine& live,
                               policy::PolicyEngine* shadow, Metrics& metrics, Writer& writer)
    : cfg_(cfg), live_(live), shadow_(shadow), metrics_(metrics), writer_(writer) {
  std::vector<std::string> outcomes;
  for (std::size_t i = 0; i < policy::kReloadOutcomeCount; ++i) outcomes.push_back(policy::outcome_name(ReloadOutcome(i)));
  reloads_family_ = metrics_.add_family("hitl_policy_reloads_total",
                                        "Policy reloads of a running service by outcome (refused ones keep the policy in force).",
                                        "outcome", std::move(outcomes));
  for (const auto& [name, d] : cfg_.domains) {
    Watch& w = watches_[name];
    w.policy.path = d.policy;
    w.policy.changed();  // stamped as loaded at the start
    if (!d.shadow_policy.empty()) {
      w.shadow.path = d.shadow_policy;
      w.shadow.changed();
    }
  }
}

std::filesystem::path PolicyReloader::cases_of(const std::string& domain) const {
  const auto& d = cfg_.domains.at(domain);
  return d.policy_cases.empty() ? policy::default_cases_path(d.policy) : d.policy_cases;
}

void PolicyReloader::reload_changed() {
  std::lock_guard lock(reload_mu_);
  for (auto& [name, w] : watches_) {
    if (w.policy.changed()) reload_locked(name, w, ReloadTrigger::file_change, audit::kSystemActor);
    if (!w.shadow.path.empty() && w.shadow.changed()) reload_shadow(name, w);
  }
}

void PolicyReloader::reload_all(ReloadTrigger trigger) {
  std::lock_guard lock(reload_mu_);
  for (auto& [name, w] : watches_) {
    w.policy.changed();  // stamped now: the poller does not take the same change again
    reload_locked(name, w, trigger, audit::kSystemActor);
    if (!w.shadow.path.empty()) {
      w.shadow.changed();
      reload_shadow(name, w);
    }
  }
}

policy::ReloadResult PolicyReloader::reload(const std::string& domain, ReloadTrigger trigger, const std::string& actor) {
  std::lock_guard lock(reload_mu_);
  Watch& w = watches_.at(domain);
  w.policy.changed();
  return reload_locked(domain, w, trigger, actor);
}

policy::ReloadResult PolicyReloader::reload_locked(const std::string& domain, Watch& w, ReloadTrigger trigger,
                                                   const std::string& actor) {
  const policy::ReloadResult r = policy::reload_policy(live_, domain, w.policy.path, cases_of(domain));
  record(domain, w, r, trigger, actor);
  return r;
}

// The outcome logged, counted and kept for status(); a swap audited.
void PolicyReloader::record(const std::string& domain, Watch& w, const policy::ReloadResult& r, ReloadTrigger trigger,
                            const std::string& actor) {
  metrics_.count(reloads_family_, domain, static_cast<std::size_t>(r.outcome));
  const char* outcome = policy::outcome_name(r.outcome);
  if (policy::refused(r.outcome)) {
    spdlog::error("policy {} ({}): candidate {} refused ({}), keeping {}: {}", domain, trigger_name(trigger),
                  r.new_hash.empty() ? "(does not load)" : r.new_hash.substr(0, 12), outcome, r.old_hash.substr(0, 12),
                  r.error);
    std::lock_guard lock(state_mu_);
    w.refused = Refusal{outcome, r.new_hash, r.error, now_ms(), trigger};
    return;
  }
  if (r.outcome == ReloadOutcome::unchanged) return;
  spdlog::info("policy {} ({}): {} -> {} (version \"{}\", {} cases passed)", domain, trigger_name(trigger),
               r.old_hash.substr(0, 12), r.new_hash.substr(0, 12), r.version, r.cases);
  {
    std::lock_guard lock(state_mu_);
    w.loaded_ms = now_ms();
    ++w.loads;
  }
  audit_swap(domain, r, trigger, actor);
}

void PolicyReloader::audit_swap(const std::string& domain, const policy::ReloadResult& r, ReloadTrigger trigger,
                                const std::string& actor) {
  sdk::WriteBatch batch;
  const json detail = {{"from", r.old_hash},    {"to", r.new_hash},
                       {"version", r.version},  {"file", cfg_.domains.at(domain).policy.filename().string()},
                       {"cases", r.cases},      {"trigger", trigger_name(trigger)}};
  batch.audit.push_back(
      audit::make_record(now_ms(), actor, "policy.loaded", domain, audit::Entity::policy, r.new_hash, detail.dump()));
  // The service's policies in force now, beside its start record: the next start compares with
  // these and does not report this swap again as a policy.changed (Governance::record_start).
  json in_force = json::object();
  for (auto& [name, _] : cfg_.domains) in_force[name] = name == domain ? r.new_hash : live_.policy_hash(name);
  batch.audit.push_back(audit::make_record(now_ms(), actor, "service.policies", "", audit::Entity::service, "hitl",
                                           json{{"policies", in_force}}.dump()));
  // The new policy is in force already: a failed audit write is logged, it does not undo the swap.
  if (auto st = writer_.submit_sync(batch); !st.ok())
    spdlog::error("policy {}: cannot audit the reload {} -> {}: {}", domain, r.old_hash, r.new_hash, st.message);
}

void PolicyReloader::reload_shadow(const std::string& domain, Watch& w) {
  if (!shadow_) return;
  const policy::ReloadResult r = policy::reload_policy(*shadow_, domain, w.shadow.path, {});
  std::lock_guard lock(state_mu_);
  w.shadow_error = r.error;
  if (policy::refused(r.outcome))
    spdlog::error("shadow policy {}: {} does not load, keeping {}: {}", domain, w.shadow.path.string(),
                  r.old_hash.substr(0, 12), r.error);
  else if (r.outcome == ReloadOutcome::loaded)
    spdlog::info("shadow policy {}: {} -> {}", domain, r.old_hash.substr(0, 12), r.new_hash.substr(0, 12));
}

json PolicyReloader::refused_json(const Watch& w) {  // under state_mu_
  if (!w.refused) return nullptr;
  const Refusal& r = *w.refused;
  return {{"outcome", r.outcome}, {"hash", r.hash}, {"error", r.error}, {"at_ms", r.at_ms}, {"trigger", trigger_name(r.trigger)}};
}

json PolicyReloader::status(const std::string& domain) const {
  const Watch& w = watches_.at(domain);
  const auto cases = cases_of(domain);
  const policy::PolicyEngine::Pin in_force(live_, domain);  // hash and version of one generation
  json j = {{"file", w.policy.path.string()},
            {"hash", live_.policy_hash(domain)},
            {"version", live_.policy_version(domain)},
            {"cases", cases.empty() ? json(nullptr) : json(cases.string())}};
  std::lock_guard lock(state_mu_);
  j["loaded_ms"] = w.loaded_ms ? json(w.loaded_ms) : json(nullptr);
  j["reloads"] = w.loads;
  j["last_refused"] = refused_json(w);
  if (!w.shadow.path.empty()) j["shadow_error"] = w.shadow_error.empty() ? json(nullptr) : json(w.shadow_error);
  return j;
}

json PolicyReloader::health() const {
  json out = json::object();
  for (const auto& [name, w] : watches_) {
    const policy::PolicyEngine::Pin in_force(live_, name);
    json d = {{"hash", live_.policy_hash(name)}, {"version", live_.policy_version(name)}};
    std::lock_guard lock(state_mu_);
    // /healthz answers without a token: the refusal without its error text, which may name files
    // and cases (the admin route has it).
    json refused = refused_json(w);
    if (refused.is_object()) refused.erase("error");
    d["last_refused"] = std::move(refused);
    out[name] = std::move(d);
  }
  return out;
}

}  // namespace hitl::service
