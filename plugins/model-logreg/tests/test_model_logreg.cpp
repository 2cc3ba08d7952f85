// model-logreg, tested through the built .so loaded with Boost.DLL, as the host loads it.
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
#include <numeric>

using nlohmann::json;
namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

namespace {

const sdk::PluginDescriptor& plugin() { return hitl::test::plugin_descriptor("model-logreg.so"); }

std::unique_ptr<sdk::Model> make_model(const json& config = json::object()) {
  return hitl::test::make_model(plugin(), config);
}

std::string create_error(const std::string& config_text) {
  return hitl::test::model_create_error(plugin(), config_text);
}

using hitl::test::predict_ok;
using hitl::test::score;
using hitl::test::train_ok;


fs::path scratch(const std::string& name) { return hitl::test::scratch("test-model-logreg-files", name); }

fs::path write_file(const std::string& name, const std::string& text) {
  return hitl::test::write_scratch("test-model-logreg-files", name, text);
}

using hitl::test::auc;

using hitl::test::credit_data;
using hitl::test::separable_numeric;

}  // namespace

TEST_CASE("the .so exports a model descriptor named logreg with documented options") {
  auto names = hitl::test::check_model_descriptor(plugin(), "logreg");
  CHECK(names == std::vector<std::string>{"artifact", "l2", "epochs", "learning_rate", "text_columns", "text_buckets"});
}

TEST_CASE("an untrained model refuses to predict but can train") {
  auto m = make_model();
  std::vector<sdk::Prediction> out;
  auto st = m->predict({{{"x", 1.0}}}, out);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK(st.message == "model-logreg: no artifact loaded (train one with hitl train)");
  CHECK(m->can_train());
  CHECK(m->version() == "logreg-untrained");

  sdk::Dataset one_class{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "a"}, {}};
  sdk::TrainResult r;
  st = m->train(one_class, r);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK(st.message == "model-logreg: train: the training data has only one class (\"a\"); need at least two");
  st = m->train(sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "b"}, {1.0}}, r);
  CHECK(st.message == "model-logreg: train: the training data has 2 rows but 1 weights");
}

TEST_CASE("separable numeric data is learned, and predictions carry scores and contributions") {
  sdk::Dataset ds = separable_numeric();
  auto m = make_model();
  auto r = train_ok(*m, ds);
  auto metrics = json::parse(r.metrics_json);
  CHECK(metrics.at("accuracy").get<double>() == 1.0);
  CHECK(metrics.at("log_loss").get<double>() < 0.2);
  CHECK(metrics.at("rows") == 40);
  CHECK(metrics.at("classes") == 2);
  CHECK(m->version().rfind("logreg-", 0) == 0);
  CHECK(m->version().size() == 7 + 12);

  auto p = predict_ok(*m, {{{"x", -4.0}, {"noise", 0.5}}, {{"x", 4.0}, {"noise", 0.5}}});
  CHECK(p[0].label == "neg");
  CHECK(p[1].label == "pos");
  CHECK(p[1].confidence > 0.9);
  CHECK(p[1].confidence == score(p[1], "pos"));
  CHECK(score(p[1], "pos") + score(p[1], "neg") == Approx(1.0));
  REQUIRE(p[1].contributions.size() == 2);
  CHECK(p[1].contributions[0].first == "x");  // sorted by absolute value
  CHECK(p[1].contributions[0].second > 0.0);  // pushes towards the predicted class
  CHECK(std::fabs(p[1].contributions[0].second) >= std::fabs(p[1].contributions[1].second));

  // A far too long step is shortened automatically instead of diverging.
  auto hasty = make_model(json{{"learning_rate", 1000.0}, {"epochs", 2000}});
  auto hasty_metrics = json::parse(train_ok(*hasty, ds).metrics_json);
  CHECK(hasty_metrics.at("accuracy").get<double>() == 1.0);
  CHECK(hasty_metrics.at("converged") == true);
  CHECK(hasty_metrics.at("log_loss").get<double>() < 0.2);
}

