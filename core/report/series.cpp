// The report series in one streamed pass (see series.hpp). The passes are those of stream.cpp,
// with a step index per review task instead of a bit, so each task and review is folded into
// the report of the step its decision belongs to:
//   1. decisions (no payload): task id -> step;
//   2. those tasks: gold ones leave (quality control, not traffic), the others are folded and
//      counted in the queue depth; then the tasks open now that are of older decisions;
//   3. decisions again (payload only when a group attribute is set), those of gold tasks skipped;
//   4. reviews since the window's start: those whose task is in the map are folded; the tasks of
//      the others (older decisions) count in the queue depth until they closed.
#include "report/series.hpp"

#include "common/task_state.hpp"
#include "report/fold.hpp"
#include "report/paging.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace hitl::report {
using nlohmann::json;

Band band_of(double priority) { return priority >= 0.67 ? kHigh : priority >= 0.34 ? kMedium : kLow; }

namespace {

// Open-task counts per step end as differences: +1 at the first step whose end is past the
// task's creation, -1 at the first whose end is past its closing; summed up at the end.
class DepthCounter {
 public:
  DepthCounter(Window w, std::int64_t step_ms, std::size_t steps, std::int64_t now_ms)
      : w_(w), step_(step_ms), steps_(steps), now_(now_ms), diff_(steps + 1) {}

  void add(const sdk::TaskRecord& t) {
    const auto state = service::task_state(t.status);
    const bool closed = state && !service::is_open(*state);
    const std::int64_t closed_ms = closed ? t.updated_ms : std::numeric_limits<std::int64_t>::max();
    const std::size_t open_from = first_end_after(t.created_ms), open_to = first_end_after(closed_ms);
    if (open_from >= open_to) return;
    const Band b = band_of(t.priority);
    diff_[open_from][b] += 1;
    diff_[open_to][b] -= 1;
  }

  void finish(std::vector<SeriesStep>& steps) const {
    std::array<std::int64_t, 3> open{};
    for (std::size_t i = 0; i < steps.size(); ++i) {
      for (int b = 0; b < 3; ++b) open[b] += diff_[i][b];
      steps[i].open_tasks = open;
    }
  }

