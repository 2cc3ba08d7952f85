// model-xgboost, tested through the built .so loaded with Boost.DLL, as the host loads it.
#include <hitl/plugin_api.hpp>

#include "data/records.hpp"

#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include "support/model_datasets.hpp"
#include "support/plugin_testing.hpp"
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <thread>

using nlohmann::json;
namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

namespace {

const sdk::PluginDescriptor& plugin() { return hitl::test::plugin_descriptor("model-xgboost.so"); }

std::unique_ptr<sdk::Model> make_model(const json& config = json::object()) {
  return hitl::test::make_model(plugin(), config);
}

std::string create_error(const std::string& config_text) {
  return hitl::test::model_create_error(plugin(), config_text);
}

using hitl::test::predict_ok;
using hitl::test::score;
using hitl::test::train_ok;

std::string train_error(sdk::Model& m, const sdk::Dataset& ds) {
  sdk::TrainResult r;
  auto st = m.train(ds, r);
  CHECK(st.code == sdk::Code::invalid_argument);
  return st.message;
}


double contribution(const sdk::Prediction& p, const std::string& feature) {
  for (const auto& [f, c] : p.contributions)
    if (f == feature) return c;
  return 0.0;
}

double sum_contributions(const sdk::Prediction& p) {
  double s = 0;
  for (const auto& c : p.contributions) s += c.second;
  return s;
}

fs::path scratch(const std::string& name) { return hitl::test::scratch("test-model-xgboost-files", name); }

fs::path write_file(const std::string& name, const std::string& text) {
  return hitl::test::write_scratch("test-model-xgboost-files", name, text);
}

using hitl::test::auc;

using hitl::test::credit_data;
using hitl::test::separable_numeric;

// hpc_data rows are ordered by class: a seeded Fisher-Yates shuffle (mt19937's output is fixed
// by the standard, unlike std::shuffle's use of it) makes the split fair and reproducible.
sdk::Dataset hpc_data() {
  auto table = hitl::data::read_csv(fs::path(HITL_SOURCE_DIR) / "plugins/model-xgboost/tests/data/hpc_data.csv");
  auto ds = hitl::data::to_dataset(table, "class");
  std::mt19937 rng(42);
  for (std::size_t i = ds.rows.size(); i > 1; --i) {
    const std::size_t j = rng() % i;
    std::swap(ds.rows[i - 1], ds.rows[j]);
    std::swap(ds.labels[i - 1], ds.labels[j]);
  }
  return ds;
}

struct Split {
  sdk::Dataset train;
  std::vector<sdk::Record> test_rows;
  std::vector<std::string> test_labels;
};

Split split_80_20(const sdk::Dataset& ds) {
  const std::size_t cut = ds.rows.size() * 8 / 10;
  return {{{ds.rows.begin(), ds.rows.begin() + cut}, {ds.labels.begin(), ds.labels.begin() + cut}, {}},
          {ds.rows.begin() + cut, ds.rows.end()},
          {ds.labels.begin() + cut, ds.labels.end()}};
}

double logit(double p) { return std::log(p / (1.0 - p)); }

}  // namespace

TEST_CASE("the .so exports a model descriptor named xgboost with documented options") {
  auto names = hitl::test::check_model_descriptor(plugin(), "xgboost");
  CHECK(names == std::vector<std::string>{"artifact", "num_round", "max_depth", "eta", "nthread", "seed", "contributions"});
}

TEST_CASE("an untrained model refuses to predict but can train, and unusable training data is refused") {
  auto m = make_model();
  std::vector<sdk::Prediction> out;
  auto st = m->predict({{{"x", 1.0}}}, out);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(st.message == "model-xgboost: no artifact loaded (train one with hitl train)");
  CHECK(m->can_train());
  CHECK(m->version() == "xgboost-untrained");

  CHECK(train_error(*m, sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "a"}, {}}) ==
        "model-xgboost: train: the training data has only one class (\"a\"); need at least two");
  CHECK(train_error(*m, sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "b"}, {1.0}}) ==
        "model-xgboost: train: the training data has 2 rows but 1 weights");
  CHECK(train_error(*m, sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a"}, {}}) ==
        "model-xgboost: train: the training data has 2 rows but 1 labels");
  CHECK(train_error(*m, sdk::Dataset{}) == "model-xgboost: train: the training data has no rows");
  CHECK(train_error(*m, sdk::Dataset{{{{"x", sdk::Value{}}}, {}}, {"a", "b"}, {}}) ==
        "model-xgboost: train: the training data has no column with a value");
  CHECK(train_error(*m, sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "b"}, {0.0, 0.0}}) ==
        "model-xgboost: train: every training row has weight 0");
  // A failed training leaves the model untrained.
  CHECK(m->predict({{{"x", 1.0}}}, out).code == sdk::Code::unavailable);
}

