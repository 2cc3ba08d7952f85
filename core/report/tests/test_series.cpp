// The report series: each step is the report of its own window, and the queue depth counts the
// tasks open at each step's end, by priority band.
#include "report/series.hpp"

#include "fake_storage.hpp"
#include "fixture.hpp"

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

namespace sdk = hitl::sdk;
using namespace hitl::report;
using namespace hitl::report::test;

namespace {

FakeStorage from_facts(const Facts& f) {
  FakeStorage s;
  s.decisions = f.decisions;
  s.tasks = f.tasks;
  s.reviews = f.reviews;
  std::sort(s.tasks.begin(), s.tasks.end(), [](auto& a, auto& b) { return a.task_id < b.task_id; });
  std::sort(s.reviews.begin(), s.reviews.end(), [](auto& a, auto& b) { return a.review_id < b.review_id; });
  return s;
}

}  // namespace

TEST_CASE("series: every step is the report of its own window") {
  FakeStorage s = from_facts(current());
  const std::int64_t step = 6 * HOUR;
  Series series = build_series(s, "credit_risk", settings(), W, step, NOW, 7);
  REQUIRE(series.steps.size() == 4);
  std::int64_t predictions = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const Window sw{W.from_ms + static_cast<std::int64_t>(i) * step, W.from_ms + static_cast<std::int64_t>(i + 1) * step};
    INFO("step " << i);
    CHECK(series.steps[i].window.from_ms == sw.from_ms);
    CHECK(series.steps[i].window.to_ms == sw.to_ms);
    const Report alone = build(s, "credit_risk", settings(), sw, std::nullopt, NOW, 7);
    CHECK(to_json(series.steps[i].report).dump() == to_json(alone).dump());
    predictions += series.steps[i].report.predictions;
  }
  CHECK(predictions == build(s, "credit_risk", settings(), W, std::nullopt, NOW).predictions);
  const auto j = to_json(series);
  CHECK(j["bucket_ms"] == step);
  CHECK(j["buckets"].size() == 4);
  CHECK(j["buckets"][0].contains("queue_depth"));
  CHECK(j["buckets"][0].contains("turnaround_p95_s"));
}

TEST_CASE("series: queue depth at each step's end, by priority band") {
  FakeStorage s;
  auto add = [&](std::int64_t id, std::int64_t created, const std::string& status, std::int64_t updated, double priority) {
    auto d = decision("d" + std::to_string(id), P1, created, "pending_review", "r", "good", "{}", id);
    auto t = task(id, d.id, status, created, updated);
    t.priority = priority;
    s.decisions.push_back(d);
    s.tasks.push_back(t);
  };
  add(1, T - HOUR, "pending", T - HOUR, 0.1);          // older decision, open all along: low
  add(2, T + HOUR, "completed", T + 3 * HOUR, 0.9);     // open at the end of step 0 only: high
  add(3, T + 5 * HOUR, "assigned", T + 5 * HOUR, 0.5);  // open from step 2 on: medium
  add(4, T + 30 * MIN, "cancelled", T + 40 * MIN, 0.9); // closed within step 0: never counted
  const Series series = build_series(s, "credit_risk", Settings{}, Window{T, T + 8 * HOUR}, 2 * HOUR, T + 8 * HOUR);
  REQUIRE(series.steps.size() == 4);
  const std::array<std::int64_t, 4> high{1, 0, 0, 0}, medium{0, 0, 1, 1}, low{1, 1, 1, 1};
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("step " << i);
    CHECK(series.steps[i].open_tasks[kHigh] == high[i]);
    CHECK(series.steps[i].open_tasks[kMedium] == medium[i]);
    CHECK(series.steps[i].open_tasks[kLow] == low[i]);
  }
  CHECK(band_of(0.67) == kHigh);
  CHECK(band_of(0.34) == kMedium);
  CHECK(band_of(0.33) == kLow);
}

TEST_CASE("series: a task of an older decision reviewed inside the window counts until it closed") {
  FakeStorage s;
  auto d = decision("d1", P1, T - 3 * HOUR, "pending_review", "r", "good", "{}", 1);
  s.decisions.push_back(d);
  auto t = task(1, "d1", "completed", T - 3 * HOUR, T + 3 * HOUR);
  t.priority = 0.9;
  s.tasks.push_back(t);
  s.reviews.push_back(review(1, 1, T + 2 * HOUR, T + 3 * HOUR));
  const Series series = build_series(s, "credit_risk", Settings{}, Window{T, T + 8 * HOUR}, 2 * HOUR, T + 8 * HOUR);
  REQUIRE(series.steps.size() == 4);
  const std::array<std::int64_t, 4> high{1, 0, 0, 0};  // open at the end of step 0, closed in step 1
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("step " << i);
    CHECK(series.steps[i].open_tasks[kHigh] == high[i]);
    CHECK(series.steps[i].report.predictions == 0);  // its decision is not the window's traffic
  }
}

TEST_CASE("series: a step still running counts what is open now, and the last step may be short") {
  FakeStorage s;
  auto d = decision("d1", P1, T + 10 * MIN, "pending_review", "r", "good", "{}", 1);
  s.decisions.push_back(d);
  s.tasks.push_back(task(1, "d1", "pending", T + 10 * MIN, T + 10 * MIN));
  const Series series = build_series(s, "credit_risk", Settings{}, Window{T, T + 50 * MIN}, 20 * MIN, T + 15 * MIN);
  REQUIRE(series.steps.size() == 3);
  CHECK(series.steps[2].window.to_ms == T + 50 * MIN);
  CHECK(series.steps[2].window.from_ms == T + 40 * MIN);
  CHECK(series.steps[0].open_tasks[kLow] == 1);  // now (T+15m) is inside step 0
  CHECK(series.steps[0].report.predictions == 1);
  CHECK(series.steps[0].report.flagged == 1);
}

TEST_CASE("series: refuses an open or empty window and too many steps") {
  FakeStorage s;
  CHECK_THROWS_WITH(build_series(s, "credit_risk", Settings{}, Window{0, T}, HOUR, T), Catch::Contains("from before its to"));
  CHECK_THROWS_WITH(build_series(s, "credit_risk", Settings{}, Window{T, T}, HOUR, T), Catch::Contains("from before its to"));
  CHECK_THROWS_WITH(build_series(s, "credit_risk", Settings{}, Window{T, T + DAY}, SEC, T), Catch::Contains("at most 1000"));
  CHECK_THROWS_WITH(build_series(s, "credit_risk", Settings{}, Window{T, T + DAY}, 0, T), Catch::Contains("at least 1 ms"));
  CHECK(build_series(s, "credit_risk", Settings{}, Window{T, T + DAY}, HOUR, T).steps.size() == 24);
}