TEST_CASE("three classes are learned with softmax") {
  sdk::Dataset ds;
  const double centres[3][2] = {{0, 0}, {4, 0}, {0, 4}};
  const char* names[3] = {"c0", "c1", "c2"};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 30; ++i) {
      double dx = (i % 5 - 2) * 0.3, dy = (i / 5 - 2.5) * 0.3;
      ds.rows.push_back({{"a", centres[c][0] + dx}, {"b", centres[c][1] + dy}});
      ds.labels.push_back(names[c]);
    }
  auto m = make_model();
  auto metrics = json::parse(train_ok(*m, ds).metrics_json);
  CHECK(metrics.at("classes") == 3);
  CHECK(metrics.at("accuracy").get<double>() >= 0.99);
  auto p = predict_ok(*m, {{{"a", 0.1}, {"b", 0.2}}, {{"a", 4.2}, {"b", -0.1}}, {{"a", -0.3}, {"b", 3.8}}});
  CHECK(p[0].label == "c0");
  CHECK(p[1].label == "c1");
  CHECK(p[2].label == "c2");
  for (const auto& one : p) {
    REQUIRE(one.scores.size() == 3);
    double sum = 0;
    for (const auto& s : one.scores) sum += s.second;
    CHECK(sum == Approx(1.0));
  }
}

TEST_CASE("string and boolean columns are one-hot encoded over the training categories") {
  sdk::Dataset ds;
  const char* colours[] = {"red", "green", "blue"};
  for (int i = 0; i < 60; ++i) {
    std::string colour = colours[i % 3];
    bool vip = i % 4 == 0;
    ds.rows.push_back({{"colour", colour}, {"vip", vip}, {"code", double(i % 2)}});
    ds.labels.push_back(colour == "red" || vip ? "yes" : "no");
  }
  auto m = make_model(json{{"l2", 1e-4}});
  auto r = train_ok(*m, ds);
  CHECK(json::parse(r.metrics_json).at("accuracy").get<double>() == 1.0);
  auto art = json::parse(r.artifact_json);
  REQUIRE(art.at("features").size() == 3);
  CHECK(art["features"][0]["kind"] == "categorical");
  CHECK(art["features"][0]["categories"] == json::array({"blue", "green", "red"}));
  CHECK(art["features"][1]["categories"] == json::array({"false", "true"}));
  CHECK(art["features"][2]["kind"] == "numeric");
  CHECK(art.at("weights").size() == 2);
  CHECK(art["weights"][0].size() == 3 + 2 + 1);

  auto p = predict_ok(*m, {{{"colour", "red"}, {"vip", false}, {"code", 1.0}},
                        {{"colour", "blue"}, {"vip", true}, {"code", 0.0}},
                        {{"colour", "blue"}, {"vip", false}, {"code", 1.0}}});
  CHECK(p[0].label == "yes");
  CHECK(p[1].label == "yes");
  CHECK(p[2].label == "no");
  CHECK(p[0].contributions[0].first == "colour");
  CHECK(p[1].contributions[0].first == "vip");
}

TEST_CASE("missing values, absent columns and unseen categories are scored") {
  sdk::Dataset ds;
  for (int i = 0; i < 80; ++i) {
    const bool income_missing = i % 5 == 0;  // missing income means "bad" here
    sdk::Value income = income_missing ? sdk::Value{} : sdk::Value{100.0 + i};
    ds.rows.push_back({{"income", income}, {"home", std::string(i % 2 ? "rent" : "owner")}});
    ds.labels.push_back(income_missing ? "bad" : "good");
  }
  auto m = make_model();
  auto art = json::parse(train_ok(*m, ds).artifact_json);
  CHECK(art["features"][0]["has_missing"] == true);
  CHECK(art["slots"] == json::array({"income", "income:missing", "home=owner", "home=rent"}));

  auto p = predict_ok(*m, {{{"income", sdk::Value{}}, {"home", std::string("rent")}},  // missing
                        {{"home", std::string("rent")}},                           // absent = missing
                        {{"income", 130.0}, {"home", std::string("castle")}},      // unseen category
                        {{"income", 130.0}},                                       // absent category
                        {{"income", std::string("130")}, {"extra", true}}});      // quoted number, unknown field
  CHECK(p[0].label == "bad");
  CHECK(score(p[1], "bad") == score(p[0], "bad"));
  CHECK(p[2].label == "good");
  CHECK(score(p[2], "good") == score(p[3], "good"));  // unseen category = no category
  CHECK(score(p[4], "good") == score(p[3], "good"));

  std::vector<sdk::Prediction> out;
  auto st = m->predict({{{"income", 1.0}}, {{"income", std::string("lots")}}}, out);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK(st.message == "model-logreg: row 2: feature \"income\": expected a number, got the string \"lots\"");
}

