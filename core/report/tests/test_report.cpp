// The report's arithmetic against the hand-built stream of fixture.cpp (the table of its records
// heads that file); every expected figure is worked out in the comment next to its check.
#include "common/statistics.hpp"
#include "report/report.hpp"

#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <nlohmann/json.hpp>

namespace sdk = hitl::sdk;
using namespace hitl::report;
using namespace hitl::report::test;

namespace {

const GroupStats& group(const BiasSide& side, const std::string& name) {
  for (const auto& g : side.groups)
    if (g.name == name) return g;
  FAIL("no group " << name);
  throw;
}

}  // namespace

TEST_CASE("flag rate and its reasons count the cohort only") {
  const auto facts = current();
  const auto r = compute("credit_risk", facts, nullptr, settings(), W, BW, NOW);
  // 15 in the window: 5 auto_approved, 1 rejected, 9 pending_review.
  CHECK(r.predictions == 15);
  CHECK(r.auto_approved == 5);
  CHECK(r.rejected == 1);
  CHECK(r.flagged == 9);
  CHECK(*r.flag_rate == exact(9.0 / 15));
  // low_confidence d02 d03 d07 d10 d12 d15 = 6; large_amount d06 d09 d14 = 3; "ok" and
  // "fraud_rule" are not reasons for review; "outside" only occurs outside the window.
  REQUIRE(r.flag_reasons.size() == 2);
  CHECK(r.flag_reasons[0].reason == "low_confidence");
  CHECK(r.flag_reasons[0].count == 6);
  CHECK(*r.flag_reasons[0].rate == exact(0.4));
  CHECK(r.flag_reasons[1].reason == "large_amount");
  CHECK(r.flag_reasons[1].count == 3);
  CHECK(*r.flag_reasons[1].rate == exact(0.2));
}

TEST_CASE("turnaround uses nearest-rank percentiles, and SLA counts met, breached and open past deadline") {
  const auto r = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  const auto& ta = r.turnaround;
  // Completed: 30 60 90 120 300 600 (task 100's 9999 s is outside). Sum 1200, n = 6.
  CHECK(ta.completed == 6);
  CHECK(*ta.mean_s == exact(200));
  CHECK(*ta.p50_s == exact(90));   // rank ceil(3) = 3 (interpolation would say 105)
  CHECK(*ta.p95_s == exact(600));  // rank ceil(5.7) = 6
  CHECK(*ta.max_s == exact(600));
  // Completed with a deadline: 101 (met), 102 (breached), 104 (met at the deadline exactly).
  CHECK(ta.sla.with_deadline == 3);
  CHECK(ta.sla.met == 2);
  CHECK(ta.sla.breached == 1);
  CHECK(*ta.sla.compliance == exact(2.0 / 3));
  // Open: 105 past its deadline (counted), 106 not yet; 108 is cancelled, 109 outside.
  CHECK(ta.sla.open_breached == 1);
  // The same open task is not past its deadline at an earlier now.
  CHECK(compute("credit_risk", current(), nullptr, settings(), W, BW, T + 12 * MIN + 30 * SEC).turnaround.sla.open_breached == 0);
}

TEST_CASE("percentiles on twenty values") {
  Facts f;
  for (int i = 1; i <= 20; ++i) {
    const std::string id = "t" + std::to_string(i);
    f.decisions.push_back(decision(id, P1, T + i, "pending_review", "r", "good", "{}", i));
    f.tasks.push_back(task(i, id, "completed", T + i, T + i + i * SEC));  // i seconds
  }
  const auto ta = compute("d", f, nullptr, {}, W, {}, NOW).turnaround;
  CHECK(*ta.mean_s == exact(10.5));
  CHECK(*ta.p50_s == exact(10));  // rank 10
  CHECK(*ta.p95_s == exact(19));  // rank 19, not the max
  CHECK(*ta.max_s == exact(20));
}

