#pragma once
// Policy changes without downtime (docs/policy.md, "Changing a running policy"). A domain's
// policy file is taken again when it changes (the housekeeping job polls its size and mtime every
// policy.watch_seconds; the content hash decides), on SIGHUP, and on POST /v1/domains/{d}/policy/reload. The
// candidate is compiled with the configured limits and must pass the domain's test cases
// (domains.*.policy_cases, else <stem>.cases.jsonl beside the policy) before it is swapped in
// (policy/policy_reload.hpp). Every swap is audited as policy.loaded (old and new hash); a refused
// candidate is logged, counted (hitl_policy_reloads_total{domain,outcome}) and kept with its
// error for /healthz and the admin route, while the policy in force keeps serving.
//
// A domain's shadow policy (domains.*.shadow_policy) is watched the same way: a changed shadow is
// compiled and swapped in without cases (it decides nothing), and logged.
#include "common/files.hpp"
#include "config/service_config.hpp"
#include "policy/policy_reload.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace hitl::service {

class Metrics;
class Writer;

enum class ReloadTrigger { file_change, signal, admin };
const char* trigger_name(ReloadTrigger t);  // "file_change", "signal", "admin"

class PolicyReloader {
 public:
  // `shadow` holds the domains' shadow policies (null: none). All must outlive the reloader.
  PolicyReloader(const config::ServiceConfig& cfg, policy::PolicyEngine& live, policy::PolicyEngine* shadow,
                 Metrics& metrics, Writer& writer);

  // The housekeeping job: each domain whose policy or shadow file changed since it was last seen.
  void reload_changed();
  // SIGHUP: every domain, changed or not (an unchanged file is a no-op).
  void reload_all(ReloadTrigger trigger);
  // One domain's policy now (the admin route). `actor` is audited with a swap. Unknown domain:
  // std::out_of_range.
  policy::ReloadResult reload(const std::string& domain, ReloadTrigger trigger, const std::string& actor);

  // The policy in force (file, hash, version, cases), the last swap and the last refused
  // candidate with its error.
  nlohmann::json status(const std::string& domain) const;
  // For /healthz: per domain the hash in force and, if any, the last refused candidate.
  nlohmann::json health() const;

 private:
  struct Refusal {
    std::string outcome, hash, error;
    std::int64_t at_ms = 0;
    ReloadTrigger trigger = ReloadTrigger::file_change;
  };
  struct Watch {
    FileStamp policy, shadow;  // shadow.path empty: no shadow policy
    std::int64_t loaded_ms = 0;  // the last swap, 0: the policy of the start
    std::uint64_t loads = 0;
    std::optional<Refusal> refused;
    std::string shadow_error;  // why the last changed shadow was not taken ("" = fine)
  };

  static nlohmann::json refused_json(const Watch& w);  // null when nothing was refused
  std::filesystem::path cases_of(const std::string& domain) const;
  policy::ReloadResult reload_locked(const std::string& domain, Watch& w, ReloadTrigger trigger, const std::string& actor);
  void record(const std::string& domain, Watch& w, const policy::ReloadResult& r, ReloadTrigger trigger,
              const std::string& actor);
  void audit_swap(const std::string& domain, const policy::ReloadResult& r, ReloadTrigger trigger,
                  const std::string& actor);
  void reload_shadow(const std::string& domain, Watch& w);

  const config::ServiceConfig& cfg_;
  policy::PolicyEngine& live_;
  policy::PolicyEngine* shadow_;
  Metrics& metrics_;
  Writer& writer_;
  std::size_t reloads_family_ = 0;  // hitl_policy_reloads_total{domain,outcome}
  // One reload at a time (it holds the file stamps); the status fields have their own lock, so
  // /healthz never waits for a candidate's cases to run.
  std::mutex reload_mu_;
  mutable std::mutex state_mu_;
  std::map<std::string, Watch> watches_;  // by domain; the set is fixed at construction
};

}  // namespace hitl::service