TEST_CASE("sample weights change the fit") {
  // The same input with conflicting labels: the heavier side wins.
  sdk::Dataset ds{{{{"x", 1.0}}, {{"x", 1.0}}, {{"x", 2.0}}, {{"x", 2.0}}}, {"a", "b", "a", "b"}, {}};
  auto m = make_model();
  ds.weights = {3, 1, 3, 1};
  train_ok(*m, ds);
  auto favour_a = predict_ok(*m, {{{"x", 1.5}}})[0];
  ds.weights = {1, 3, 1, 3};
  train_ok(*m, ds);
  auto favour_b = predict_ok(*m, {{{"x", 1.5}}})[0];
  CHECK(favour_a.label == "a");
  CHECK(favour_a.confidence == Approx(0.75).margin(0.01));
  CHECK(favour_b.label == "b");
  CHECK(favour_b.confidence == Approx(0.75).margin(0.01));

  sdk::TrainResult r;
  ds.weights = {1, -1, 1, 1};
  auto st = m->train(ds, r);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK_THAT(st.message, Catch::Contains("weight of row 2 is -1"));
}

TEST_CASE("text columns are learned from hashed words and pairs, and round-trip through the artifact") {
  // The label hangs on words (and on "not good", a pair), never on the length or a category.
  const char* good[] = {"great taste and fresh", "really good value", "love it, great snack", "tasty and good"};
  const char* bad[] = {"stale and bland", "not good at all", "awful taste, not good", "arrived broken, bland"};
  sdk::Dataset ds;
  for (int i = 0; i < 80; ++i) {
    const bool positive = i % 2 == 0;
    ds.rows.push_back({{"review", std::string(positive ? good[i / 2 % 4] : bad[i / 2 % 4])}});
    ds.labels.push_back(positive ? "great" : "other");
  }
  auto m = make_model(json{{"text_columns", {"review"}}, {"text_buckets", 256}});
  auto r = train_ok(*m, ds);
  CHECK(json::parse(r.metrics_json).at("accuracy").get<double>() == 1.0);
  auto art = json::parse(r.artifact_json);
  REQUIRE(art.at("features").size() == 1);
  CHECK(art["features"][0]["kind"] == "text");
  CHECK(art["features"][0]["buckets"] == 256);
  CHECK(art["weights"][0].size() == 256);

  // Unseen texts: the words carry over; case and punctuation do not matter; no text is missing.
  const std::vector<sdk::Record> rows = {{{"review", "GREAT, fresh snack!"}},
                                         {{"review", "bland... not good"}},
                                         {}};
  auto p = predict_ok(*m, rows);
  CHECK(p[0].label == "great");
  CHECK(p[1].label == "other");
  CHECK(p[0].contributions.at(0).first == "review");  // one column: its hashed slots summed back
  CHECK(p[2].scores.size() == 2);

  auto file = write_file("text_logreg.json", r.artifact_json);
  auto loaded = make_model(json{{"artifact", file.string()}});
  auto q = predict_ok(*loaded, rows);
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(q[i].scores == p[i].scores);
  CHECK(create_error(R"({"text_buckets": 8})").find("text_buckets") != std::string::npos);
  CHECK(create_error(R"({"text_columns": "review"})").find("text_columns") != std::string::npos);
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

  auto file = write_file("credit_logreg.json", r1.artifact_json);
  auto loaded = make_model(json{{"artifact", file.string()}});
  CHECK(loaded->version() == m1->version());
  std::vector<sdk::Record> rows(ds.rows.begin(), ds.rows.begin() + 500);
  auto a = predict_ok(*m1, rows);
  auto b = predict_ok(*loaded, rows);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(a[i].label == b[i].label);
    CHECK(a[i].scores == b[i].scores);  // bit-for-bit: doubles survive the JSON text
    CHECK(a[i].contributions == b[i].contributions);
  }
  auto art = json::parse(r1.artifact_json);
  CHECK(art.at("format") == "hitl-logreg");
  CHECK(art.at("version") == 1);
  CHECK(art.at("classes") == json::array({"bad", "good"}));
  CHECK(art.at("training").at("rows") == 4454);
}