TEST_CASE("accuracy gain: reported truth wins over the human label, a label-less reject is no truth") {
  const auto r = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  const auto& a = r.accuracy;
  // Cases: d02 (human bad), d03 (reported good), d04 (reported bad), d07 (reported good),
  // d08 (reported good), d12 (human good), d15 (human good) = 7; d06's reject has no label.
  CHECK(a.cases == 7);
  CHECK(a.reported_truths == 4);  // d03 d04 d07 d08
  CHECK(a.reviewed_cases == 3);   // d02 d12 d15
  // Delivered right: d02 d07 d08 d12 d15 (d03's human approved the wrong label, d04 the model's).
  CHECK(*a.final_accuracy == exact(5.0 / 7));
  // Model right: d08 d12.
  CHECK(*a.model_accuracy == exact(2.0 / 7));
  CHECK(*a.gain == exact(3.0 / 7));
}

TEST_CASE("bias: banded groups, disparities over qualifying groups, drift against the baseline") {
  const auto base = baseline();
  const auto r = compute("credit_risk", current(), &base, settings(), W, BW, NOW);
  REQUIRE(r.bias);
  const auto& b = *r.bias;
  CHECK(b.attribute == "Age");
  std::vector<std::string> names;
  for (const auto& g : b.current.groups) names.push_back(g.name);
  CHECK(names == std::vector<std::string>{"<25", "25-40", "40-60", ">=60", "(missing)"});

  // <25: d01 d02 d06 d12; flagged d02 d06 d12; cases d02 (model wrong) d12 (right).
  const auto& g1 = group(b.current, "<25");
  CHECK((g1.predictions == 4 && g1.flagged == 3 && g1.cases == 2 && g1.model_errors == 1));
  CHECK(*g1.flag_rate == exact(0.75));
  CHECK(*g1.error_rate == exact(0.5));
  // 25-40: d04 (25 is the start of its band) d07 d08 d09; flagged d07 d09; cases d04 d07 wrong, d08 right.
  const auto& g2 = group(b.current, "25-40");
  CHECK((g2.predictions == 4 && g2.flagged == 2 && g2.cases == 3 && g2.model_errors == 2));
  CHECK(*g2.flag_rate == exact(0.5));
  CHECK(*g2.error_rate == exact(2.0 / 3));
  // 40-60: d03 d15 (40), both flagged, both cases with the model wrong.
  const auto& g3 = group(b.current, "40-60");
  CHECK((g3.predictions == 2 && g3.flagged == 2 && g3.cases == 2 && g3.model_errors == 2));
  CHECK(*g3.flag_rate == exact(1.0));
  CHECK(*g3.error_rate == exact(1.0));
  // >=60: d05 d11 (60) d14; flagged d14; no cases -> error rate null.
  const auto& g4 = group(b.current, ">=60");
  CHECK((g4.predictions == 3 && g4.flagged == 1 && g4.cases == 0));
  CHECK(*g4.flag_rate == exact(1.0 / 3));
  CHECK_FALSE(g4.error_rate);
  // (missing): d10 (erased), d13 (null); flagged d10.
  const auto& g5 = group(b.current, "(missing)");
  CHECK((g5.predictions == 2 && g5.flagged == 1 && g5.cases == 0));
  CHECK(*g5.flag_rate == exact(0.5));
  CHECK_FALSE(g5.error_rate);

  // Flag: max 1 (40-60) - min 1/3 (>=60). Error: 1 - 0.5; the null groups do not count as 0.
  CHECK(*b.current.flag_rate_disparity == exact(2.0 / 3));
  CHECK(*b.current.error_rate_disparity == exact(0.5));

  REQUIRE(b.baseline);
  REQUIRE(b.baseline_window);
  CHECK(b.baseline_window->from_ms == BW.from_ms);
  CHECK(b.baseline->groups.size() == 3);  // b7 (at T) is outside the baseline window
  CHECK(*group(*b.baseline, "25-40").error_rate == exact(1.0));
  CHECK(*b.baseline->flag_rate_disparity == exact(0.5));
  CHECK(*b.baseline->error_rate_disparity == exact(1.0));
  CHECK(*b.flag_rate_drift == exact(2.0 / 3 - 0.5));
  CHECK(*b.error_rate_drift == exact(-0.5));

  // Without baseline facts there is no baseline and no drift.
  const auto nb = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  CHECK_FALSE(nb.bias->baseline);
  CHECK_FALSE(nb.bias->flag_rate_drift);
  // Without a group attribute there is no bias section at all.
  Settings none = settings();
  none.group.field.clear();
  CHECK_FALSE(compute("credit_risk", current(), &base, none, W, BW, NOW).bias);
}

