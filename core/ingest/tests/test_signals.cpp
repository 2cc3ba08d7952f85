// service::Signals, the rolling windows behind hitl.stats(): bucket expiry and ring reuse on a
// clock the test passes in, segments and their cap, review sampling, and the refused queries.
#include "metrics/metrics.hpp"
#include "ingest/confidence_window.hpp"
#include "ingest/signals.hpp"
#include "policy/policy_engine.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <deque>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

using hitl::policy::StatsStatus;
using hitl::policy::WindowFigures;
using hitl::service::Metrics;
using hitl::service::Signals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
constexpr std::int64_t kT0 = 1'800'000'000'000;  // on a bucket boundary (a multiple of 10 s)
constexpr std::int64_t kSecond = 1000;

WindowFigures figures(const Signals& s, std::int64_t window, std::int64_t now, const std::string* segment = nullptr) {
  WindowFigures f;
  REQUIRE(s.window("d", segment, window, now, f) == StatsStatus::ok);
  return f;
}
// A policy whose flag(p) answers with the reason `expr` formats ("%.3f"), or "none yet" when it
// is nil, run by a real PolicyEngine reading `signals`; reason(confidence) flags one prediction.
struct SignalPolicy {
  hitl::test::TempDir dir{"hitl-signal-policy"};
  std::unique_ptr<hitl::policy::PolicyEngine> engine;
  SignalPolicy(const Signals& signals, const std::string& expr) {
    const auto file = dir.path / "policy.lua";
    std::ofstream(file) << "local hitl = require \"hitl\"\nreturn { flag = function(p)\n"
                        << "  local v = " << expr << "\n"
                        << "  if v == nil then return hitl.review(\"none yet\") end\n"
                           "  return hitl.review(string.format(\"%.3f\", v))\nend }\n";
    engine = std::make_unique<hitl::policy::PolicyEngine>(std::vector<hitl::policy::DomainPolicy>{{"d", file}},
                                                          fs::path(HITL_SOURCE_DIR) / "scripts" / "lib");
    engine->set_signals(&signals);
  }
  std::string reason(double confidence) const {
    const std::string domain = "d";
    const json input = json::object(), meta = json::object();
    const hitl::policy::PredictionView pred{"good", confidence, {{"good", confidence}, {"bad", 1 - confidence}}};
    hitl::policy::FlagInput in;
    in.domain = &domain;
    in.input = &input;
    in.meta = &meta;
    in.prediction = &pred;
    return engine->flag("d", in).reason;
  }
};

}  // namespace

TEST_CASE("signals count decisions in the window and forget them after it") {
  Metrics metrics({"d"});
  Signals s({{"d", "", metrics.domain("d")}}, nullptr);
  s.record("d", std::nullopt, {true, false, false}, kT0);
  s.record("d", std::nullopt, {false, true, false}, kT0 + 5 * kSecond);
  s.record("d", std::nullopt, {true, false, true}, kT0 + 25 * kSecond);
  auto f = figures(s, 60, kT0 + 30 * kSecond);
  CHECK(f.predictions == 3);
  CHECK(f.flagged == 2);
  CHECK(f.rejected == 1);
  CHECK(f.errors == 1);
  CHECK(f.window_seconds == 60);
  // 75 s later the first bucket (t0..t0+10 s) has left a 60 s window; the third has not.
  f = figures(s, 60, kT0 + 75 * kSecond);
  CHECK(f.predictions == 1);
  CHECK(figures(s, 3600, kT0 + 75 * kSecond).predictions == 3);
  CHECK(figures(s, 3600, kT0 + 3700 * kSecond).predictions == 0);
}

TEST_CASE("a ring slot reused an hour later holds only the new decisions") {
  Signals s({{"d", "", nullptr}}, nullptr);
  s.record("d", std::nullopt, {true, false, false}, kT0);
  s.record("d", std::nullopt, {true, false, false}, kT0 + Signals::kBuckets * Signals::kBucketMs);  // same slot
  CHECK(figures(s, 3600, kT0 + Signals::kBuckets * Signals::kBucketMs).predictions == 1);
}

