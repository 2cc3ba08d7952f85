// The JSON body and the table rendered from the fixture's report: the documented shape (every
// key, nulls where undefined) and the figures test_report.cpp works out by hand.
#include "report/report.hpp"

#include "fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

using namespace hitl::report;
using namespace hitl::report::test;
using nlohmann::json;

namespace {

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

Report fixture_report() {
  static const auto base = baseline();
  return compute("credit_risk", current(), &base, settings(), W, BW, NOW);
}

// The first line of `text` that contains `needle`, or "" when none does.
std::string line_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) return line;
  return "";
}

// The first line that starts with `prefix` once its indentation is skipped.
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.compare(line.find_first_not_of(' ') == std::string::npos ? line.size() : line.find_first_not_of(' '),
                     prefix.size(), prefix) == 0)
      return line;
  return "";
}

}  // namespace

TEST_CASE("JSON: the documented keys at every level") {
  const auto j = to_json(fixture_report());
  CHECK(keys(j) == std::set<std::string>{"domain", "from_ms", "to_ms", "generated_ms", "predictions", "auto_approved",
                                         "flagged", "rejected", "flag_rate", "flag_reasons", "turnaround", "accuracy",
                                         "audit", "estimated_accuracy", "bias", "cost", "by_policy", "by_model"});
  CHECK(keys(j["estimated_accuracy"]) == std::set<std::string>{"model", "system", "reviewed", "automatic", "samples",
                                                               "effective_samples", "not_covered", "capture"});
  CHECK(keys(j["estimated_accuracy"]["system"]) == std::set<std::string>{"accuracy", "ci95"});
  CHECK(keys(j["audit"]) == std::set<std::string>{"samples", "model_right", "model_accuracy", "ci95"});
  CHECK(keys(j["turnaround"]) == std::set<std::string>{"completed", "mean_s", "p50_s", "p95_s", "max_s", "sla"});
  CHECK(keys(j["turnaround"]["sla"]) ==
        std::set<std::string>{"with_deadline", "met", "breached", "compliance", "open_breached"});
  const std::set<std::string> acc{"cases", "reviewed_cases", "reported_truths", "final_accuracy", "model_accuracy", "gain"};
  CHECK(keys(j["accuracy"]) == acc);
  CHECK(keys(j["bias"]) == std::set<std::string>{"attribute", "bands", "groups", "flag_rate_disparity",
                                                 "error_rate_disparity", "baseline", "drift"});
  CHECK(keys(j["bias"]["groups"]["<25"]) ==
        std::set<std::string>{"predictions", "flagged", "flag_rate", "cases", "model_errors", "error_rate"});
  CHECK(keys(j["bias"]["baseline"]) ==
        std::set<std::string>{"from_ms", "to_ms", "groups", "flag_rate_disparity", "error_rate_disparity"});
  CHECK(keys(j["bias"]["drift"]) == std::set<std::string>{"flag_rate_disparity", "error_rate_disparity"});
  CHECK(keys(j["cost"]) == std::set<std::string>{"reviews", "reviewer_seconds", "reviewer_cost", "system_cost",
                                                 "corrections", "cost_per_correction", "reviews_without_start"});
  REQUIRE(j["by_policy"].size() == 2);
  CHECK(keys(j["by_policy"][0]) == std::set<std::string>{"policy_hash", "first_ms", "last_ms", "predictions", "flagged",
                                                         "flag_rate", "accuracy"});
  CHECK(keys(j["by_policy"][0]["accuracy"]) == acc);
  REQUIRE(j["by_model"].size() == 1);
  CHECK(keys(j["by_model"][0]) == std::set<std::string>{"model_version", "first_ms", "last_ms", "predictions", "flagged",
                                                        "flag_rate", "accuracy"});
  CHECK(j["by_model"][0]["model_version"] == "logreg-5c1e0a");
  CHECK(j["by_model"][0]["predictions"] == j["predictions"]);  // one model over the whole window
  CHECK(j["by_model"][0]["flagged"] == j["flagged"]);
}