TEST_CASE("bias: unbanded values from meta, missing and unparseable payloads, and one group gives 0") {
  Facts f;
  auto meta = [&](const std::string& id, const std::string& status, const std::string& meta_json) {
    auto d = decision(id, P1, T + static_cast<std::int64_t>(f.decisions.size()), status, "r", "good");
    d.meta_json = meta_json;
    f.decisions.push_back(d);
  };
  meta("a", "pending_review", R"({"segment":"sme"})");
  meta("b", "auto_approved", R"({"segment":"sme"})");
  meta("c", "auto_approved", R"({"segment":"retail"})");
  meta("d", "auto_approved", R"({"segment":3})");
  meta("e", "pending_review", R"({"segment":2.5})");
  meta("f", "auto_approved", R"({"segment":true})");
  meta("g", "auto_approved", R"({"other":1})");
  meta("h", "pending_review", "not json");
  meta("i", "auto_approved", R"({"segment":["x"]})");
  Settings s;
  s.group.field = "meta.segment";
  const auto r = compute("d", f, nullptr, s, W, {}, NOW);
  std::vector<std::string> names;
  for (const auto& g : r.bias->current.groups) names.push_back(g.name);
  CHECK(names == std::vector<std::string>{"2.5", "3", "retail", "sme", "true", "(missing)"});
  CHECK(group(r.bias->current, "sme").predictions == 2);
  CHECK(*group(r.bias->current, "sme").flag_rate == exact(0.5));
  CHECK(group(r.bias->current, "(missing)").predictions == 3);  // g, h, i
  CHECK(*group(r.bias->current, "(missing)").flag_rate == exact(1.0 / 3));
  CHECK(*r.bias->current.flag_rate_disparity == exact(1.0));  // "2.5" 1 - "3" 0
  CHECK_FALSE(r.bias->current.error_rate_disparity);          // no group has a case

  // Exactly one group with cases: error disparity 0, not null.
  f.decisions[0] = truth(f.decisions[0], "bad");
  CHECK(*compute("d", f, nullptr, s, W, {}, NOW).bias->current.error_rate_disparity == exact(0.0));

  s.group.bands = {10, 5};
  CHECK_THROWS_AS(compute("d", f, nullptr, s, W, {}, NOW), std::invalid_argument);
}

TEST_CASE("cost per corrected prediction") {
  const auto r = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  const auto& c = r.cost;
  CHECK(c.reviews == 6);  // review 7 is of a task outside the cohort
  CHECK(c.reviews_without_start == 2);
  CHECK(c.reviewer_seconds == exact(40 + 200 + 90 + 120));
  CHECK(c.reviewer_cost == exact(450.0 / 3600 * 36));  // 4.5
  CHECK(c.system_cost == exact(15 * 0.02));          // 0.3
  // Corrections: d02 (bad != good), d06 (reject "" != good), d07, d15; approvals d03, d12 are not.
  CHECK(c.corrections == 4);
  CHECK(*c.cost_per_correction == exact(4.8 / 4));
}

TEST_CASE("per policy version rows, ordered by first appearance") {
  const auto r = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  REQUIRE(r.by_policy.size() == 2);
  const auto& p1 = r.by_policy[0];
  CHECK(p1.version == P1);
  CHECK(p1.first_ms == T);
  CHECK(p1.last_ms == T + 5 * MIN);
  CHECK(p1.predictions == 6);
  CHECK(p1.flagged == 3);  // d02 d03 d06
  CHECK(*p1.flag_rate == exact(0.5));
  // Cases d02 (delivered right, model wrong), d03 (both wrong), d04 (both wrong).
  CHECK((p1.accuracy.cases == 3 && p1.accuracy.reviewed_cases == 1 && p1.accuracy.reported_truths == 2));
  CHECK(*p1.accuracy.final_accuracy == exact(1.0 / 3));
  CHECK(*p1.accuracy.model_accuracy == exact(0.0));
  CHECK(*p1.accuracy.gain == exact(1.0 / 3));
  const auto& p2 = r.by_policy[1];
  CHECK(p2.version == P2);
  CHECK(p2.first_ms == T + 10 * MIN);
  CHECK(p2.last_ms == T + 18 * MIN);
  CHECK(p2.predictions == 9);
  CHECK(p2.flagged == 6);  // d07 d09 d10 d12 d14 d15
  CHECK(*p2.flag_rate == exact(2.0 / 3));
  // Cases d07 d08 (reported), d12 d15 (human): all delivered right, the model right on d08 d12.
  CHECK((p2.accuracy.cases == 4 && p2.accuracy.reviewed_cases == 2 && p2.accuracy.reported_truths == 2));
  CHECK(*p2.accuracy.final_accuracy == exact(1.0));
  CHECK(*p2.accuracy.model_accuracy == exact(0.5));
  CHECK(*p2.accuracy.gain == exact(0.5));
}