TEST_CASE("bad config and bad artifacts are refused with the key or file and the reason") {
  CHECK(create_error(R"({"epoch": 3})") ==
        "model-logreg: unknown config key \"epoch\" (known: artifact, l2, epochs, learning_rate, text_columns, text_buckets)");
  CHECK(create_error(R"({"epochs": "many"})") ==
        "model-logreg: config key \"epochs\": expected an integer from 1 to 10000000, got \"many\"");
  CHECK(create_error(R"({"l2": -1})") == "model-logreg: config key \"l2\": expected a number >= 0, got -1");
  CHECK(create_error(R"({"learning_rate": 0})") ==
        "model-logreg: config key \"learning_rate\": expected a number > 0, got 0");
  CHECK(create_error(R"({"artifact": 7})") ==
        "model-logreg: config key \"artifact\": expected a non-empty string (file path), got 7");
  CHECK(create_error("[1]") == "model-logreg: config must be a JSON object, got array");
  CHECK_THAT(create_error("{oops"), Catch::StartsWith("model-logreg: config is not valid JSON"));

  auto missing = scratch("no-such-artifact.json").string();
  CHECK(create_error(json{{"artifact", missing}}.dump()) ==
        "model-logreg: artifact \"" + missing + "\": cannot open (No such file or directory)");
  auto garbage = write_file("garbage.json", "{\"format\": \"hitl-logreg\", ");
  CHECK_THAT(create_error(json{{"artifact", garbage.string()}}.dump()),
             Catch::StartsWith("model-logreg: artifact \"" + garbage.string() + "\": not valid JSON"));
  auto other = write_file("other.json", R"({"format": "xgboost"})");
  CHECK_THAT(create_error(json{{"artifact", other.string()}}.dump()), Catch::Contains("format: expected \"hitl-logreg\""));

  // A valid artifact with one weight removed names the exact array.
  auto m = make_model();
  auto art = json::parse(train_ok(*m, sdk::Dataset{{{{"x", 1.0}}, {{"x", 2.0}}}, {"a", "b"}, {}}).artifact_json);
  art["weights"][1].erase(0);
  auto short_w = write_file("short_weights.json", art.dump());
  CHECK(create_error(json{{"artifact", short_w.string()}}.dump()) ==
        "model-logreg: artifact \"" + short_w.string() + "\": weights[1]: has 0 numbers, expected 1");
  art["features"][0]["std"] = -2;
  auto bad_std = write_file("bad_std.json", art.dump());
  CHECK_THAT(create_error(json{{"artifact", bad_std.string()}}.dump()), Catch::EndsWith("features[0].std: must be > 0"));
}

TEST_CASE("credit_data: held-out accuracy beats the majority class and AUC is high", "[real-data]") {
  auto ds = credit_data();
  REQUIRE(ds.rows.size() == 4454);
  // The rows carry no time order, so a split by row index is a fair hold-out.
  const std::size_t cut = ds.rows.size() * 8 / 10;
  sdk::Dataset train_set{{ds.rows.begin(), ds.rows.begin() + cut}, {ds.labels.begin(), ds.labels.begin() + cut}, {}};
  std::vector<sdk::Record> test_rows(ds.rows.begin() + cut, ds.rows.end());
  std::vector<std::string> test_labels(ds.labels.begin() + cut, ds.labels.end());

  auto m = make_model();
  train_ok(*m, train_set);
  auto p = predict_ok(*m, test_rows);
  double correct = 0, good = 0;
  std::vector<double> p_bad;
  std::vector<bool> is_bad;
  for (std::size_t i = 0; i < p.size(); ++i) {
    correct += p[i].label == test_labels[i];
    good += test_labels[i] == "good";
    p_bad.push_back(score(p[i], "bad"));
    is_bad.push_back(test_labels[i] == "bad");
  }
  const double accuracy = correct / p.size();
  const double majority = std::max(good, p.size() - good) / p.size();
  const double area = auc(p_bad, is_bad);
  INFO("held-out accuracy " << accuracy << ", majority rate " << majority << ", AUC " << area);
  // Measured: accuracy 0.814 against a majority rate of 0.702, AUC 0.851 (bench-model-logreg
  // prints them); the bounds leave room for optimiser changes, not for a broken model (a
  // model that ignores the features scores the majority rate and AUC 0.5).
  CHECK(accuracy > majority + 0.03);
  CHECK(area > 0.80);
}
