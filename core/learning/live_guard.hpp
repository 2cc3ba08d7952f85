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
// Audit outcomes go on while that read runs; each counts once (learning/seed_hold.hpp).
// The retrain worker owns it and calls judge() on its own thread.
#include <hitl/plugin_api.hpp>

#include "config/service_config.hpp"
#include "learning/seed_hold.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  // Returns true when it was counted (the worker then asks judge() soon); false too when it is
  // held for the domain's seed, which counts it once its read is in (the worker judges then).
  bool outcome(const sdk::DecisionRecord& decision) noexcept;
  // Rebuilds the counts of the live model and its predecessor from storage (the worker's thread,
  // at start). Each audit outcome counts once however it races the read: one heard before it
  // began is in it; one heard while it runs is held, then counted unless the read had that
  // decision's outcome; one heard later whose commit the read saw is not counted again. Throws
  // std::runtime_error on storage errors (the live counts stand, the held outcomes counted).
  void seed(const std::string& domain);
  // Judges the domain's live model if it is due: the live guard's verdict, rolled back or kept,
  // once per version. Returns what it did ("" when it is not due). Throws on registry and audit
  // errors (the worker logs them; the counts stay, so it is tried again).
  std::string judge(const std::string& domain);
  Counts counts(const std::string& domain, const std::string& model_version) const;

 private:
  // An audit outcome as it counts: the model that decided it, and whether it was right.
  struct Sample {
    std::string model_version;
    bool right = false;
  };
  // What the seed's read found: the counts by model version, and the decisions it counted.
  struct AuditRead {
    std::map<std::string, Counts> by_version;
    SeedSeen seen;
  };
  AuditRead read_since(const std::string& domain, std::int64_t from_ms) const;  // throws on storage errors
  // The read is in (nullopt: it failed): its counts replace the live ones, then the held count.
  void end_seed(const std::string& domain, std::optional<AuditRead> read);
  void count(const std::string& domain, const Sample& s);  // mu_ held

  Deps deps_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Counts> counts_;  // (domain, model_version)
  std::map<std::string, SeedHold<Sample>> seeds_;                 // by domain: the seed's read against live outcomes
  std::set<std::pair<std::string, std::string>> judged_;          // (domain, registry id)
};

}  // namespace hitl::learning