TEST_CASE("separable numeric data is learned, and predictions carry scores and contributions") {
  sdk::Dataset ds = separable_numeric();
  // min_child_weight (1) stops splits on a few rows: 40 rows need several rounds to separate.
  auto m = make_model(json{{"num_round", 50}, {"eta", 0.3}});
  auto r = train_ok(*m, ds);
  auto metrics = json::parse(r.metrics_json);
  CHECK(metrics.at("accuracy").get<double>() == 1.0);
  CHECK(metrics.at("log_loss").get<double>() < 0.2);
  CHECK(metrics.at("rows") == 40);
  CHECK(metrics.at("classes") == 2);
  const std::string v = m->version();
  CHECK(v.rfind("xgboost-", 0) == 0);
  REQUIRE(v.size() == 8 + 12);
  CHECK(v.find_first_not_of("0123456789abcdef", 8) == std::string::npos);

  auto p = predict_ok(*m, {{{"x", -4.0}, {"noise", 0.5}}, {{"x", 4.0}, {"noise", 0.5}}});
  CHECK(p[0].label == "neg");
  CHECK(p[1].label == "pos");
  CHECK(p[0].confidence > 0.9);
  CHECK(p[1].confidence > 0.9);
  CHECK(p[1].confidence == score(p[1], "pos"));
  REQUIRE(p[1].scores.size() == 2);
  CHECK(p[1].scores[0].first == "neg");  // classes in sorted order
  CHECK(score(p[1], "pos") + score(p[1], "neg") == Approx(1.0));
  // "x" decides; its contribution pushes towards the predicted class for either class.
  for (const auto& one : p) {
    REQUIRE(!one.contributions.empty());
    CHECK(one.contributions[0].first == "x");
    CHECK(one.contributions[0].second > 0.0);
  }
  CHECK(predict_ok(*m, {}).empty());
}

TEST_CASE("contributions plus the bias sum to the margin, exact and approximate") {
  // Five columns (under the top-10 cut), numeric and one-hot, with missing values.
  sdk::Dataset ds;
  const char* kinds[] = {"a", "b", "c"};
  for (int i = 0; i < 400; ++i) {
    const double x = (i * 37 % 101) / 10.0, z = (i * 53 % 89) / 8.9;
    const std::string k = kinds[i % 3];
    sdk::Value maybe = i % 7 == 0 ? sdk::Value{} : sdk::Value{double(i % 11)};
    ds.rows.push_back({{"x", x}, {"z", z}, {"kind", k}, {"maybe", maybe}, {"flag", i % 4 == 0}});
    const double s = x - 5 + (k == "a" ? 2 : 0) - z * 0.3 + (i % 13 == 0 ? 4 : 0);
    ds.labels.push_back(s > 0 ? "yes" : "no");
  }
  for (const char* mode : {"exact", "approx"}) {
    INFO("contributions " << mode);
    auto m = make_model(json{{"contributions", mode}});
    auto art = json::parse(train_ok(*m, ds).artifact_json);
    REQUIRE(art.at("contribution_bias").size() == 1);  // binary: one margin
    const double bias = art["contribution_bias"][0];
    auto p = predict_ok(*m, ds.rows);
    for (std::size_t i = 0; i < p.size(); i += 7) {
      INFO("row " << i);
      CHECK(p[i].contributions.size() == 5);
      // The margin is log(p_yes / p_no); contributions are oriented towards the predicted label.
      const double towards_yes = p[i].label == "yes" ? sum_contributions(p[i]) : -sum_contributions(p[i]);
      CHECK(towards_yes + bias == Approx(logit(score(p[i], "yes"))).margin(2e-3));
      for (std::size_t k = 1; k < p[i].contributions.size(); ++k)
        CHECK(std::fabs(p[i].contributions[k - 1].second) >= std::fabs(p[i].contributions[k].second));
    }
  }
  auto plain = make_model(json{{"contributions", "none"}});
  train_ok(*plain, ds);
  auto p = predict_ok(*plain, {ds.rows[0]});
  CHECK(p[0].contributions.empty());
  CHECK(p[0].scores.size() == 2);
}

