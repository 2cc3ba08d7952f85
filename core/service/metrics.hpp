#pragma once
// Per-domain counters, lock-free on the hot path, rendered in Prometheus text format.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hitl::service {

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
};

class Metrics {
 public:
  explicit Metrics(const std::vector<std::string>& domains);
  DomainCounters* domain(const std::string& name);  // nullptr for an unknown domain
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_errors{0};
  std::atomic<std::uint64_t> storage_commits{0};

  struct Gauge {
    std::string domain;
    std::int64_t ready = 0, leased = 0;
  };
  // `queue_depth` is asked for each domain's depth at render time.
  std::string render_prometheus(const std::function<Gauge(const std::string&)>& queue_depth) const;

 private:
  std::map<std::string, std::unique_ptr<DomainCounters>> domains_;
};

}  // namespace hitl::service