TEST_CASE("per model version rows: the review share each model gave, in the order they went live") {
  Facts f;
  auto scored = [](sdk::DecisionRecord d, const std::string& model) {
    d.model_version = model;
    return d;
  };
  // m1 (first): 4 decisions, 1 flagged; m2 (from T + 10 min): 4 decisions, 3 flagged, one a
  // reviewed case the model got wrong. Both under one policy version.
  for (int i = 0; i < 4; ++i)
    f.decisions.push_back(scored(decision("a" + std::to_string(i), P1, T + i * MIN, i == 0 ? "pending_review" : "auto_approved",
                                          i == 0 ? "uncertain" : "", "good"), "zz-m1"));
  for (int i = 0; i < 4; ++i)
    f.decisions.push_back(scored(decision("b" + std::to_string(i), P1, T + (10 + i) * MIN,
                                          i < 3 ? "pending_review" : "auto_approved", i < 3 ? "uncertain" : "", "good"),
                                 "aa-m2"));
  f.decisions[4] = human(f.decisions[4], "corrected", "bad");
  const auto r = compute("credit_risk", f, nullptr, settings(), W, BW, NOW);
  REQUIRE(r.by_policy.size() == 1);
  REQUIRE(r.by_model.size() == 2);
  CHECK(r.by_model[0].version == "zz-m1");  // by first appearance, not by name
  CHECK(r.by_model[0].predictions == 4);
  CHECK(*r.by_model[0].flag_rate == exact(0.25));
  CHECK(r.by_model[1].version == "aa-m2");
  CHECK(r.by_model[1].first_ms == T + 10 * MIN);
  CHECK(*r.by_model[1].flag_rate == exact(0.75));
  CHECK(r.by_model[1].accuracy.cases == 1);
  CHECK(*r.by_model[1].accuracy.model_accuracy == exact(0.0));
  const auto j = to_json(r);
  CHECK(j["by_model"][1]["model_version"] == "aa-m2");
  CHECK(j["by_model"][1]["flag_rate"].get<double>() == exact(0.75));
  CHECK(to_table(r).find("By model version") != std::string::npos);
}

TEST_CASE("an empty cohort gives nulls, not divisions by zero") {
  const Facts empty;
  const auto r = compute("credit_risk", empty, &empty, settings(), W, BW, NOW);
  CHECK(r.predictions == 0);
  CHECK_FALSE(r.flag_rate);
  CHECK(r.flag_reasons.empty());
  CHECK(r.turnaround.completed == 0);
  CHECK_FALSE(r.turnaround.mean_s);
  CHECK_FALSE(r.turnaround.p50_s);
  CHECK_FALSE(r.turnaround.p95_s);
  CHECK_FALSE(r.turnaround.max_s);
  CHECK_FALSE(r.turnaround.sla.compliance);
  CHECK(r.accuracy.cases == 0);
  CHECK_FALSE(r.accuracy.final_accuracy);
  CHECK_FALSE(r.accuracy.model_accuracy);
  CHECK_FALSE(r.accuracy.gain);
  REQUIRE(r.bias);
  CHECK(r.bias->current.groups.empty());
  CHECK_FALSE(r.bias->current.flag_rate_disparity);
  CHECK_FALSE(r.bias->current.error_rate_disparity);
  CHECK_FALSE(r.bias->flag_rate_drift);
  CHECK_FALSE(r.bias->error_rate_drift);
  CHECK(r.cost.corrections == 0);
  CHECK(r.cost.system_cost == 0);
  CHECK_FALSE(r.cost.cost_per_correction);
  CHECK(r.by_policy.empty());
  CHECK(r.by_model.empty());

  const auto j = to_json(r);
  CHECK(j["flag_rate"].is_null());
  CHECK(j["turnaround"]["p50_s"].is_null());
  CHECK(j["turnaround"]["sla"]["compliance"].is_null());
  CHECK(j["accuracy"]["gain"].is_null());
  CHECK(j["bias"]["drift"]["flag_rate_disparity"].is_null());
  CHECK(j["cost"]["cost_per_correction"].is_null());
  CHECK(j["by_policy"] == nlohmann::json::array());
  CHECK(j["by_model"] == nlohmann::json::array());
  const auto table = to_table(r);
  CHECK(table.find("nan") == std::string::npos);
  CHECK(table.find("inf") == std::string::npos);
}

