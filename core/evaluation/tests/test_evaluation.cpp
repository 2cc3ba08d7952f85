// Evaluation metrics on small hand-computed cases.
#include "evaluation/evaluation.hpp"
#include "evaluation/promotion_rule.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using hitl::evaluation::evaluate;
using nlohmann::json;

namespace {

hitl::sdk::Prediction pred(const std::string& label, double p_bad) {
  hitl::sdk::Prediction p;
  p.label = label;
  p.confidence = label == "bad" ? p_bad : 1 - p_bad;
  p.scores = {{"good", 1 - p_bad}, {"bad", p_bad}};
  return p;
}

const std::vector<std::string> kLabels{"good", "bad"};

}  // namespace

TEST_CASE("evaluation: accuracy, AUC, log loss and calibration of four hand-scored rows", "[evaluation]") {
  std::vector<hitl::sdk::Prediction> p{pred("bad", 0.9), pred("good", 0.2), pred("good", 0.4), pred("bad", 0.6)};
  std::vector<std::string> truth{"bad", "good", "bad", "good"};
  auto e = evaluate(p, truth, kLabels, "bad");
  CHECK(e.overall.rows == 4);
  CHECK(e.overall.accuracy == Approx(0.5));
  REQUIRE(e.overall.auc);
  CHECK(*e.overall.auc == Approx(0.75));  // 3 of the 4 positive/negative pairs ranked right
  CHECK(e.overall.log_loss == Approx((-std::log(0.9) - std::log(0.8) - 2 * std::log(0.4)) / 4));
  // Bins: 0.9 right (0.1), 0.8 right (0.2), two 0.6 wrong (1.2): (0.1 + 0.2 + 1.2) / 4.
  CHECK(e.overall.calibration_error == Approx(0.375));
  CHECK(e.group_field.empty());

  // A perfect ranking, and one where every score ties.
  CHECK(*evaluate({pred("bad", 0.9), pred("good", 0.1)}, {"bad", "good"}, kLabels, "bad").overall.auc == Approx(1.0));
  CHECK(*evaluate({pred("bad", 0.5), pred("bad", 0.5)}, {"bad", "good"}, kLabels, "bad").overall.auc == Approx(0.5));
  CHECK_FALSE(evaluate({pred("bad", 0.9)}, {"bad"}, kLabels, "bad").overall.auc);  // one class only
  CHECK_THROWS(evaluate({}, {}, kLabels, "bad"));
  CHECK_THROWS(evaluate({pred("bad", 0.9)}, {"bad", "good"}, kLabels, "bad"));
  CHECK_THROWS_WITH(evaluate({pred("bad", 0.9)}, {"bad"}, kLabels, "ugly"), Catch::Contains("\"ugly\" is not one of"));
}

TEST_CASE("evaluation: per-group metrics use the report's grouping and bands", "[evaluation]") {
  std::vector<hitl::sdk::Prediction> p{pred("bad", 0.9), pred("good", 0.2), pred("good", 0.4), pred("bad", 0.6)};
  std::vector<std::string> truth{"bad", "good", "bad", "good"};
  std::vector<json> inputs{{{"Age", 25}}, {{"Age", 50}}, {{"Age", 35}}, {{"Home", "rent"}}};
  hitl::report::GroupSpec spec{"Age", {30, 45}};
  auto e = evaluate(p, truth, kLabels, "bad", inputs, spec);
  CHECK(e.group_field == "Age");
  REQUIRE(e.groups.size() == 4);
  CHECK(e.groups[0].group == "<30");  // band order, missing last
  CHECK(e.groups[1].group == "30-45");
  CHECK(e.groups[2].group == ">=45");
  CHECK(e.groups[3].group == "(missing)");
  json j = hitl::evaluation::to_json(e);
  CHECK(j["groups"]["by_group"]["<30"]["accuracy"] == 1.0);
  CHECK(j["groups"]["by_group"]["30-45"]["accuracy"] == 0.0);
  CHECK(j["groups"]["by_group"][">=45"]["rows"] == 1);
  CHECK(j["groups"]["by_group"]["(missing)"]["rows"] == 1);
  CHECK(j["groups"]["by_group"]["<30"]["auc"].is_null());
  CHECK(j["auc"] == Approx(0.75));
}

