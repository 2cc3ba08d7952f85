// Training feature statistics: what compute_feature_stats counts, the sidecar file (round trip,
// atomic write, missing and malformed files), and the out-of-distribution score.
#include "common/hash.hpp"
#include "support/temp_dir.hpp"
#include "data/feature_stats.hpp"
#include "data/records.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace fs = std::filesystem;
using namespace hitl::data;
using hitl::sdk::Record;
using hitl::sdk::Value;

namespace {

std::vector<Record> sample_rows() {
  // amount 10, 20, 30, 40 (mean 25, sample std 12.91); home rent x3, own x1; flag bool; one
  // missing amount in a fifth row; "mixed" holds a number and a word.
  std::vector<Record> rows;
  const double amounts[] = {10, 20, 30, 40};
  const char* homes[] = {"rent", "rent", "own", "rent"};
  for (int i = 0; i < 4; ++i)
    rows.push_back({{"amount", Value(amounts[i])}, {"home", Value(std::string(homes[i]))}, {"flag", Value(i % 2 == 0)},
                    {"mixed", i == 0 ? Value(7.0) : Value(std::string("x"))}});
  rows.push_back({{"amount", Value()}, {"home", Value(std::string("rent"))}, {"flag", Value(true)}, {"mixed", Value()}});
  return rows;
}
}  // namespace

TEST_CASE("compute_feature_stats counts numeric and categorical columns") {
  const auto st = compute_feature_stats(sample_rows());
  CHECK(st.rows == 5);
  REQUIRE(st.numeric.count("amount"));
  const auto& a = st.numeric.at("amount");
  CHECK(a.count == 4);
  CHECK(a.mean == Approx(25));
  CHECK(a.std == Approx(12.9099).epsilon(1e-4));
  CHECK(a.min == 10);
  CHECK(a.max == 40);
  REQUIRE(st.categorical.count("home"));
  CHECK(st.categorical.at("home").count == 5);
  CHECK(st.categorical.at("home").values.at("rent") == 4);
  CHECK(st.categorical.at("home").values.at("own") == 1);
  CHECK(st.categorical.at("flag").values.at("true") == 3);  // booleans are categories
  CHECK(st.categorical.at("mixed").values.at("7") == 1);    // a number among words is its text
  CHECK(st.categorical.at("mixed").values.at("x") == 3);
  CHECK(st.numeric.count("home") == 0);
}

TEST_CASE("compute_feature_stats caps an id-like column at the most frequent values") {
  std::vector<Record> rows;
  for (int i = 0; i < 1200; ++i) rows.push_back({{"id", Value("id-" + std::to_string(i))}});
  for (int i = 0; i < 5; ++i) rows.push_back({{"id", Value(std::string("common"))}});
  const auto st = compute_feature_stats(rows);
  const auto& c = st.categorical.at("id");
  CHECK(c.values.size() == FeatureStats::kMaxCategories);
  CHECK(c.values.at("common") == 5);
  CHECK(c.other == 1200 - (FeatureStats::kMaxCategories - 1));
  CHECK(c.count == 1205);
}

TEST_CASE("feature stats round-trip through the sidecar next to the artifact") {
  hitl::test::TempDir dir{"hitl-fstats-test"};
  const fs::path artifact = dir.path / "model.json";
  CHECK(feature_stats_path(artifact) == dir.path / "model.json.features.json");
  CHECK_FALSE(load_feature_stats(artifact).has_value());  // no sidecar: nullopt, not an error
  const auto st = compute_feature_stats(sample_rows());
  save_feature_stats(st, artifact);
  CHECK_FALSE(fs::exists(artifact));  // only the sidecar is written
  auto back = load_feature_stats(artifact);
  REQUIRE(back.has_value());
  CHECK(back->rows == 5);
  CHECK(back->numeric.at("amount").std == Approx(st.numeric.at("amount").std));
  CHECK(back->categorical.at("home").values == st.categorical.at("home").values);
  // No temporary left behind by the atomic write.
  std::size_t files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);
}

