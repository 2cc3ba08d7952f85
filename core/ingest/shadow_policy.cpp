#include "ingest/shadow_policy.hpp"

#include "metrics/metrics.hpp"
#include "replay/replay.hpp"

#include <nlohmann/json.hpp>

namespace hitl::service {

namespace {
constexpr const char* kComparedNames[] = {"same", "different", "error"};
}

ShadowPolicy::ShadowPolicy(policy::PolicyEngine* engine, Metrics& metrics) : engine_(engine), metrics_(metrics) {
  records_family_ = metrics_.add_family("hitl_shadow_policy_records_total",
                                        "Records the shadow policy saw: same routing as the live policy, different, or a shadow failure.",
                                        "outcome", {std::begin(kComparedNames), std::end(kComparedNames)});
  differences_family_ = metrics_.add_family("hitl_shadow_policy_differences_total",
                                            "How the shadow policy's routing differs from the live policy's, by kind.", "kind",
                                            replay::difference_kinds());
}

std::optional<policy::Verdict> ShadowPolicy::flag(const std::string& domain, const policy::FlagInput& in) noexcept {
  policy::Verdict v = engine_->flag(domain, in);  // noexcept, fails closed, logs its own errors
  if (!v.policy_error) return v;
  metrics_.count(records_family_, domain, static_cast<std::size_t>(Compared::error));
  return std::nullopt;
}

void ShadowPolicy::compare(const std::string& domain, const policy::Verdict& live, const policy::TaskView* task,
                           const policy::Verdict& shadow) noexcept {
  replay::Answer before{replay::routing_of(live), std::nullopt};
  replay::Answer after{replay::routing_of(shadow), std::nullopt};
  const bool same_review = before.routing.route == replay::Route::review && before.routing.route == after.routing.route &&
                           before.routing.reason == after.routing.reason;
  if (same_review && task && task->priority) {
    before.priority = *task->priority;
    policy::TaskView shadow_task = *task;
    shadow_task.priority = nullptr;  // priority(task) runs before the task has one
    after.priority = engine_->priority(domain, shadow_task);
  }
  const auto kind = replay::difference_of(before, after);
  metrics_.count(records_family_, domain, static_cast<std::size_t>(kind ? Compared::different : Compared::same));
  if (kind) metrics_.count(differences_family_, domain, *kind);
}

nlohmann::json ShadowPolicy::counts(const std::string& domain) const {
  if (!runs(domain)) return nullptr;
  const policy::PolicyEngine::Pin in_force(*engine_, domain);  // hash and version of one generation
  nlohmann::json j = {{"policy_hash", engine_->policy_hash(domain)}, {"version", engine_->policy_version(domain)}};
  std::uint64_t records = 0;
  for (std::size_t i = 0; i < std::size(kComparedNames); ++i) {
    const auto n = metrics_.value(records_family_, domain, i);
    j[kComparedNames[i]] = n;
    records += n;
  }
  j["records"] = records;
  nlohmann::json differences = nlohmann::json::object();
  const auto& kinds = replay::difference_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i) differences[kinds[i]] = metrics_.value(differences_family_, domain, i);
  j["differences"] = std::move(differences);
  return j;
}

}  // namespace hitl::service
