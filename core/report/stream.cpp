// The report straight from storage in bounded memory: every list is read page by page and each
// page is folded into counters (report/fold.hpp) and dropped. Figures are those of
// compute(load_facts(...)); only the turnaround percentiles may differ, by under 0.1 %, when
// distinct turnarounds share a histogram bin.
//
// Passes over one window (decisions are read twice, the first time without payload):
//   1. decisions: the ids of their review tasks (a TaskSet: a bitmap over task ids);
//   2. those tasks, by id range: gold tasks (quality control, not the domain's traffic) leave the
//      set, the others are folded;
//   3. decisions again: those of a gold task are skipped, the others folded;
//   4. reviews since the window's start whose task is in the set.
// The TaskSet is the one structure that grows with the window: one bit per task id in the
// cohort's id range (40 KB for 315k tasks), not a record per decision.
#include "report/fold.hpp"
#include "report/paging.hpp"
#include "report/report.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace hitl::report {

namespace {

class TaskSet {
 public:
  void insert(std::int64_t id) {
    words_[id >> 6] |= bit(id);
    min_ = empty_ ? id : std::min(min_, id);
    max_ = empty_ ? id : std::max(max_, id);
    empty_ = false;
  }
  void erase(std::int64_t id) {
    if (auto it = words_.find(id >> 6); it != words_.end()) it->second &= ~bit(id);
  }
  bool contains(std::int64_t id) const {
    auto it = words_.find(id >> 6);
    return it != words_.end() && (it->second & bit(id)) != 0;
  }
  bool empty() const { return empty_; }
  std::int64_t min() const { return min_; }
  std::int64_t max() const { return max_; }

 private:
  static std::uint64_t bit(std::int64_t id) { return std::uint64_t{1} << (id & 63); }
  std::unordered_map<std::int64_t, std::uint64_t> words_;  // task id / 64 -> its 64 bits
  std::int64_t min_ = 0, max_ = 0;
  bool empty_ = true;
};

struct Reader {
  sdk::Storage& storage;
  const std::string& domain;
  std::size_t page_size;

  sdk::DecisionFilter decisions(Window w, bool with_payload) const {
    return detail::window_filter(domain, w, with_payload, page_size);
  }

  // Passes 1-3: calls on_task for each non-gold task of the window's decisions and on_decision
  // for each decision not of a gold task; returns the non-gold task ids.
  template <class OnTask, class OnDecision>
  TaskSet cohort(Window w, bool with_payload, OnTask&& on_task, OnDecision&& on_decision) const {
    TaskSet tasks, gold;
    detail::each_decision(storage, decisions(w, false), [&](sdk::DecisionRecord& d) {
      if (d.task_id > 0) tasks.insert(d.task_id);
    });
    if (!tasks.empty()) {
      sdk::TaskFilter tf;
      tf.domain = domain;
      tf.after_task_id = tasks.min() - 1;
      tf.limit = page_size;
      detail::each_task(storage, tf, tasks.max(), [&](sdk::TaskRecord& t) {
        if (!tasks.contains(t.task_id)) return;
        if (t.gold) {
          gold.insert(t.task_id);
          tasks.erase(t.task_id);
        } else {
          on_task(t);
        }
      });
    }
    detail::each_decision(storage, decisions(w, with_payload), [&](sdk::DecisionRecord& d) {
      if (d.task_id == 0 || !gold.contains(d.task_id)) on_decision(d);
    });
    return tasks;
  }
};

}  // namespace

Report build(sdk::Storage& storage, const std::string& domain, const Settings& s, Window w,
             std::optional<Window> baseline, std::int64_t now_ms, std::size_t page_size) {
  if (page_size == 0) throw std::invalid_argument("report: page_size must be at least 1");
  detail::ReportFold fold(domain, s, w, now_ms);
  const Reader read{storage, domain, page_size};
  const bool payload = !s.group.field.empty();  // inputs are needed only for the group attribute
  const TaskSet tasks = read.cohort(
      w, payload, [&](const sdk::TaskRecord& t) { fold.add_task(t); },
      [&](const sdk::DecisionRecord& d) { fold.add_decision(d); });

  // 4. A review is submitted after its task was created, so none is older than the window's start.
  if (!tasks.empty()) {
    sdk::ReviewFilter rf;
    rf.domain = domain;
    rf.from_ms = w.from_ms;
    rf.limit = page_size;
    detail::each_review(storage, rf, [&](sdk::ReviewRecord& rv) {
      if (tasks.contains(rv.task_id)) fold.add_review(rv);
    });
  }

  // The baseline only feeds the bias drift.
  std::optional<BiasSide> base;
  if (baseline && payload) {
    detail::BiasFold b(s.group);
    read.cohort(
        *baseline, true, [](const sdk::TaskRecord&) {}, [&](const sdk::DecisionRecord& d) { b.add(d); });
    base = b.result();
  }
  return std::move(fold).finish(std::move(base), baseline.value_or(Window{}));
}

}  // namespace hitl::report
