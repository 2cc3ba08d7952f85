#pragma once
// The shadow policy (domains.*.shadow_policy, docs/policy.md "Shadow policy"): a candidate policy
// run on live traffic beside the policy in force, with no effect on any decision. For each record
// the live policy decided, it counts whether the shadow would have routed it the same way, and if
// not, how (replay/replay.hpp's difference kinds: auto->review, ..., reason_changed,
// priority_changed): the live counterpart of `hitl replay`. Its failures are counted and never
// touch the live verdict. It costs a second flag(p) per record (and a priority(task) when both
// send it to review with one reason): policy time doubles.
#include "policy/policy_engine.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace hitl::service {

class Metrics;

class ShadowPolicy {
 public:
  // `engine` holds the shadow policy of each domain that has one (null: no domain has); both it
  // and `metrics` must outlive this. Adds the shadow's metric families to `metrics`.
  ShadowPolicy(policy::PolicyEngine* engine, Metrics& metrics);

  bool runs(const std::string& domain) const { return engine_ && engine_->has_domain(domain); }
  policy::PolicyEngine* engine() const { return engine_; }

  // The shadow's flag(p) for a record the live policy flagged with `in` (hitl.judge counts as
  // review). A shadow failure is counted and gives none.
  std::optional<policy::Verdict> flag(const std::string& domain, const policy::FlagInput& in) noexcept;
  // Counts how the shadow's verdict differs from the live one. `task` is the live review's task
  // view (null unless the live verdict was review); its priority is the live one.
  void compare(const std::string& domain, const policy::Verdict& live, const policy::TaskView* task,
               const policy::Verdict& shadow) noexcept;

  // {"policy_hash", "version", "records", "same", "different", "errors", "differences": {kind: n}}
  nlohmann::json counts(const std::string& domain) const;

 private:
  enum class Compared : std::size_t { same, different, error };
  policy::PolicyEngine* engine_;
  Metrics& metrics_;
  std::size_t records_family_ = 0;      // hitl_shadow_policy_records_total{domain,outcome}
  std::size_t differences_family_ = 0;  // hitl_shadow_policy_differences_total{domain,kind}
};

}  // namespace hitl::service