TEST_CASE("a malformed sidecar throws an error naming its path") {
  hitl::test::TempDir dir{"hitl-fstats-test"};
  const fs::path artifact = dir.path / "m.json";
  auto write = [&](const std::string& text) { std::ofstream(feature_stats_path(artifact)) << text; };
  auto error = [&]() -> std::string {
    try {
      load_feature_stats(artifact);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  write("{ not json");
  CHECK(error().find(feature_stats_path(artifact).string() + ": not JSON") == 0);
  write(R"({"format": "other"})");
  CHECK(error().find("format: expected \"hitl-feature-stats\"") != std::string::npos);
  write(R"({"format": "hitl-feature-stats", "version": 1, "rows": 3, "numeric": {"a": {"count": 2, "mean": 1, "std": -1, "min": 0, "max": 2}}, "categorical": {}})");
  CHECK(error().find("numeric.a.std: must not be negative") != std::string::npos);
  write(R"({"format": "hitl-feature-stats", "version": 1, "rows": 3, "numeric": {}, "categorical": {"h": {"count": 2, "values": {"x": "two"}}}})");
  CHECK(error().find("categorical.h.values.x: expected a non-negative integer") != std::string::npos);
  write(R"({"format": "hitl-feature-stats", "version": 2, "rows": 3, "numeric": {}, "categorical": {}})");
  CHECK(error().find("version: expected 1") != std::string::npos);
}

TEST_CASE("ood_score is small for a typical row and large for an extreme one") {
  const auto st = compute_feature_stats(sample_rows());
  Record typical{{"amount", Value(25.0)}, {"home", Value(std::string("rent"))}};
  auto t = ood_score(st, typical);
  CHECK(t.compared == 2);
  CHECK(t.score < 1.0);  // rent: f = 4.5 / 6, z = 0.76; amount at the mean: 0
  Record extreme{{"amount", Value(1000.0)}, {"home", Value(std::string("castle"))}, {"unknown_field", Value(1.0)},
                 {"flag", Value()}};
  auto e = ood_score(st, extreme, 2);
  CHECK(e.compared == 2);  // the unknown field and the missing flag are not compared
  REQUIRE(e.furthest.size() == 2);
  CHECK(e.furthest[0].first == "amount");
  CHECK(e.furthest[0].second == Approx((1000.0 - 25) / st.numeric.at("amount").std));
  CHECK(e.score == Approx(e.furthest[0].second));
  CHECK(e.furthest[1].first == "home");
  CHECK(e.furthest[1].second == Approx(std::sqrt(2 * std::log(6 / 0.5))));  // never seen in 5 rows
  CHECK(e.rms == Approx(std::sqrt((e.furthest[0].second * e.furthest[0].second + e.furthest[1].second * e.furthest[1].second) / 2)));
}

TEST_CASE("ood_score handles wrong types constant columns and top_n") {
  std::vector<Record> rows(3, Record{{"c", Value(5.0)}, {"n", Value(1.0)}});
  rows[1][1].second = Value(3.0);
  const auto st = compute_feature_stats(rows);
  auto same = ood_score(st, {{"c", Value(5.0)}});
  CHECK(same.score == 0);
  auto off = ood_score(st, {{"c", Value(5.5)}});
  CHECK(off.score == OodScore::kMaxZ);  // a constant column that differs
  auto word = ood_score(st, {{"n", Value(std::string("three"))}});
  CHECK(word.score == Approx(std::sqrt(2 * std::log(4 / 0.5))));
  auto none = ood_score(st, {{"c", Value(9.0)}, {"n", Value(9.0)}}, 0);
  CHECK(none.furthest.empty());
  CHECK(none.score == OodScore::kMaxZ);
  CHECK(ood_score(st, {}).compared == 0);
}

TEST_CASE("feature stats can be tied to their artifact by its hash") {
  hitl::test::TempDir dir{"hitl-fstats-test"};
  const fs::path artifact = dir.path / "m.json";
  auto st = compute_feature_stats(sample_rows());
  CHECK(feature_stats_match(st, "anything"));  // no hash recorded: nothing to contradict
  st.artifact_sha256 = hitl::sha256_hex("{\"model\": 1}");
  save_feature_stats(st, artifact);
  auto back = load_feature_stats(artifact);
  REQUIRE(back);
  CHECK(back->artifact_sha256 == st.artifact_sha256);
  CHECK(feature_stats_match(*back, "{\"model\": 1}"));
  CHECK_FALSE(feature_stats_match(*back, "{\"model\": 2}"));
  std::ofstream(feature_stats_path(artifact))
      << R"({"format": "hitl-feature-stats", "version": 1, "rows": 0, "artifact_sha256": "abc", "numeric": {}, "categorical": {}})";
  CHECK_THROWS_WITH(load_feature_stats(artifact), Catch::Contains("artifact_sha256: expected 64 hex digits"));
}