 private:
  // The step end at which a task created (or closed) at `t` is first counted as open (closed):
  // step i ends at min(from + (i + 1) * step, to, now); `steps_` when none is after t.
  std::size_t first_end_after(std::int64_t t) const {
    for (std::size_t lo = t < w_.from_ms ? 0 : static_cast<std::size_t>((t - w_.from_ms) / step_); lo < steps_; ++lo)
      if (end_of(lo) > t) return lo;
    return steps_;
  }
  // Exclusive, like the window: a step still running ends just after now (what exists now counts).
  std::int64_t end_of(std::size_t i) const {
    return std::min({w_.from_ms + static_cast<std::int64_t>(i + 1) * step_, w_.to_ms, std::max(now_ + 1, w_.from_ms + 1)});
  }
  Window w_;
  std::int64_t step_;
  std::size_t steps_;
  std::int64_t now_;
  std::vector<std::array<std::int64_t, 3>> diff_;
};

std::size_t step_count(Window w, std::int64_t step_ms) {
  if (w.from_ms <= 0 || w.to_ms <= 0 || w.to_ms <= w.from_ms)
    throw std::invalid_argument("report series: the window needs a from before its to");
  if (step_ms < 1) throw std::invalid_argument("report series: the step must be at least 1 ms");
  const std::int64_t n = (w.to_ms - w.from_ms + step_ms - 1) / step_ms;
  if (n > static_cast<std::int64_t>(kMaxSeriesSteps))
    throw std::invalid_argument("report series: " + std::to_string(n) + " steps, at most " +
                                std::to_string(kMaxSeriesSteps) + " (use a larger step)");
  return static_cast<std::size_t>(n);
}

struct Pass {
  sdk::Storage& storage;
  const std::string& domain;
  Window w;
  std::int64_t step_ms;
  std::size_t page_size;
  std::uint32_t step_of(std::int64_t created_ms) const { return static_cast<std::uint32_t>((created_ms - w.from_ms) / step_ms); }
};

// Pass 2b: tasks open now whose decisions are older than the window (they were open all along
// since they were created). Gold tasks are left out as in the report.
void add_open_older_tasks(const Pass& p, const std::unordered_map<std::int64_t, std::uint32_t>& cohort,
                          const std::unordered_set<std::int64_t>& gold, DepthCounter& depth) {
  for (service::TaskState open : service::kOpenStates) {
    sdk::TaskFilter tf;
    tf.domain = p.domain;
    tf.status = service::name(open);
    tf.limit = p.page_size;
    detail::each_task(p.storage, tf, std::numeric_limits<std::int64_t>::max(), [&](sdk::TaskRecord& t) {
      if (!t.gold && !cohort.count(t.task_id) && !gold.count(t.task_id) && t.created_ms < p.w.from_ms) depth.add(t);
    });
  }
}

// Pass 4b: tasks of older decisions reviewed and closed inside the window: open from their
// creation until then (one read each, as many as the window has such reviews). Those still open
// were counted by pass 2b.
void add_closed_older_tasks(const Pass& p, const std::unordered_set<std::int64_t>& task_ids, DepthCounter& depth) {
  for (std::int64_t id : task_ids) {
    std::optional<sdk::TaskRecord> t;
    if (auto st = p.storage.get_task(id, t); !st.ok()) throw std::runtime_error("report series: " + st.message);
    if (!t || t->gold || t->created_ms >= p.w.from_ms || t->updated_ms < p.w.from_ms) continue;
    const auto state = service::task_state(t->status);
    if (state && !service::is_open(*state)) depth.add(*t);
  }
}

// One fold per step, each over its own window (the last one may be shorter).
std::vector<detail::ReportFold> step_folds(const std::string& domain, const Settings& s, Window w, std::int64_t step_ms,
                                           std::size_t n, std::int64_t now_ms) {
  std::vector<detail::ReportFold> folds;
  folds.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t from = w.from_ms + static_cast<std::int64_t>(i) * step_ms;
    folds.emplace_back(domain, s, Window{from, std::min(w.to_ms, from + step_ms)}, now_ms);
  }
  return folds;
}

// Pass 1: the step of each review task of the window's decisions, and the range of their ids.
struct TaskSteps {
  std::unordered_map<std::int64_t, std::uint32_t> step_of;
  std::int64_t min_id = std::numeric_limits<std::int64_t>::max(), max_id = 0;
};
TaskSteps task_steps(const Pass& p) {
  TaskSteps out;
  detail::each_decision(p.storage, detail::window_filter(p.domain, p.w, false, p.page_size), [&](sdk::DecisionRecord& d) {
    if (d.task_id <= 0) return;
    out.step_of.emplace(d.task_id, p.step_of(d.created_ms));
    out.min_id = std::min(out.min_id, d.task_id);
    out.max_id = std::max(out.max_id, d.task_id);
  });
  return out;
}

}  // namespace