TEST_CASE("segments are counted apart and their number is capped") {
  Signals s({{"d", "meta.region", nullptr}}, nullptr);
  const json input = {{"Region", "ignored"}}, meta = {{"region", "eu"}};
  auto seg = s.segment_of("d", input, meta);
  REQUIRE(seg);
  CHECK(*seg == "eu");
  CHECK(s.segment_of("d", input, json{{"region", 3.0}}) == std::optional<std::string>("3"));
  CHECK(s.segment_of("d", input, json{{"region", false}}) == std::optional<std::string>("false"));
  CHECK_FALSE(s.segment_of("d", input, json{{"region", json::array()}}).has_value());
  CHECK_FALSE(s.segment_of("d", input, json::object()).has_value());
  s.record("d", std::string("eu"), {true, false, false}, kT0);
  s.record("d", std::string("us"), {false, false, false}, kT0);
  s.record("d", std::nullopt, {false, false, false}, kT0);
  const std::string eu = "eu", us = "us", none = "nowhere";
  CHECK(figures(s, 60, kT0, &eu).flagged == 1);
  CHECK(figures(s, 60, kT0, &us).predictions == 1);
  CHECK(figures(s, 60, kT0, &none).predictions == 0);
  CHECK(figures(s, 60, kT0).predictions == 3);
  for (std::size_t i = 0; i < Signals::kMaxSegments + 5; ++i)
    s.record("d", "v" + std::to_string(i), {false, false, false}, kT0);
  const std::string other = "(other)", last = "v" + std::to_string(Signals::kMaxSegments + 4);
  CHECK(figures(s, 60, kT0, &other).predictions == 7);  // eu and us took two of the places
  CHECK(figures(s, 60, kT0, &last).predictions == 0);
}

TEST_CASE("reviews are sampled from the review counters and bad queries are refused") {
  Metrics metrics({"d"});
  auto* counters = metrics.domain("d");
  counters->reviews_approve += 2;  // before the service started counting: not in any window
  Signals s({{"d", "", counters}}, nullptr);
  counters->reviews_correct++;
  counters->reviews_reject++;
  CHECK(figures(s, 60, kT0).reviews == 2);
  CHECK(figures(s, 60, kT0 + 90 * kSecond).reviews == 0);
  WindowFigures f;
  CHECK(s.window("d", nullptr, 0, kT0, f) == StatsStatus::bad_window);
  CHECK(s.window("d", nullptr, 3601, kT0, f) == StatsStatus::bad_window);
  const std::string eu = "eu";
  CHECK(s.window("d", &eu, 60, kT0, f) == StatsStatus::no_segment_field);
  CHECK(s.window("other", nullptr, 60, kT0, f) == StatsStatus::unknown_domain);
  s.refresh_open_tasks("d", kT0);  // no queue: stays 0, no crash
  CHECK(figures(s, 60, kT0).open_tasks == 0);
}

TEST_CASE("the confidence window answers the threshold below which a rate of recent predictions fall") {
  using hitl::service::ConfidenceWindow;
  ConfidenceWindow w;
  // 1000 confidences spread evenly over [0.5, 1): 15% are below 0.575.
  for (int i = 0; i < 1000; ++i) {
    if (i == ConfidenceWindow::kMinSamples - 1) CHECK_FALSE(w.threshold_for(0.15));  // too few yet
    w.add(0.5 + 0.5 * (i % 1000) / 1000.0, "m1");
  }
  REQUIRE(w.threshold_for(0.15));
  CHECK(*w.threshold_for(0.15) == Approx(0.575).margin(0.0011));
  CHECK(*w.threshold_for(0.5) == Approx(0.75).margin(0.0011));
  CHECK_FALSE(w.threshold_for(0.0));
  CHECK_FALSE(w.threshold_for(1.0));
  // A promoted model is surer of itself: its own window answers once it has 200 predictions,
  // the previous model's until then.
  for (std::size_t i = 0; i < ConfidenceWindow::kMinSamples - 1; ++i) w.add(0.9 + 0.1 * (i % 100) / 100.0, "m2");
  CHECK(*w.threshold_for(0.15) == Approx(0.575).margin(0.0011));
  w.add(0.95, "m2");
  CHECK(*w.threshold_for(0.15) == Approx(0.915).margin(0.0021));
  // Only the last kCapacity count: older ones leave as new ones come.
  for (std::size_t i = 0; i < ConfidenceWindow::kCapacity; ++i) w.add(0.6, "m2");
  CHECK(*w.threshold_for(0.15) == Approx(0.601).margin(0.0001));
  CHECK(w.size() == ConfidenceWindow::kCapacity);
}