TEST_CASE("string and boolean columns are one-hot encoded, and missing numbers follow the learned default") {
  sdk::Dataset ds;
  const char* colours[] = {"red", "green", "blue"};
  for (int i = 0; i < 240; ++i) {
    const std::string colour = colours[i % 3];
    const bool vip = i % 4 == 0;
    const bool income_missing = i % 5 == 1;  // missing income means "yes" here
    sdk::Value income = income_missing ? sdk::Value{} : sdk::Value{100.0 + i % 17};
    ds.rows.push_back({{"colour", colour}, {"vip", vip}, {"income", income}});
    ds.labels.push_back(colour == "red" || vip || income_missing ? "yes" : "no");
  }
  auto m = make_model();
  auto r = train_ok(*m, ds);
  CHECK(json::parse(r.metrics_json).at("accuracy").get<double>() == 1.0);
  auto art = json::parse(r.artifact_json);
  REQUIRE(art.at("features").size() == 3);
  CHECK(art["features"][0] == json{{"name", "colour"}, {"kind", "categorical"}, {"categories", {"blue", "green", "red"}}});
  CHECK(art["features"][1]["categories"] == json::array({"false", "true"}));
  CHECK(art["features"][2] == json{{"name", "income"}, {"kind", "numeric"}});
  CHECK(art["slots"] == json::array({"colour=blue", "colour=green", "colour=red", "vip=false", "vip=true", "income"}));

  auto p = predict_ok(*m, {{{"colour", "red"}, {"vip", false}, {"income", 105.0}},
                        {{"colour", "blue"}, {"vip", true}, {"income", 105.0}},
                        {{"colour", "blue"}, {"vip", false}, {"income", 105.0}},
                        {{"colour", "blue"}, {"vip", false}, {"income", sdk::Value{}}},   // missing income
                        {{"colour", "blue"}, {"vip", false}},                             // absent = missing
                        {{"colour", "purple"}, {"vip", false}, {"income", 105.0}},        // unseen category
                        {{"colour", "blue"}, {"vip", false}, {"income", std::string("105")}, {"extra", 1.0}}});
  CHECK(p[0].label == "yes");
  CHECK(p[0].contributions[0].first == "colour");
  CHECK(p[1].label == "yes");
  CHECK(p[1].contributions[0].first == "vip");
  CHECK(p[2].label == "no");
  CHECK(p[3].label == "yes");
  CHECK(p[3].contributions[0].first == "income");
  CHECK(p[4].scores == p[3].scores);
  // An unseen colour sets every colour slot to 0, i.e. "not red": "no". (Encoded as missing
  // instead, it would take the splits' default direction, which here leads to "yes".)
  CHECK(p[5].label == "no");
  CHECK(p[6].scores == p[2].scores);  // a quoted number; unknown fields are ignored

  std::vector<sdk::Prediction> out;
  auto st = m->predict({{{"income", 1.0}}, {{"income", std::string("lots")}}}, out);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK(st.message == "model-xgboost: row 2: feature \"income\": expected a number, got the string \"lots\"");
  st = m->predict({{{"income", true}}}, out);
  CHECK(st.message == "model-xgboost: row 1: feature \"income\": expected a number, got a boolean");
}

