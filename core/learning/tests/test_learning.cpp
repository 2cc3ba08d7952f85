// The learning loop's training set: the domain's base data first (weight 1), then the feedback
// samples with their policy weights; a bad base file is refused naming the file. And the training
// feature statistics, which keep no values of sensitive fields.
#include "learning/training.hpp"

#include "data/feature_stats.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using hitl::learning::training_set;

namespace {

hitl::config::DomainConfig domain_with_base(const std::filesystem::path& csv, const std::string& label) {
  hitl::config::DomainConfig d;
  d.name = "loans";
  d.labels = {"good", "bad"};
  d.model = "m";
  d.retrain_base_data = csv;
  d.retrain_base_label = label;
  d.retrain_base_holdout_fraction = 0;  // every base row trains (the holdout is test_promotion's)
  return d;
}

hitl::dataset::Sample sample(double amount, const std::string& label, double weight) {
  hitl::dataset::Sample s;
  s.input = {{"amount", amount}};
  s.label = label;
  s.weight = weight;
  return s;
}

}  // namespace

TEST_CASE("training set puts the base rows first with weight 1 and keeps the feedback weights", "[learning]") {
  hitl::test::TempDir dir("learning");
  const auto csv = dir.path / "base.csv";
  std::ofstream(csv) << "amount,Status\n100,good\n900,bad\n,good\n50,\n";
  auto set = training_set(domain_with_base(csv, "Status"), {sample(5000, "bad", 2.5)});
  REQUIRE(set.base_rows == 3);  // the row without a label is skipped
  REQUIRE(set.feedback_rows == 1);
  REQUIRE(set.data.rows.size() == 4);
  REQUIRE(set.data.labels == std::vector<std::string>{"good", "bad", "good", "bad"});
  REQUIRE(set.data.weights == std::vector<double>{1, 1, 1, 2.5});
  REQUIRE(std::get<double>(set.data.rows[3][0].second) == 5000);
}

TEST_CASE("training set without base data is the feedback alone", "[learning]") {
  hitl::config::DomainConfig d;
  d.labels = {"good", "bad"};
  auto set = training_set(d, {sample(1, "good", 1.2), sample(2, "bad", 0.4)});
  REQUIRE(set.base_rows == 0);
  REQUIRE(set.data.weights == std::vector<double>{1.2, 0.4});
}

TEST_CASE("training set refuses a base file without the label column or with a foreign label", "[learning]") {
  hitl::test::TempDir dir("learning");
  const auto csv = dir.path / "base.csv";
  std::ofstream(csv) << "amount,Status\n100,good\n900,maybe\n";
  REQUIRE_THROWS_WITH(training_set(domain_with_base(csv, "label"), {}),
                      Catch::Contains("base.csv") && Catch::Contains("no label column \"label\""));
  REQUIRE_THROWS_WITH(training_set(domain_with_base(csv, "Status"), {}),
                      Catch::Contains("label \"maybe\" is not a label of the domain"));
}

TEST_CASE("training feature statistics keep no values of the domain's sensitive fields", "[learning]") {
  hitl::config::DomainConfig d;
  d.labels = {"good", "bad"};
  d.sensitive = {"name", "Income", "meta.email"};
  std::vector<hitl::sdk::Record> rows;
  for (int i = 0; i < 4; ++i)
    rows.push_back({{"name", std::string(i % 2 ? "Ada Lovelace" : "Alan Turing")},
                    {"Home", std::string(i % 2 ? "rent" : "own")},
                    {"Income", double(100 * (i + 1))}});
  const auto stats = hitl::learning::training_feature_stats(d, rows);
  CHECK(stats.categorical.count("name") == 0);  // the names never reach the sidecar
  CHECK(stats.categorical.count("Home") == 1);
  CHECK(stats.numeric.count("Income") == 1);    // an aggregate, no single value
  CHECK(stats.rows == 4);
}