TEST_CASE("the confidence window's threshold equals a scan of the last 10k bins, over skewed and ring-wrapped input") {
  using hitl::service::ConfidenceWindow;
  ConfidenceWindow w;
  std::deque<int> last;  // the bins the window should hold
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto scan = [&](double rate) {  // the rule, read off every kept bin: first bin reaching rate * n
    std::vector<int> counts(ConfidenceWindow::kBins, 0);
    for (int b : last) ++counts[static_cast<std::size_t>(b)];
    const double wanted = rate * static_cast<double>(last.size());
    double below = 0;
    for (std::size_t b = 0; b < counts.size(); ++b)
      if ((below += counts[b]) >= wanted) return static_cast<double>(b + 1) / ConfidenceWindow::kBins;
    return 1.0;
  };
  for (int i = 0; i < 25'000; ++i) {
    const double c = i < 12'000 ? std::pow(u(rng), 3.0) : (i % 7 == 0 ? 1.0 : 0.4 + 0.2 * u(rng));
    w.add(c, "m1");
    last.push_back(static_cast<int>(std::min<double>(ConfidenceWindow::kBins - 1, std::floor(c * ConfidenceWindow::kBins))));
    if (last.size() > ConfidenceWindow::kCapacity) last.pop_front();
    if (i % 997 == 0 && last.size() >= ConfidenceWindow::kMinSamples)
      for (double rate : {0.001, 0.12, 0.5, 0.857, 0.999}) {
        INFO("after " << i + 1 << " adds, rate " << rate);
        CHECK(*w.threshold_for(rate) == scan(rate));
      }
  }
}

TEST_CASE("hitl.threshold_for_rate reads the domain's recent confidences through Signals") {
  Metrics metrics({"d"});
  Signals s({{"d", "", metrics.domain("d")}}, nullptr);
  const SignalPolicy policy(s, "hitl.threshold_for_rate(0.15)");
  const std::string version = "m1";
  CHECK(policy.reason(0.8) == "none yet");
  for (int i = 0; i < 1000; ++i) {
    Signals::Outcome o;
    o.confidence = 0.5 + 0.5 * i / 1000.0;
    o.model_version = &version;
    s.record("d", std::nullopt, o, kT0);
  }
  CHECK(policy.reason(0.8) == "0.575");
}

namespace {
// A model whose confidence is its input's "x" scaled by `sure`: a promoted model that is surer of
// itself than the one it replaces (a stand-in: the test is about the window, not the model).
struct ScaledModel final : hitl::sdk::Model {
  double sure = 1.0;
  bool fail = false;
  hitl::sdk::Status predict(const std::vector<hitl::sdk::Record>& rows, std::vector<hitl::sdk::Prediction>& out) noexcept override {
    if (fail) return hitl::sdk::Status::Error(hitl::sdk::Code::internal, "broken");
    for (const auto& r : rows) out.push_back({"good", std::min(1.0, std::get<double>(r.at(0).second) * sure), {}, {}});
    return hitl::sdk::Status::Ok();
  }
  std::string version() const noexcept override { return "m2"; }
};
}  // namespace