TEST_CASE("sample weights change the fit") {
  // The same inputs with conflicting labels: the heavier side wins, at about its weight share.
  sdk::Dataset ds{{{{"x", 1.0}}, {{"x", 1.0}}, {{"x", 2.0}}, {{"x", 2.0}}}, {"a", "b", "a", "b"}, {}};
  for (std::size_t i = 0; i < 6; ++i) {  // more copies, so min_child_weight allows the leaves
    ds.rows.push_back(ds.rows[i]);
    ds.labels.push_back(ds.labels[i]);
  }
  auto m = make_model(json{{"num_round", 300}, {"eta", 0.3}});
  ds.weights.assign(10, 1.0);
  for (std::size_t i = 0; i < 10; ++i) ds.weights[i] = ds.labels[i] == "a" ? 3.0 : 1.0;
  train_ok(*m, ds);
  auto favour_a = predict_ok(*m, {{{"x", 1.5}}})[0];
  for (std::size_t i = 0; i < 10; ++i) ds.weights[i] = ds.labels[i] == "a" ? 1.0 : 3.0;
  train_ok(*m, ds);
  auto favour_b = predict_ok(*m, {{{"x", 1.5}}})[0];
  CHECK(favour_a.label == "a");
  CHECK(favour_a.confidence == Approx(0.75).margin(0.02));
  CHECK(favour_b.label == "b");
  CHECK(favour_b.confidence == Approx(0.75).margin(0.02));

  ds.weights[1] = -1;
  CHECK_THAT(train_error(*m, ds), Catch::Contains("weight of row 2 is -1"));
}

TEST_CASE("training is deterministic and the artifact round-trips to identical predictions") {
  auto ds = credit_data();
  auto m1 = make_model();
  auto m2 = make_model();
  auto r1 = train_ok(*m1, ds);
  auto r2 = train_ok(*m2, ds);
  CHECK(r1.artifact_json == r2.artifact_json);
  CHECK(r1.metrics_json == r2.metrics_json);
  CHECK(m1->version() == m2->version());
  auto other_seed = make_model(json{{"seed", 7}, {"num_round", 20}});
  CHECK(train_ok(*other_seed, ds).artifact_json != r1.artifact_json);

  auto file = write_file("credit_xgboost.json", r1.artifact_json);
  auto loaded = make_model(json{{"artifact", file.string()}});
  CHECK(loaded->version() == m1->version());
  std::vector<sdk::Record> rows(ds.rows.begin(), ds.rows.begin() + 300);
  auto a = predict_ok(*m1, rows);
  auto b = predict_ok(*loaded, rows);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(a[i].label == b[i].label);
    CHECK(a[i].scores == b[i].scores);  // bit-for-bit: the booster survives the JSON embedding
    CHECK(a[i].contributions == b[i].contributions);
    CHECK(a[i].contributions.size() == 10);  // 13 columns, top 10 by absolute value
  }
  auto art = json::parse(r1.artifact_json);
  CHECK(art.at("format") == "hitl-xgboost");
  CHECK(art.at("version") == 1);
  CHECK(art.at("classes") == json::array({"bad", "good"}));
  CHECK(art.at("objective") == "binary:logistic");
  CHECK(art.at("params") == json{{"num_round", 100}, {"max_depth", 4}, {"eta", 0.1}, {"seed", 0}, {"tree_method", "hist"}});
  CHECK(art.at("training").at("rows") == 4454);
  CHECK(art.at("booster").at("learner").at("gradient_booster").at("model").at("trees").size() == 100);

  // Retraining a loaded model replaces it, with a new version.
  auto small = sdk::Dataset{{ds.rows.begin(), ds.rows.begin() + 500}, {ds.labels.begin(), ds.labels.begin() + 500}, {}};
  train_ok(*loaded, small);
  CHECK(loaded->version() != m1->version());
}