TEST_CASE("default baseline: the window of equal length right before from") {
  const auto b = default_baseline(W, NOW);
  REQUIRE(b);
  CHECK(b->from_ms == T - DAY);
  CHECK(b->to_ms == T);
  const auto open = default_baseline({T, 0}, NOW);  // unbounded to counts as now
  REQUIRE(open);
  CHECK(open->from_ms == T - HOUR);
  CHECK(open->to_ms == T);
  CHECK_FALSE(default_baseline({0, T}, NOW));
  CHECK_FALSE(default_baseline({T, T}, NOW));
}

TEST_CASE("audit samples estimate the model on automatic traffic with a Wilson interval, apart from the reviewed slice") {
  Facts f;
  // 40 audit samples: the model's label kept 36 times. An unanswered one and a real review's
  // outcome stay out of the estimate.
  for (int i = 0; i < 40; ++i)
    f.decisions.push_back(human(decision("a" + std::to_string(i), P1, T + i * MIN, "pending_review", "audit", "good"),
                                i < 36 ? "approve" : "correct", i < 36 ? "good" : "bad"));
  f.decisions.push_back(decision("open", P1, T + 50 * MIN, "pending_review", "audit", "good"));
  f.decisions.push_back(human(decision("r", P1, T + 51 * MIN, "pending_review", "uncertain", "good"), "correct", "bad"));
  const auto r = compute("credit_risk", f, nullptr, settings(), W, BW, NOW);
  CHECK(r.audit.samples == 40);
  CHECK(r.audit.model_right == 36);
  REQUIRE(r.audit.model_accuracy);
  CHECK(*r.audit.model_accuracy == exact(0.9));
  // Wilson at 95% for 36/40: 0.7695 .. 0.9604 (by hand: centre 0.8650, half-width 0.0955).
  CHECK(*r.audit.ci95_low == Approx(0.7695).margin(0.0005));
  CHECK(*r.audit.ci95_high == Approx(0.9604).margin(0.0005));
  const auto j = to_json(r);
  CHECK(j["audit"]["samples"] == 40);
  CHECK(j["audit"]["ci95"].size() == 2);
  // Without audit samples there is no estimate (null), never a figure from the reviewed slice.
  const auto none = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  CHECK(none.audit.samples == 0);
  CHECK_FALSE(none.audit.model_accuracy);
  CHECK(to_json(none)["audit"]["ci95"].is_null());
}

