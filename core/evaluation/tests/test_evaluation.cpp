// Evaluation metrics on small hand-computed cases.
#include "evaluation/evaluation.hpp"

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

TEST_CASE("evaluation: the default promotion rule wants a better ranking and no golden-set loss", "[evaluation]") {
  auto eval = [](double live_auc, double cand_auc, double live_gold, double cand_gold) {
    json m = {{"live", {{"metrics", {{"auc", live_auc}, {"accuracy", 0.7}}}, {"golden", {{"accuracy", live_gold}}}}},
              {"candidate", {{"metrics", {{"auc", cand_auc}, {"accuracy", 0.6}}}, {"golden", {{"accuracy", cand_gold}}}}}};
    return m;
  };
  std::string why;
  CHECK(hitl::evaluation::default_promotion(eval(0.70, 0.75, 0.5, 0.5), why));
  CHECK(why == "candidate auc 0.7500 above the live model's 0.7000");
  CHECK_FALSE(hitl::evaluation::default_promotion(eval(0.70, 0.70, 0.5, 0.5), why));
  CHECK(why == "candidate auc 0.7000 is not above the live model's 0.7000");
  CHECK_FALSE(hitl::evaluation::default_promotion(eval(0.70, 0.80, 0.75, 0.5), why));
  CHECK(why == "candidate golden-set accuracy 0.5000 is below the live model's 0.7500");
  json no_auc = eval(0.7, 0.8, 0.5, 0.5);
  no_auc["live"]["metrics"]["auc"] = nullptr;  // multi-class: accuracy decides (0.6 < 0.7)
  CHECK_FALSE(hitl::evaluation::default_promotion(no_auc, why));
  CHECK(why.find("candidate accuracy 0.6000") == 0);
}