TEST_CASE("evaluation: predictions without scores share the rest of their confidence", "[evaluation]") {
  hitl::sdk::Prediction p;
  p.label = "good";
  p.confidence = 0.7;
  CHECK(hitl::evaluation::probability(p, "good", 2) == Approx(0.7));
  CHECK(hitl::evaluation::probability(p, "bad", 2) == Approx(0.3));
  CHECK(hitl::evaluation::probability(p, "bad", 3) == Approx(0.15));
}

namespace {

// The comparison JSON the rule reads: `b` rows only the candidate got right, `c` only the live
// model, `same` both right, over an unbiased set; golden-set and calibration figures as given.
json rule_eval(std::size_t b, std::size_t c, std::size_t same, double live_gold, double cand_gold,
               double live_ece = 0.05, double cand_ece = 0.05) {
  std::vector<bool> live, cand;
  for (std::size_t i = 0; i < b; ++i) { live.push_back(false); cand.push_back(true); }
  for (std::size_t i = 0; i < c; ++i) { live.push_back(true); cand.push_back(false); }
  for (std::size_t i = 0; i < same; ++i) { live.push_back(true); cand.push_back(true); }
  const hitl::evaluation::RuleOptions o;
  const double n = static_cast<double>(live.size());
  json m = {{"unbiased",
             {{"rows", live.size()},
              {"paired", hitl::evaluation::to_json(hitl::evaluation::paired_test(live, cand), o)},
              {"live", {{"accuracy", double(c + same) / n}, {"calibration_error", live_ece}}},
              {"candidate", {{"accuracy", double(b + same) / n}, {"calibration_error", cand_ece}}}}},
            {"sets", {{"golden", {{"live", {{"accuracy", live_gold}}}, {"candidate", {{"accuracy", cand_gold}}}}}}}};
  return m;
}

}  // namespace

TEST_CASE("evaluation: the default rule promotes only a candidate shown better by McNemar on the unbiased rows",
          "[evaluation]") {
  const hitl::evaluation::RuleOptions o;  // 0.95 confidence, 0.01 tolerance
  // 20 against 5 discordant pairs: mid-p far below 0.05.
  auto v = hitl::evaluation::default_promotion(rule_eval(20, 5, 175, 0.9, 0.9), o);
  CHECK(v.promote);
  CHECK(v.reason.find("better on 200 unbiased rows: candidate alone right on 20, live alone on 5 (McNemar mid-p 0.00") == 0);
  // 8 against 2: one-sided mid-p 33.5/1024 = 0.0327 passes at 0.95 ...
  CHECK(hitl::evaluation::default_promotion(rule_eval(8, 2, 90, 0.9, 0.9), o).promote);
  // ... but not at 0.99.
  hitl::evaluation::RuleOptions strict;
  strict.confidence = 0.99;
  v = hitl::evaluation::default_promotion(rule_eval(8, 2, 90, 0.9, 0.9), strict);
  CHECK_FALSE(v.promote);
  CHECK(v.reason == "not shown better on 100 unbiased rows: candidate alone right on 8, live alone on 2 (McNemar mid-p "
                    "0.0327, needs below 0.0100); accuracy 0.9800 against 0.9200");
  // A tie is not a promotion.
  CHECK_FALSE(hitl::evaluation::default_promotion(rule_eval(5, 5, 90, 0.9, 0.9), o).promote);
}

TEST_CASE("evaluation: the default rule's guards: golden set and calibration within the tolerance", "[evaluation]") {
  const hitl::evaluation::RuleOptions o;
  auto v = hitl::evaluation::default_promotion(rule_eval(20, 5, 175, 0.90, 0.85), o);
  CHECK_FALSE(v.promote);
  CHECK(v.reason == "better on the unbiased rows, but golden-set accuracy 0.8500 is below the live model's 0.9000 by "
                    "more than 0.0100");
  CHECK(hitl::evaluation::default_promotion(rule_eval(20, 5, 175, 0.90, 0.895), o).promote);  // within 0.01
  v = hitl::evaluation::default_promotion(rule_eval(20, 5, 175, 0.9, 0.9, 0.02, 0.08), o);
  CHECK_FALSE(v.promote);
  CHECK(v.reason.find("calibration error 0.0800 is above the live model's 0.0200") != std::string::npos);
}