TEST_CASE("bad config and bad artifacts are refused with the key or file and the reason") {
  CHECK(create_error(R"({"rounds": 3})") ==
        "model-xgboost: unknown config key \"rounds\" (known: artifact, num_round, max_depth, eta, nthread, seed, "
        "contributions)");
  CHECK(create_error(R"({"num_round": "many"})") ==
        "model-xgboost: config key \"num_round\": expected an integer from 1 to 100000, got \"many\"");
  CHECK(create_error(R"({"num_round": 2.5})") ==
        "model-xgboost: config key \"num_round\": expected an integer from 1 to 100000, got 2.5");
  CHECK(create_error(R"({"max_depth": 0})") == "model-xgboost: config key \"max_depth\": expected an integer from 1 to 32, got 0");
  CHECK(create_error(R"({"eta": 0})") == "model-xgboost: config key \"eta\": expected a number > 0 and <= 1, got 0");
  CHECK(create_error(R"({"eta": "fast"})") == "model-xgboost: config key \"eta\": expected a number > 0 and <= 1, got \"fast\"");
  CHECK(create_error(R"({"nthread": true})") == "model-xgboost: config key \"nthread\": expected an integer from 1 to 256, got true");
  CHECK(create_error(R"({"seed": -1})") == "model-xgboost: config key \"seed\": expected an integer from 0 to 2147483647, got -1");
  CHECK(create_error(R"({"contributions": "shap"})") ==
        "model-xgboost: config key \"contributions\": expected \"exact\", \"approx\" or \"none\", got \"shap\"");
  CHECK(create_error(R"({"artifact": 7})") ==
        "model-xgboost: config key \"artifact\": expected a non-empty string (file path), got 7");
  CHECK(create_error("[1]") == "model-xgboost: config must be a JSON object, got array");
  CHECK_THAT(create_error("{oops"), Catch::StartsWith("model-xgboost: config is not valid JSON"));
  make_model(json{{"num_round", 2.0}, {"artifact", nullptr}});  // an integral float and null are fine

  auto missing = scratch("no-such-artifact.json").string();
  CHECK(create_error(json{{"artifact", missing}}.dump()) ==
        "model-xgboost: artifact \"" + missing + "\": cannot open (No such file or directory)");
  auto garbage = write_file("garbage.json", "{\"format\": \"hitl-xgboost\", ");
  CHECK_THAT(create_error(json{{"artifact", garbage.string()}}.dump()),
             Catch::StartsWith("model-xgboost: artifact \"" + garbage.string() + "\": not valid JSON"));
  auto other = write_file("other.json", R"({"format": "hitl-logreg"})");
  CHECK(create_error(json{{"artifact", other.string()}}.dump()) ==
        "model-xgboost: artifact \"" + other.string() + "\": format: expected \"hitl-xgboost\", got \"hitl-logreg\"");

  sdk::Dataset ds;
  for (int i = 0; i < 40; ++i) {
    ds.rows.push_back({{"x", double(i)}, {"k", std::string(i % 2 ? "odd" : "even")}});
    ds.labels.push_back(i < 20 ? "low" : "high");
  }
  auto m = make_model(json{{"num_round", 5}});
  const auto good = json::parse(train_ok(*m, ds).artifact_json);
  auto refused = [&](const std::string& name, const json& artifact) {
    auto file = write_file(name, artifact.dump());
    const std::string prefix = "model-xgboost: artifact \"" + file.string() + "\": ";
    std::string msg = create_error(json{{"artifact", file.string()}}.dump());
    REQUIRE(msg.rfind(prefix, 0) == 0);
    return msg.substr(prefix.size());
  };
  auto art = good;
  art["features"].erase(1);  // the booster still has 3 slots
  CHECK(refused("fewer_features.json", art) == "booster: has 3 features but the encoding has 1 slots");
  art = good;
  art["classes"] = {"a", "b", "c"};  // a binary booster cannot score 3 classes
  CHECK(refused("three_classes.json", art) ==
        "booster: predicts 1 outputs per row but there are 3 classes (expected multi:softprob)");
  art = good;
  art["features"][1]["categories"] = {"odd", "even"};
  CHECK(refused("unsorted.json", art) == "features[1].categories: must be sorted and unique");
  art = good;
  art["features"][0]["kind"] = "text";
  CHECK(refused("kind.json", art) == "features[0].kind: expected \"numeric\" or \"categorical\", got \"text\"");
  art = good;
  art.erase("booster");
  CHECK(refused("no_booster.json", art) == "booster: missing");
  // A damaged booster: XGBoost's own message comes through (without its stack trace).
  art = good;
  art["booster"]["learner"].erase("gradient_booster");
  const std::string msg = refused("damaged.json", art);
  CHECK_THAT(msg, Catch::StartsWith("booster: XGBoost XGBoosterLoadModelFromBuffer: "));
  CHECK_THAT(msg, !Catch::Contains("Stack trace"));
  CHECK(msg.size() > std::string("booster: XGBoost XGBoosterLoadModelFromBuffer: ").size());
}

