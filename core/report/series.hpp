#pragma once
// The operating metrics as a time series: one report per step of a window (the console's
// charts), read in one streamed pass like report::build, plus the review queue's depth by
// priority band at the end of each step. Docs: docs/report.md ("Series") and
// GET /v1/domains/{d}/report/series in docs/http-api.md.
#include "report/report.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace hitl::report {

// Priority bands of the queue depth, as /metrics names them: high >= 0.67, medium >= 0.34, low.
enum Band { kHigh = 0, kMedium = 1, kLow = 2 };
Band band_of(double priority);

struct SeriesStep {
  Window window;  // [from_ms, to_ms): the decisions created in it make its report
  Report report;  // its figures, as GET .../report would give for this window (no bias drift)
  // Review tasks open at the step's end (or at now_ms for a step still running), by band:
  // created before it and not completed or cancelled by then.
  std::array<std::int64_t, 3> open_tasks{};
};

struct Series {
  std::string domain;
  Window window;
  std::int64_t step_ms = 0;
  std::vector<SeriesStep> steps;
};

inline constexpr std::size_t kMaxSeriesSteps = 1000;

// Reports of `domain` over [w.from_ms, w.to_ms) in steps of `step_ms` (the last step may be
// shorter). Both ends must be set; throws std::invalid_argument for an empty window, a step
// < 1 ms or more than kMaxSeriesSteps steps, std::runtime_error on a storage error.
//
// Memory grows with the number of review tasks in the window (a step index per task) and of
// steps, not with decisions. The queue depth counts the tasks of the window's decisions and every
// task open now; a task of an older decision that closed inside the window is not counted, so
// the first steps of a window may read low.
Series build_series(sdk::Storage& storage, const std::string& domain, const Settings& s, Window w,
                    std::int64_t step_ms, std::int64_t now_ms, std::size_t page_size = 1000);

nlohmann::json to_json(const Series& s);  // the body of GET /v1/domains/{d}/report/series

}  // namespace hitl::report
