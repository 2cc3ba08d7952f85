#pragma once
// The live guard (docs/learning-loop.md, "The live guard"): a promoted model is judged again on
// the traffic itself. Every audit sample (an automatic decision the policy's audit_rate sent to
// review at random) records which model decided it; once the live model has
// retrain.guard_min_samples of them with a final outcome, its audited accuracy is compared with
// its predecessor's by the one-sided two-proportion test at retrain.promote_confidence. Worse
// beyond noise: the registry rolls back to the predecessor (audited model.rolled_back, reason
// "live guard: ..."), and the service swaps it in. Each promoted version is judged once.
//
// Incremental: one audit sample (a decision) counts once, with its latest final outcome: a task
// sent back and answered again replaces its earlier answer's contribution. The guard keeps the
// outcome counted per decision, for the audit samples of the models it may still judge or compare
// with (window(): the live one, and its predecessor until it is judged), so a re-answer, a late
// notice or a read of storage finds what it replaces with one hash look-up; the figures are the
// sum of those kept. Storage is read at start (the decisions since the older of them went live,
// paged, in the background) and when a model joins them (those since it went live). The read and
// live outcomes merge the same way (the newer final_ms wins), so their order does not matter.
// The retrain worker owns it and calls judge() on its own thread.
#include <hitl/plugin_api.hpp>

#include "config/service_config.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hitl::registry { class Registry; }

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

  // A decision's outcome became final: counted when it is an audit sample of a model in the window,
  // replacing the decision's earlier outcome if one was counted. Cheap; never throws. Returns true
  // when the figures changed or the model is out of the window (a promotion may have brought it
  // in): the worker then asks judge() soon; false for an outcome counted already (a late notice,
  // one the read had) or older than the one counted.
  bool outcome(const sdk::DecisionRecord& decision) noexcept;
  // Reads the audit samples of the window from storage (the worker's thread, at start) and merges
  // them with what was heard: each decision counts once with its latest outcome, however they race.
  // Throws std::runtime_error on storage errors (what was heard stands; judge() reads again).
  void seed(const std::string& domain);
  // Judges the domain's live model if it is due: the live guard's verdict, rolled back or kept,
  // once per version; first follows the window (reading storage when a model joined it). Returns
  // what it did ("" when it is not due). Throws on registry, storage and audit errors (the worker
  // logs them; the counts stay, so it is tried again).
  std::string judge(const std::string& domain);
  Counts counts(const std::string& domain, const std::string& model_version) const;

 private:
  // The outcome counted for one audit sample: the model that decided it, whether it was right,
  // when it became final (the newer wins) and when the decision was made (the window's test).
  struct Counted {
    std::string model_version;
    bool right = false;
    std::int64_t final_ms = 0, created_ms = 0;
  };
  using Read = std::vector<std::pair<std::string, Counted>>;  // (decision id, its outcome)
  // The models whose audit samples the guard may still judge or compare, by plugin version, and
  // since when each was live (its newest promotion; none while the configured model is live): a
  // sample is in it when its model is and it was decided since then, as a read of storage finds it.
  using Window = std::map<std::string, std::int64_t>;
  static bool in(const Window& w, const Counted& c);
  // A domain's audit samples counted, by decision: those in `window` (all before the first one).
  struct Audited {
    std::unordered_map<std::string, Counted> latest;
    std::optional<Window> window;
    std::optional<std::int64_t> unread_from;  // a model joined: storage is to be read from here
  };
  Window window(const registry::Registry& reg, const std::string& domain) const;
  // Moves to `reg`'s window: drops the samples that left it, reads storage when a model joined.
  void follow_window(const registry::Registry& reg, const std::string& domain);
  Read read_since(const std::string& domain, std::int64_t from_ms) const;  // throws on storage errors
  // mu_ held: one outcome in (true when it changed the figures); the window's models kept alone.
  bool merge(const std::string& domain, const std::string& decision_id, Counted c);
  void keep(const std::string& domain, const Window& w);
  void add(const std::string& domain, const Counted& c, int sign);

  Deps deps_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Counts> counts_;  // (domain, model_version)
  std::map<std::string, Audited> audited_;                        // by domain
  std::set<std::pair<std::string, std::string>> judged_;          // (domain, registry id)
};

}  // namespace hitl::learning