TEST_CASE("a swapped-in model rescored on recent rows moves threshold_for_rate at once") {
  Metrics metrics({"d"});
  Signals s({{"d", "", metrics.domain("d")}}, nullptr);
  const std::string m1 = "m1";
  ScaledModel model;
  CHECK(s.recalibrate("d", model) == 0);  // nothing seen yet
  for (int i = 0; i < 1000; ++i) {
    const double x = 0.5 + 0.5 * i / 1000.0;
    const hitl::sdk::Record row{{"x", x}};
    Signals::Outcome o;
    o.confidence = x;  // the old model: confidence = x
    o.model_version = &m1;
    o.row = &row;
    s.record("d", std::nullopt, o, kT0);
  }
  REQUIRE(s.threshold_for_rate("d", 0.15));
  CHECK(*s.threshold_for_rate("d", 0.15) == Approx(0.575).margin(0.0011));
  // The new model is surer (x * 1.5, capped at 1): on the last 1000 rows it flags 15% below 0.8625.
  model.sure = 1.5;
  CHECK(s.recalibrate("d", model) == Signals::kRecentRows);
  CHECK(*s.threshold_for_rate("d", 0.15) == Approx(0.8625).margin(0.0021));
  // A model that cannot score leaves the window as it was.
  model.fail = true;
  CHECK(s.recalibrate("d", model) == 0);
  CHECK(*s.threshold_for_rate("d", 0.15) == Approx(0.8625).margin(0.0021));
  CHECK(s.recalibrate("unknown", model) == 0);
}

TEST_CASE("hitl.calibrated: the weighted share of right labels at a confidence, refitted when a model is swapped in") {
  Metrics metrics({"d"});
  Signals s({{"d", "", metrics.domain("d")}}, nullptr);
  auto outcome = [&](double x, const std::string& label, const std::string& truth, double weight) {
    hitl::sdk::DecisionRecord dec;
    dec.domain = "d";
    dec.model_version = "m1";
    dec.label = label;
    dec.confidence = x;
    dec.input_json = json{{"x", x}}.dump();
    dec.final_label = truth;
    s.labelled(dec, weight);
  };
  // At confidence 0.9 the old model is right only 60% of the time (overconfident): 18 reviewed
  // cases right and 11 wrong, then one audit sample, wrong, weighing 10.
  for (int i = 0; i < 29; ++i) {
    CHECK_FALSE(s.calibrated("d", 0.9));  // fewer than 30 in its tenth: no answer, the policy falls back
    outcome(0.9, "good", i < 18 ? "good" : "bad", 1.0);
  }
  outcome(0.91, "good", "bad", 10.0);
  REQUIRE(s.calibrated("d", 0.95));
  CHECK(*s.calibrated("d", 0.95) == Approx(18.0 / 39));  // the same tenth [0.9, 1.0)
  CHECK_FALSE(s.calibrated("d", 0.5));
  // Erased (unreadable) input, a client's own prediction or no label: not counted.
  hitl::sdk::DecisionRecord erased;
  erased.domain = "d";
  erased.model_version = "m1";
  erased.input_json = "not json";
  erased.final_label = "good";
  s.labelled(erased, 1.0);
  CHECK(*s.calibrated("d", 0.95) == Approx(18.0 / 39));
  // The swapped-in model is less sure (x / 2, label "good"): the 30 rows now sit near 0.45 and
  // the map is refitted on them with their truths and weights.
  ScaledModel model;
  model.sure = 0.5;
  s.recalibrate("d", model);
  REQUIRE(s.calibrated("d", 0.45));
  CHECK(*s.calibrated("d", 0.45) == Approx(18.0 / 39));
  CHECK_FALSE(s.calibrated("d", 0.95));  // nothing left in the old model's tenth
}

TEST_CASE("hitl.calibrated reads the domain's calibration through Signals, nil before enough outcomes") {
  Metrics metrics({"d"});
  Signals s({{"d", "", metrics.domain("d")}}, nullptr);
  const SignalPolicy policy(s, "hitl.calibrated(p.prediction)");
  CHECK(policy.reason(0.85) == "none yet");
  for (int i = 0; i < 40; ++i) {  // at 0.8x the model is right 3 times in 4
    hitl::sdk::DecisionRecord dec;
    dec.domain = "d";
    dec.model_version = "m1";
    dec.label = "good";
    dec.confidence = 0.82;
    dec.input_json = "{}";
    dec.final_label = i % 4 == 3 ? "bad" : "good";
    s.labelled(dec, 1.0);
  }
  CHECK(policy.reason(0.85) == "0.750");
}
