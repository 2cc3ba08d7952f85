#pragma once
// The report as a fold: records go in one at a time, figures come out. compute() folds facts
// already in memory; build() folds pages read straight from storage, so a report over any number
// of decisions holds only counters: per flag reason, policy hash and group, plus a turnaround
// histogram of bounded size. Private to core/report.
#include "report/capture.hpp"
#include "report/report.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace hitl::report::detail {

// Turnarounds in milliseconds, binned log-linearly: values below 2048 ms each have their own bin,
// larger ones share a bin with values within 1/1024 (0.1 %) of them, so at most ~1024 bins per
// power of two are ever held. Each bin keeps its smallest and largest value: a nearest-rank
// percentile is exact whenever its bin holds one distinct value (always, below 2048 ms), and
// otherwise interpolated within the bin, so off by less than 0.1 %. Count, mean and max are exact.
class TurnaroundHistogram {
 public:
  void add(std::int64_t ms);
  std::int64_t count() const { return n_; }
  double mean_s() const;
  double max_s() const { return static_cast<double>(max_ms_) / 1000.0; }
  double percentile_s(int p) const;  // nearest rank: the value at 1-based rank ceil(p/100 * n)

 private:
  struct Bin {
    std::int64_t count = 0, min = 0, max = 0;
  };
  static std::int64_t bin_of(std::int64_t ms);
  std::map<std::int64_t, Bin> bins_;  // ascending bin = ascending value
  std::int64_t n_ = 0, max_ms_ = 0;
  long double sum_ms_ = 0;
};

struct AccuracyCounter {
  std::int64_t cases = 0, reviewed = 0, reported = 0, final_right = 0, model_right = 0;
  void add(const sdk::DecisionRecord& d);
  Accuracy result() const;
};

// Estimated accuracy over all traffic (Estimates): the reviewed census, and per policy version
// the automatic decisions and the audit samples that stand for them.
class EstimateFold {
 public:
  void add(const sdk::DecisionRecord& d);
  Estimates result() const;

 private:
  struct Stratum {
    std::int64_t automatic = 0, samples = 0, model_right = 0;
    CaptureFold capture;  // its audit samples, weighed at the end
  };
  std::unordered_map<std::string, Stratum> by_policy_;
  CaptureFold reviewed_capture_;
  std::int64_t reviewed_ = 0, reviewed_model_right_ = 0, reviewed_system_right_ = 0, not_covered_ = 0;
};

// One side (current or baseline) of the bias section: counters per group value.
class BiasFold {
 public:
  explicit BiasFold(const GroupSpec& spec);
  void add(const sdk::DecisionRecord& d);  // needs input_json / meta_json (a payload read)
  BiasSide result() const;

 private:
  GroupSpec spec_;
  std::vector<std::string> bands_;
  std::map<std::string, GroupStats> by_name_;
};

class ReportFold {
 public:
  // Throws std::invalid_argument for bands not strictly ascending.
  ReportFold(const std::string& domain, const Settings& s, Window w, std::int64_t now_ms);
  // Each call gives one record of the cohort once: a decision created in the window (not a gold
  // task's), the task of such a decision, a review of such a task. Order does not matter.
  void add_decision(const sdk::DecisionRecord& d);
  void add_task(const sdk::TaskRecord& t);
  void add_review(const sdk::ReviewRecord& rv);
  // `baseline`: the baseline window's bias side, when there is one.
  Report finish(std::optional<BiasSide> baseline, Window baseline_window) &&;

 private:
  struct VersionCounter {
    VersionRow row;
    AccuracyCounter accuracy;
  };
  using VersionCounters = std::unordered_map<std::string, VersionCounter>;
  static void count_version(VersionCounters& counters, const std::string& version, const sdk::DecisionRecord& d);
  static std::vector<VersionRow> rows_of(VersionCounters& counters);
  Settings settings_;
  std::int64_t now_ms_;
  Report r_;
  std::map<std::string, std::int64_t> reasons_;
  TurnaroundHistogram turnaround_;
  AccuracyCounter accuracy_;
  EstimateFold estimates_;
  VersionCounters policies_, models_;
  std::optional<BiasFold> bias_;
};

}  // namespace hitl::report::detail