TEST_CASE("estimated accuracy over all traffic: reviewed decisions counted, automatic ones estimated from audit samples by policy version") {
  Facts f;
  auto add = [&](const std::string& id, const std::string& policy, const std::string& status, const std::string& reason,
                 const char* outcome, const std::string& final_label) {
    auto d = decision(id, policy, T + static_cast<std::int64_t>(f.decisions.size()) * MIN, status, reason, "good");
    f.decisions.push_back(outcome ? human(d, outcome, final_label) : d);
  };
  // P1: 100 automatic decisions, 10 of them audit samples (8 kept the model's label): each stands for 10.
  for (int i = 0; i < 90; ++i) add("p1-" + std::to_string(i), P1, "auto_approved", "", nullptr, "");
  for (int i = 0; i < 10; ++i) add("p1a-" + std::to_string(i), P1, "pending_review", "audit", i < 8 ? "approve" : "correct", i < 8 ? "good" : "bad");
  // P2 drew at another rate: 40 automatic, 2 samples (both right): each stands for 20.
  for (int i = 0; i < 38; ++i) add("p2-" + std::to_string(i), P2, "auto_approved", "", nullptr, "");
  for (int i = 0; i < 2; ++i) add("p2a-" + std::to_string(i), P2, "pending_review", "audit", "approve", "good");
  // 20 reviewed for a real reason: the model right 12 times; what was delivered is the person's label.
  for (int i = 0; i < 20; ++i) add("r-" + std::to_string(i), P1, "pending_review", "uncertain", i < 12 ? "approve" : "correct", i < 12 ? "good" : "bad");
  // Not covered: a rejection and a flagged case with no answer yet.
  add("rej", P1, "rejected", "fraud", nullptr, "");
  add("open", P1, "pending_review", "uncertain", nullptr, "");
  const auto r = compute("credit_risk", f, nullptr, settings(), W, BW, NOW);
  const auto& e = r.estimated;
  CHECK(e.reviewed == 20);
  CHECK(e.automatic == 140);
  CHECK(e.samples == 12);
  CHECK(e.not_covered == 2);
  // Weighted: (8*10 + 2*20) / (10*10 + 2*20) = 120/140; Kish n = 140^2 / (10*100 + 2*400) = 10.89.
  CHECK(e.effective_samples == Approx(10.8889).margin(1e-4));
  // Model: (12 + 140 * 120/140) / 160 = 0.825; system: (20 + 120) / 160 = 0.875 (a plain share of the
  // samples, 10/12, would say 0.8458 and 0.8958).
  REQUIRE(e.model.accuracy);
  CHECK(*e.model.accuracy == Approx(0.825).margin(1e-12));
  CHECK(*e.system.accuracy == Approx(0.875).margin(1e-12));
  // Wilson at 95% and n = 10.89 around 0.8571: 0.5625 .. 0.9655, mapped through (census + 140 x) / 160.
  CHECK(*e.model.ci95_low == Approx(0.56718).margin(1e-4));
  CHECK(*e.model.ci95_high == Approx(0.91983).margin(1e-4));
  CHECK(*e.system.ci95_low == Approx(0.61718).margin(1e-4));
  CHECK(*e.system.ci95_high == Approx(0.96983).margin(1e-4));
  const auto j = to_json(r)["estimated_accuracy"];
  CHECK(j["system"]["ci95"].size() == 2);
  CHECK(j["samples"] == 12);
  REQUIRE(e.capture.size() == 1);  // the top score: the only signal stored outside the payload
  CHECK(e.capture[0].rows == Approx(160));
  CHECK(e.capture[0].errors == Approx(8 + 2 * 10));  // 8 reviewed errors, 2 sampled ones standing for 10 each
  // Automatic traffic without a single audit sample: no estimate (the reviewed slice alone would pass for all traffic).
  const auto none = compute("credit_risk", current(), nullptr, settings(), W, BW, NOW);
  CHECK_FALSE(none.estimated.model.accuracy);
  CHECK_FALSE(none.estimated.system.accuracy);
  CHECK(to_json(none)["estimated_accuracy"]["system"]["ci95"].is_null());
  CHECK(none.estimated.capture.empty());
}

