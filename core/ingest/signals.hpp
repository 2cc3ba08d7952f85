#pragma once
// Rolling per-domain figures for hitl.stats(window [, segment]) (docs/policy.md, "Signals").
//
// The pipeline counts every decision it makes (record()); the counts go into 10-second buckets
// in a ring per domain and per segment, so a query sums at most 360 small buckets under the
// domain's mutex and never touches storage. Reviews come from the domain's review counters
// (sampled as deltas), open tasks from the queue, refreshed at most once a second per domain.
#include <hitl/plugin_api.hpp>

#include "policy/policy_engine.hpp"

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

struct DomainCounters;

class Signals final : public policy::SignalSource {
 public:
  static constexpr std::int64_t kBucketMs = 10'000;
  static constexpr std::int64_t kBuckets = 360;  // -> windows up to one hour
  static constexpr std::size_t kMaxSegments = 256;  // per domain; later values share "(other)"
  static constexpr std::int64_t kOpenTasksRefreshMs = 1000;

  struct DomainSetup {
    std::string name;
    std::string segment_field;  // "Region" (an input field) or "meta.region"; "" = none
    DomainCounters* counters = nullptr;  // reviews_* are sampled from it (may be null)
  };
  // `queue` (may be null) answers the open task counts.
  Signals(const std::vector<DomainSetup>& domains, sdk::Queue* queue);
  ~Signals() override;

  // The record's segment value (strings as they are, numbers formatted like hitl.stats formats a
  // number, booleans "true"/"false"); nullopt when the domain has no segment field or the record
  // has no scalar value there.
  std::optional<std::string> segment_of(const std::string& domain, const nlohmann::json& input,
                                        const nlohmann::json& meta) const;

  struct Outcome {
    bool flagged = false;   // sent to review (whatever the reason)
    bool rejected = false;
    bool error = false;     // the model or the policy failed on it
    std::optional<double> confidence;       // the primary model's, when it scored the record
    const std::string* model_version = nullptr;
    const sdk::Record* row = nullptr;       // the row it scored, kept for recalibrate()
  };
  // Counts one decision at `now_ms`, for the domain and, when given, its segment.
  void record(const std::string& domain, const std::optional<std::string>& segment, Outcome o,
              std::int64_t now_ms) noexcept;
  // Rows kept per domain (the last ones the primary model scored) to rescore at a model swap.
  static constexpr std::size_t kRecentRows = 1000;
  // A new version of the domain's model was swapped in (model.loaded): the last kRecentRows rows,
  // rescored by it, start hitl.threshold_for_rate's window, so the threshold follows the new
  // model at once. Returns how many rows were rescored (0 when the model fails: the window then
  // starts with the model's first live predictions, as before). Never throws.
  std::size_t recalibrate(const std::string& domain, sdk::Model& model) noexcept;
  // A final outcome with a label, of a decision the domain's model scored: it counts toward
  // hitl.calibrated (ingest/calibration.hpp) with `weight` (1/p for an audit sample, else 1) and
  // is kept to refit at the next swap. Never throws.
  void labelled(const sdk::DecisionRecord& decision, double weight) noexcept;
  std::optional<double> calibrated(const std::string& domain, double confidence) const noexcept override;
  // Asks the queue for the domain's open tasks when the last answer is older than a second.
  void refresh_open_tasks(const std::string& domain, std::int64_t now_ms) noexcept;

  policy::StatsStatus window(const std::string& domain, const std::string* segment, std::int64_t window_seconds,
                             std::int64_t now_ms, policy::WindowFigures& out) const noexcept override;
  std::int64_t max_window_seconds() const noexcept override { return kBuckets * kBucketMs / 1000; }
  std::optional<double> threshold_for_rate(const std::string& domain, double rate) const noexcept override;

 private:
  struct Domain;
  std::map<std::string, std::unique_ptr<Domain>> domains_;
  sdk::Queue* queue_;
};

}  // namespace hitl::service