TEST_CASE("evaluation: the default rule refuses without unbiased rows", "[evaluation]") {
  json eval = {{"sets", json::object()}};
  const auto v = hitl::evaluation::default_promotion(eval, {});
  CHECK_FALSE(v.promote);
  CHECK(v.reason.find("no unbiased rows to judge on") == 0);
}

TEST_CASE("evaluation: weighted rows: accuracy by weight with the interval at the effective size", "[evaluation]") {
  // Three right at weight 2, one wrong at weight 4 (drawn at p = 1/2 and 1/4).
  std::vector<hitl::sdk::Prediction> preds = {pred("good", 0.1), pred("good", 0.1), pred("good", 0.1), pred("good", 0.1)};
  std::vector<std::string> truth = {"good", "good", "good", "bad"};
  auto e = evaluate(preds, truth, {"good", "bad"}, "bad", {}, {}, {2, 2, 2, 4});
  CHECK(e.overall.accuracy == Approx(0.6));
  CHECK(e.overall.effective_rows == Approx(100.0 / 28));
  CHECK(e.overall.accuracy_low == Approx(0.191724).epsilon(1e-4));
  CHECK(hitl::evaluation::to_json(e.overall)["effective_rows"] == Approx(100.0 / 28));
  CHECK_THROWS_AS(evaluate(preds, truth, {"good", "bad"}, "bad", {}, {}, {1, 1, 0, 1}), std::invalid_argument);
  // Unweighted: the plain Wilson interval, and no effective_rows in the JSON.
  auto plain = evaluate(preds, truth, {"good", "bad"}, "bad");
  CHECK(plain.overall.accuracy == Approx(0.75));
  CHECK_FALSE(hitl::evaluation::to_json(plain.overall).contains("effective_rows"));
  CHECK(hitl::evaluation::to_json(plain.overall)["accuracy_ci95"].size() == 2);
}

TEST_CASE("evaluation: AUC with DeLong's 95% interval, checked by hand", "[evaluation]") {
  // Positives (bad) at 0.9, 0.8, 0.4; negatives at 0.7, 0.3, 0.2, 0.5, 0.8 (a tie with a positive).
  // Each positive's share of negatives below it: 1, 0.9, 0.4 (AUC 0.7667); each negative's share of
  // positives above it: 2/3, 1, 1, 2/3, 1/2. Var = s10^2/3 + s01^2/5 = 0.1033/3 + 0.05/5 = 0.04444.
  std::vector<hitl::sdk::Prediction> preds;
  std::vector<std::string> truth;
  for (double p : {0.9, 0.8, 0.4}) {
    preds.push_back(pred("bad", p));
    truth.push_back("bad");
  }
  for (double p : {0.7, 0.3, 0.2, 0.5, 0.8}) {
    preds.push_back(pred("good", p));
    truth.push_back("good");
  }
  const auto m = evaluate(preds, truth, {"good", "bad"}, "bad").overall;
  REQUIRE(m.auc);
  CHECK(*m.auc == Approx(0.766667).epsilon(1e-5));
  CHECK(m.auc_low == Approx(0.766667 - 1.96 * 0.210819).epsilon(1e-4));
  CHECK(m.auc_high == 1.0);  // clipped
  const auto j = hitl::evaluation::to_json(m);
  CHECK(j["auc_ci95"][0] == Approx(m.auc_low));
  // One class only: no AUC, no interval.
  const auto one = evaluate({pred("bad", 0.9)}, {"bad"}, {"good", "bad"}, "bad").overall;
  CHECK_FALSE(one.auc);
  CHECK(hitl::evaluation::to_json(one)["auc_ci95"].is_null());
}