TEST_CASE("credit_data: held-out accuracy beats the majority class and AUC matches logreg", "[real-data]") {
  auto s = split_80_20(credit_data());  // no time order in the rows: a split by index is fair
  auto m = make_model(json{{"max_depth", 3}});
  train_ok(*m, s.train);
  auto p = predict_ok(*m, s.test_rows);
  double correct = 0, good = 0;
  std::vector<double> p_bad;
  std::vector<bool> is_bad;
  for (std::size_t i = 0; i < p.size(); ++i) {
    correct += p[i].label == s.test_labels[i];
    good += s.test_labels[i] == "good";
    p_bad.push_back(score(p[i], "bad"));
    is_bad.push_back(s.test_labels[i] == "bad");
  }
  const double accuracy = correct / p.size();
  const double majority = std::max(good, p.size() - good) / p.size();
  const double area = auc(p_bad, is_bad);
  INFO("held-out accuracy " << accuracy << ", majority rate " << majority << ", AUC " << area);
  // Measured (max_depth 3): accuracy 0.806 against a majority rate of 0.702, AUC 0.852
  // (model-logreg: 0.814 / 0.851 on the same split); defaults (max_depth 4): 0.799 / 0.846.
  // A model that ignores the features scores the majority rate and AUC 0.5.
  CHECK(accuracy > majority + 0.08);
  CHECK(area > 0.845);
}

TEST_CASE("hpc_data: four classes are learned with softprob", "[real-data]") {
  auto ds = hpc_data();
  REQUIRE(ds.rows.size() == 4331);
  auto s = split_80_20(ds);
  auto m = make_model();
  auto art = json::parse(train_ok(*m, s.train).artifact_json);
  CHECK(art.at("classes") == json::array({"F", "L", "M", "VF"}));
  CHECK(art.at("objective") == "multi:softprob");
  CHECK(art.at("contribution_bias").size() == 4);
  auto p = predict_ok(*m, s.test_rows);
  std::map<std::string, double> counts;
  double correct = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    correct += p[i].label == s.test_labels[i];
    counts[s.test_labels[i]] += 1;
    REQUIRE(p[i].scores.size() == 4);
    double sum = 0;
    for (const auto& sc : p[i].scores) sum += sc.second;
    CHECK(sum == Approx(1.0).margin(1e-5));
    CHECK(p[i].confidence == score(p[i], p[i].label));
    CHECK(p[i].contributions.size() == 7);  // every column
  }
  double majority = 0;
  for (const auto& [c, k] : counts) majority = std::max(majority, k / p.size());
  const double accuracy = correct / p.size();
  INFO("held-out accuracy " << accuracy << ", majority rate " << majority);
  // Measured: 0.826 against a majority rate of 0.495 (the shared README's 5-fold figure for a
  // gradient-boosted model is 0.84).
  CHECK(accuracy > 0.78);
}

TEST_CASE("concurrent predictions on one model agree with serial ones") {
  auto ds = credit_data();
  auto m = make_model(json{{"num_round", 30}});
  train_ok(*m, ds);
  std::vector<sdk::Record> rows(ds.rows.begin(), ds.rows.begin() + 200);
  const auto expected = predict_ok(*m, rows);
  std::vector<std::vector<sdk::Prediction>> got(4);
  std::vector<sdk::Status> status(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5 && status[t].ok(); ++rep) status[t] = m->predict(rows, got[t]);
    });
  for (auto& t : threads) t.join();
  for (std::size_t t = 0; t < got.size(); ++t) {
    INFO("thread " << t << ": " << status[t].message);
    REQUIRE(status[t].ok());
    REQUIRE(got[t].size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(got[t][i].scores == expected[i].scores);
      CHECK(got[t][i].contributions == expected[i].contributions);
    }
  }
}