TEST_CASE("JSON: the fixture's figures, and null where a figure is undefined") {
  const auto j = to_json(fixture_report());
  CHECK(j["domain"] == "credit_risk");
  CHECK(j["from_ms"] == T);
  CHECK(j["to_ms"] == T + DAY);
  CHECK(j["generated_ms"] == NOW);
  CHECK(j["predictions"] == 15);
  CHECK(j["flagged"] == 9);
  CHECK(j["flag_rate"].get<double>() == exact(0.6));
  CHECK(j["flag_reasons"]["low_confidence"]["count"] == 6);
  CHECK(j["flag_reasons"]["large_amount"]["rate"].get<double>() == exact(0.2));
  CHECK(j["turnaround"]["p50_s"].get<double>() == exact(90));
  CHECK(j["turnaround"]["sla"]["open_breached"] == 1);
  CHECK(j["accuracy"]["gain"].get<double>() == exact(3.0 / 7));
  CHECK(j["bias"]["attribute"] == "Age");
  CHECK(j["bias"]["bands"] == json::array({25.0, 40.0, 60.0}));
  CHECK(j["bias"]["groups"]["(missing)"]["predictions"] == 2);
  CHECK(j["bias"]["groups"][">=60"]["error_rate"].is_null());
  CHECK(j["bias"]["baseline"]["from_ms"] == T - DAY);
  CHECK(j["bias"]["drift"]["error_rate_disparity"].get<double>() == exact(-0.5));
  CHECK(j["cost"]["cost_per_correction"].get<double>() == exact(1.2));
  CHECK(j["by_policy"][0]["policy_hash"] == P1);
  CHECK(j["by_policy"][1]["accuracy"]["model_accuracy"].get<double>() == exact(0.5));

  // Unbounded window sides, no baseline, no bias attribute.
  Settings none = settings();
  none.group.field.clear();
  const auto open = to_json(compute("credit_risk", current(), nullptr, none, {}, {}, NOW));
  CHECK(open["from_ms"].is_null());
  CHECK(open["to_ms"].is_null());
  CHECK(open["bias"].is_null());
  CHECK(open["predictions"] == 17);  // x-before and x-after are in an unbounded window
  const auto no_base = to_json(compute("credit_risk", current(), nullptr, settings(), W, BW, NOW));
  CHECK(no_base["bias"]["baseline"].is_null());
  CHECK(no_base["bias"]["drift"]["flag_rate_disparity"].is_null());
}

TEST_CASE("table: sections, aligned columns and the key figures") {
  const auto t = to_table(fixture_report());
  INFO(t);
  CHECK(t.find("Report for domain credit_risk: decisions created from 2023-11-14T22:13:20Z to 2023-11-15T22:13:20Z") !=
        std::string::npos);
  for (const char* section : {"Flag rate", "Review turnaround", "Agreement on reviewed cases", "Estimated accuracy over all traffic", "Bias score drift by Age",
                              "Cost per corrected prediction", "By policy version"})
    CHECK(t.find(section) != std::string::npos);

  const auto flagged = line_with(t, "flagged for review");
  CHECK(flagged.find(" 9 ") != std::string::npos);
  CHECK(flagged.find("60.0%") != std::string::npos);
  CHECK(line_with(t, "reason low_confidence").find("40.0%") != std::string::npos);
  // Counts right-aligned in one column: the two lines end at the same place.
  CHECK(line_starting(t, "predictions").size() == line_starting(t, "auto approved").size());

  const auto turn = line_with(t, "200.0s");
  CHECK(turn.find("90.0s") != std::string::npos);
  CHECK(turn.find("600.0s") != std::string::npos);
  CHECK(line_starting(t, "compliance").find("66.7%") != std::string::npos);

  const auto acc = line_with(t, "+42.9 pp");
  CHECK(acc.find("71.4%") != std::string::npos);  // 5/7
  CHECK(acc.find("28.6%") != std::string::npos);  // 2/7

  const auto band = line_with(t, "40-60");
  CHECK(band.find("100.0%") != std::string::npos);
  const auto flag_disp = line_starting(t, "flag rate");  // the disparity row
  CHECK(flag_disp.find("+66.7 pp") != std::string::npos);
  CHECK(flag_disp.find("+50.0 pp") != std::string::npos);
  CHECK(flag_disp.find("+16.7 pp") != std::string::npos);
  CHECK(line_starting(t, "model error rate").find("-50.0 pp") != std::string::npos);
  CHECK(line_with(t, ">=60").find(" - ") == std::string::npos);  // "-" ends the line: a null error rate
  CHECK(line_with(t, ">=60").back() == '-');

  CHECK(line_with(t, "cost per correction").find("1.20") != std::string::npos);
  CHECK(line_with(t, "reviewer cost").find("4.50") != std::string::npos);
  CHECK(line_with(t, "reviewer time").find("450.0s") != std::string::npos);
  CHECK(line_with(t, "system cost").find("0.30") != std::string::npos);
  CHECK(line_with(t, "f00dcafe1111").find("50.0%") != std::string::npos);
  CHECK(line_with(t, "0badc0de2222").find("+50.0 pp") != std::string::npos);
}

TEST_CASE("table: an empty report shows dashes") {
  const Facts empty;
  const auto t = to_table(compute("credit_risk", empty, nullptr, {}, W, BW, NOW));
  INFO(t);
  CHECK(line_with(t, "flagged for review").back() == '-');
  CHECK(line_starting(t, "compliance").back() == '-');
  CHECK(line_with(t, "cost per correction").back() == '-');
  CHECK(t.find("no group attribute configured") != std::string::npos);
}
