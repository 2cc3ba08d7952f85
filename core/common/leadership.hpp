#pragma once
// Whether this instance runs the jobs that must run once among the instances sharing one
// database: the SLA timer, retention, webhook deliveries, the retrain worker's own triggers and
// the live guard (docs/deploy.md, "Several instances"). cluster/cluster.hpp keeps it; the parts
// that run those jobs read it. An instance alone always holds it.
#include <atomic>

namespace hitl {

class Leadership {
 public:
  bool held() const noexcept { return held_.load(std::memory_order_acquire); }
  void set(bool held) noexcept { held_.store(held, std::memory_order_release); }

 private:
  std::atomic<bool> held_{true};
};

// What a part that may follow another instance reads: no Leadership given means alone.
inline bool leads(const Leadership* l) noexcept { return !l || l->held(); }

}  // namespace hitl