Series build_series(sdk::Storage& storage, const std::string& domain, const Settings& s, Window w,
                    std::int64_t step_ms, std::int64_t now_ms, std::size_t page_size) {
  if (page_size == 0) throw std::invalid_argument("report series: page_size must be at least 1");
  const std::size_t n = step_count(w, step_ms);
  const Pass p{storage, domain, w, step_ms, page_size};
  std::vector<detail::ReportFold> folds = step_folds(domain, s, w, step_ms, n, now_ms);
  TaskSteps ts = task_steps(p);
  auto& step_of_task = ts.step_of;
  // 2. The tasks.
  DepthCounter depth(w, step_ms, n, now_ms);
  std::unordered_set<std::int64_t> gold;
  if (!step_of_task.empty()) {
    sdk::TaskFilter tf;
    tf.domain = domain;
    tf.after_task_id = ts.min_id - 1;
    tf.limit = page_size;
    detail::each_task(storage, tf, ts.max_id, [&](sdk::TaskRecord& t) {
      auto it = step_of_task.find(t.task_id);
      if (it == step_of_task.end()) return;
      if (t.gold) {
        gold.insert(t.task_id);
        step_of_task.erase(it);
        return;
      }
      folds[it->second].add_task(t);
      depth.add(t);
    });
  }
  add_open_older_tasks(p, step_of_task, gold, depth);
  // 3. The decisions.
  detail::each_decision(storage, detail::window_filter(domain, w, !s.group.field.empty(), page_size),
                        [&](sdk::DecisionRecord& d) {
                          if (d.task_id <= 0 || !gold.count(d.task_id)) folds[p.step_of(d.created_ms)].add_decision(d);
                        });
  // 4. The reviews of those tasks (none is older than the window's start); a review of another
  // task is of an older decision's task, which may have closed inside the window.
  std::unordered_set<std::int64_t> older_reviewed;
  sdk::ReviewFilter rf;
  rf.domain = domain;
  rf.from_ms = w.from_ms;
  rf.limit = page_size;
  detail::each_review(storage, rf, [&](sdk::ReviewRecord& rv) {
    if (auto it = step_of_task.find(rv.task_id); it != step_of_task.end()) folds[it->second].add_review(rv);
    else if (!gold.count(rv.task_id)) older_reviewed.insert(rv.task_id);
  });
  add_closed_older_tasks(p, older_reviewed, depth);
  Series out{domain, w, step_ms, {}};
  out.steps.reserve(n);
  for (auto& f : folds) {
    Report r = std::move(f).finish(std::nullopt, Window{});
    out.steps.push_back(SeriesStep{r.window, std::move(r), {}});
  }
  depth.finish(out.steps);
  return out;
}

namespace {
json rate(const Rate& r) { return r ? json(*r) : json(nullptr); }
json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json step_json(const SeriesStep& st) {
  const Report& r = st.report;
  json reasons = json::object();
  for (auto& rc : r.flag_reasons) reasons[rc.reason] = rc.count;
  json groups = json::object();
  json disparity = nullptr;
  if (r.bias) {
    for (auto& g : r.bias->current.groups) groups[g.name] = rate(g.flag_rate);
    disparity = rate(r.bias->current.flag_rate_disparity);
  }
  return {{"from_ms", st.window.from_ms},
          {"to_ms", st.window.to_ms},
          {"predictions", r.predictions},
          {"flagged", r.flagged},
          {"flag_rate", rate(r.flag_rate)},
          {"flag_reasons", std::move(reasons)},
          {"queue_depth", {{"high", st.open_tasks[kHigh]}, {"medium", st.open_tasks[kMedium]}, {"low", st.open_tasks[kLow]}}},
          {"completed", r.turnaround.completed},
          {"turnaround_p50_s", opt(r.turnaround.p50_s)},
          {"turnaround_p95_s", opt(r.turnaround.p95_s)},
          {"sla_compliance", rate(r.turnaround.sla.compliance)},
          {"final_accuracy", rate(r.accuracy.final_accuracy)},
          {"model_accuracy", rate(r.accuracy.model_accuracy)},
          {"accuracy_gain", rate(r.accuracy.gain)},
          {"group_flag_rates", std::move(groups)},
          {"flag_rate_disparity", std::move(disparity)},
          {"corrections", r.cost.corrections},
          {"cost_per_correction", rate(r.cost.cost_per_correction)}};
}
}  // namespace

json to_json(const Series& s) {
  json steps = json::array();
  for (auto& st : s.steps) steps.push_back(step_json(st));
  return {{"domain", s.domain}, {"from_ms", s.window.from_ms}, {"to_ms", s.window.to_ms},
          {"bucket_ms", s.step_ms}, {"buckets", std::move(steps)}};
}

}  // namespace hitl::report
