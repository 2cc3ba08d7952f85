#pragma once
// The live guard (docs/learning-loop.md, "The live guard"): a promoted model is judged again on
// the traffic itself. Every audit sample (an automatic decision the policy's audit_rate sent to
// review at random) records which model decided it; once the live model has
// retrain.guard_min_samples of them with a final outcome, its audited accuracy is compared with
// its predecessor's by the one-sided two-proportion test at retrain.promote_confidence. Worse
// beyond noise: the registry rolls back to the predecessor (audited model.rolled_back, reason
// "live guard: ..."), and the service swaps it in. Each promoted version is judged once.
//
// Incremental: counters per model version, bumped as audit outcomes arrive; the only read of
// storage is at start (the decisions since the predecessor went live, paged, in the background).
// The retrain worker owns it and calls judge() on its own thread.
#include <hitl/plugin_api.hpp>

#include "config/service_config.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace hitl::learning {

class LiveGuard {
 public:
  struct Deps {
    const config::ServiceConfig& cfg;
    sdk::Storage& storage;
    std::function<sdk::Status(sdk::WriteBatch&)> commit;  // the model.rolled_back audit record
    std::function<void()> rolled_back;                    // swap the restored artifact in now
  };
  struct Counts {
    std::int64_t samples = 0, right = 0;  // audit samples with a final outcome, and the model's right ones
  };
  explicit LiveGuard(Deps deps);

  // A decision's outcome became final: counted when it is an audit sample. Cheap; never throws.
  // Returns true when it was counted (the worker then asks judge() soon).
  bool outcome(const sdk::DecisionRecord& decision) noexcept;
  // Rebuilds the counts of the live model and its predecessor from storage (the worker's thread,
  // at start). Throws std::runtime_error on storage errors.
  void seed(const std::string& domain);
  // Judges the domain's live model if it is due: the live guard's verdict, rolled back or kept,
  // once per version. Returns what it did ("" when it is not due). Throws on registry and audit
  // errors (the worker logs them; the counts stay, so it is tried again).
  std::string judge(const std::string& domain);
  Counts counts(const std::string& domain, const std::string& model_version) const;

 private:
  Deps deps_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Counts> counts_;  // (domain, model_version)
  std::set<std::pair<std::string, std::string>> judged_;          // (domain, registry id)
};

}  // namespace hitl::learning
