#pragma once
// Per-domain counters, lock-free on the hot path, rendered in Prometheus text format (0.0.4).
//
// Fixed series are plain atomics. Series whose label sets grow at run time (flag reasons, plugin
// names) live in small maps behind a shared_mutex: the common case (a label set seen before) takes
// the lock shared and increments an atomic; only the first occurrence of a label set takes it
// exclusively. Every call that names an unknown domain is ignored: no crash, no series.
#include "http/transport_event.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

namespace hitl::service {

// Incremented directly by the pipeline and the review service (`metrics.domain(d)->field++`).
struct DomainCounters {
  std::atomic<std::uint64_t> predictions{0};
  std::atomic<std::uint64_t> auto_approved{0};
  std::atomic<std::uint64_t> pending_review{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> policy_errors{0};
  std::atomic<std::uint64_t> model_errors{0};
  std::atomic<std::uint64_t> reviews_approve{0};
  std::atomic<std::uint64_t> reviews_reject{0};
  std::atomic<std::uint64_t> reviews_correct{0};
  std::atomic<std::uint64_t> claims{0};
  std::atomic<std::uint64_t> leases_expired{0};
  // Shadow mode (domains.*.shadow_model): records the shadow model scored, how many of them it
  // gave the same label as the prediction the decision used, and its failures.
  std::atomic<std::uint64_t> shadow_predictions{0};
  std::atomic<std::uint64_t> shadow_agreements{0};
  std::atomic<std::uint64_t> shadow_errors{0};
  // The retrain worker (learning/retrain_worker): retrain(stats) asked, and answered yes; trainings
  // run, and of them promoted, kept (refused or not evaluated) and failed.
  std::atomic<std::uint64_t> retrain_checks{0};
  std::atomic<std::uint64_t> retrain_triggers{0};
  std::atomic<std::uint64_t> trainings_promoted{0};
  std::atomic<std::uint64_t> trainings_kept{0};
  std::atomic<std::uint64_t> trainings_failed{0};
  // Accuracy over all traffic (hitl_estimated_accuracy): automatic decisions sent to review as
  // audit samples (counted at ingest), and final outcomes with a label (Metrics::estimate_outcome):
  // audit samples and the model's label kept in them; other reviewed cases likewise.
  std::atomic<std::uint64_t> audit_drawn{0};
  std::atomic<std::uint64_t> audit_samples{0};
  std::atomic<std::uint64_t> audit_model_right{0};
  std::atomic<std::uint64_t> reviewed_outcomes{0};
  std::atomic<std::uint64_t> reviewed_model_right{0};
};

class Metrics {
 public:
  // Upper bounds (seconds) of hitl_review_turnaround_seconds; +Inf is implied after the last.
  static constexpr std::array<double, 15> kTurnaroundBuckets{
      1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 604800};
  // Distinct flag reasons kept per domain; later new reasons are counted as reason="other".
  static constexpr std::size_t kMaxReasonsPerDomain = 64;
  // Distinct (kind, plugin) pairs kept; later new ones are counted as plugin="other".
  static constexpr std::size_t kMaxPluginSeries = 64;
  // Longer reason / plugin label values are cut (at a UTF-8 character boundary) to this many bytes.
  static constexpr std::size_t kMaxLabelValueBytes = 128;

  explicit Metrics(const std::vector<std::string>& domains);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  DomainCounters* domain(const std::string& name);  // nullptr for an unknown domain
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_errors{0};
  std::atomic<std::uint64_t> storage_commits{0};
  // The HTTP transport's own events, indexed by http::TransportEvent (`hitl serve` counts them
  // through ServerOptions::on_event): hitl_http_transport_events_total{event}.
  std::array<std::atomic<std::uint64_t>, http::kTransportEventCount> transport_events{};
  std::atomic<std::uint64_t> slow_lane_busy{0};  // slow routes refused with 503 busy

  // A prediction sent to review: hitl_flagged_total{domain,reason,priority}. `priority` becomes a
  // band: "high" (>= 0.67, and NaN: an unreadable priority is treated as urgent), "medium"
  // (>= 0.34), "low" otherwise.
  void flagged(const std::string& domain, const std::string& reason, double priority);
  static const char* priority_band(double priority);

  // A review outcome was stored. Observes hitl_review_turnaround_seconds{domain} (a negative
  // turnaround, from clock skew, counts as 0; NaN or infinite ones are not observed), and counts
  // hitl_corrections_total{domain} when `corrected`, hitl_sla_breaches_total{domain} when
  // `sla_breached`. hitl_reviews_total{outcome} is NOT counted here: it stays driven by the
  // DomainCounters::reviews_* fields, so callers that increment those keep doing so; `outcome` is
  // accepted for the caller's convenience and future use.
  void review_completed(const std::string& domain, const std::string& outcome, double turnaround_seconds,
                        bool corrected, bool sla_breached);
  // A final outcome with a label (the truth as the reviewers settled it): an audit sample's or a
  // real review's, and whether it kept the model's label. Feeds hitl_estimated_accuracy, which
  // is computed at each scrape from these counters only (no read of decisions).
  void estimate_outcome(const std::string& domain, bool audit_sample, bool model_right);
  // A breach seen by the timer on a still-open task: hitl_sla_breaches_total{domain}. The counter
  // counts breach reports, so a task reported here should not be reported again at completion.
  void sla_breached(const std::string& domain);

  // hitl_plugin_errors_total{kind,plugin}; `kind` is "model", "queue" or "storage" (any other
  // kind is ignored).
  void plugin_error(const std::string& kind, const std::string& plugin);

  // Counter families by domain and one more label whose values are fixed when the family is added
  // (a policy reload's outcome, a shadow policy's kind of difference): one atomic per (domain,
  // value), counted lock-free. Add them while the service is built, before it answers.
  using FamilyId = std::size_t;
  FamilyId add_family(std::string name, std::string help, std::string label, std::vector<std::string> values);
  // `value` indexes the family's values; an unknown domain or index is ignored (reads 0).
  void count(FamilyId family, const std::string& domain, std::size_t value) noexcept;
  std::uint64_t value(FamilyId family, const std::string& domain, std::size_t value) const noexcept;

  struct Gauge {
    std::string domain;
    std::int64_t ready = 0, leased = 0;
  };
  // `queue_depth` is asked for each domain's depth at render time.
  std::string render_prometheus(const std::function<Gauge(const std::string&)>& queue_depth) const;

 private:
  struct Domain;  // DomainCounters plus the series added in metrics.cpp
  Domain* find(const std::string& name) const;

  std::map<std::string, std::unique_ptr<Domain>> domains_;

  // (kind, plugin) -> errors. Map nodes are never erased or moved, so a counter found under the
  // lock can be incremented after it is released.
  mutable std::shared_mutex plugin_mu_;
  std::map<std::pair<std::string, std::string>, std::atomic<std::uint64_t>> plugin_errors_;

  struct Family;  // metrics.cpp
  std::vector<std::unique_ptr<Family>> families_;
  std::atomic<std::uint64_t>* cell(FamilyId family, const std::string& domain, std::size_t value) const noexcept;
};

}  // namespace hitl::service