TEST_CASE("capture curves: the share of the model's errors among the most doubtful rows, weighted, pro rata in a bin") {
  CaptureFold fold;
  // 100 rows with top scores 0.995 down to 0.005 (doubt rising); the model is wrong on the 10 least confident.
  for (int i = 0; i < 100; ++i) fold.add(doubts_of({}, 0.995 - 0.01 * i), i >= 90);
  auto curves = fold.curves();
  REQUIRE(curves.size() == 1);  // no scores: the top score only
  CHECK(curves[0].signal == Signal::top_score);
  CHECK(curves[0].errors == 10);
  REQUIRE(curves[0].points.size() == kCaptureRates.size());
  CHECK(*curves[0].points[0].capture == Approx(0.5));   // 5% reviewed: 5 of the 10 errors
  CHECK(*curves[0].points[1].capture == Approx(1.0));   // 10%: all of them
  CHECK(*curves[0].points[4].capture == Approx(1.0));
  // A stratum weighed 9 times: 10 more rows, the most confident, all errors, now 90 of 190 weight.
  CaptureFold confident;
  for (int i = 0; i < 10; ++i) confident.add(doubts_of({}, 0.9999), true);
  fold.merge(confident, 9.0);
  curves = fold.curves();
  CHECK(curves[0].rows == Approx(190));
  CHECK(curves[0].errors == Approx(100));
  CHECK(*curves[0].points[1].capture == Approx(0.1));   // 10% = 19 rows: the 10 least confident errors and 9 right ones
  // With scores, margin and entropy too: two labels rank alike (entropy is flat near 0.5, so its
  // top bins hold right and wrong rows together and take them pro rata).
  CaptureFold scored;
  for (int i = 0; i < 100; ++i) {
    const double bad = 0.005 + 0.005 * i;
    scored.add(doubts_of({{"good", 1 - bad}, {"bad", bad}}, 1 - bad), i >= 95);
  }
  const auto all = scored.curves();
  REQUIRE(all.size() == 3);
  CHECK(*all[0].points[0].capture == Approx(1.0));
  CHECK(*all[1].points[0].capture == Approx(1.0));
  CHECK(*all[2].points[0].capture >= 0.8);
  CHECK(*all[2].points[1].capture == Approx(1.0));
  CHECK(rate_key(0.1) == "0.10");
}

TEST_CASE("capture curves: the ood signal is z / (1 + z) of p.ood's score, and only where there is a valid one") {
  const std::vector<std::pair<std::string, double>> scores{{"good", 0.7}, {"bad", 0.3}};
  CHECK(*doubts_of(scores, 0.7, 3.0)[3] == Approx(0.75));
  CHECK(*doubts_of(scores, 0.7, 0.0)[3] == Approx(0.0));
  CHECK_FALSE(doubts_of(scores, 0.7)[3]);                                          // no score: no doubt
  CHECK_FALSE(doubts_of(scores, 0.7, -1.0)[3]);                                    // not a distance
  CHECK_FALSE(doubts_of(scores, 0.7, std::numeric_limits<double>::quiet_NaN())[3]);
  CHECK_FALSE(doubts_of(scores, 0.7, std::numeric_limits<double>::infinity())[3]);
  // 100 rows as sure as each other; the 10 farthest from the training data are the errors: the
  // ood curve finds them where the top score cannot tell the rows apart.
  CaptureFold fold;
  for (int i = 0; i < 100; ++i) fold.add(doubts_of(scores, 0.7, 0.1 * i), i >= 90);
  const auto curves = fold.curves();
  REQUIRE(curves.size() == 4);
  CHECK(curves[3].signal == Signal::ood);
  CHECK(*curves[3].points[1].capture == Approx(1.0));  // 10% reviewed by ood: all 10 errors
  CHECK(*curves[0].points[1].capture == Approx(0.1));  // by the top score: a tenth of them
}

TEST_CASE("census plus sample: a census alone is exact, a part no one sampled gives no estimate") {
  using namespace hitl::statistics;
  const auto none = proportion(WeightedCount{});
  CHECK_FALSE(census_plus_sample(0, 0, 0, none));          // nothing to estimate
  CHECK_FALSE(census_plus_sample(10, 7, 5, none));         // 5 decisions no sample stands for
  const auto census = census_plus_sample(10, 7, 0, none);  // every outcome known: no interval width
  REQUIRE(census);
  CHECK(census->value == Approx(0.7));
  CHECK(census->interval.low == Approx(0.7));
  CHECK(census->interval.high == Approx(0.7));
  // Equal weights are the plain Wilson interval: 9 of 10 right stand for 90 decisions.
  const auto sample = proportion(equal_weights(10, 9));
  CHECK(sample.effective_rows == Approx(10));
  const auto both = census_plus_sample(10, 7, 90, sample);
  REQUIRE(both);
  CHECK(both->value == Approx((7 + 90 * 0.9) / 100));
  CHECK(both->interval.low == Approx((7 + 90 * wilson(9, 10).low) / 100));
}
