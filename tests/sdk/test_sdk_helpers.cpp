// The header-only SDK helpers model plugins share (docs/plugin-sdk.md, "Options" and the helper
// list): what a vendor relies on is their messages and their rules, checked here directly; the
// in-tree plugins' suites check them again through the built .so files.
#include <hitl/feature_values.hpp>
#include <hitl/json_config.hpp>
#include <hitl/model_support.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

namespace cfgs = hitl::sdk::json_config;
namespace features = hitl::sdk::features;
namespace model_support = hitl::sdk::model_support;
using nlohmann::json;

namespace {

enum class Mode { fast, exact };

struct Options {
  std::string artifact;
  int rounds = 10;
  double rate = 0.5;
  Mode mode = Mode::exact;
  std::vector<std::string> columns;
};

std::optional<std::string> read(const char* config_json, Options& o) {
  return cfgs::read_config(config_json, {{"artifact", cfgs::path_option(o.artifact)},
                                         {"rounds", cfgs::integer_option(o.rounds, 1, 100)},
                                         {"rate", cfgs::number_option(o.rate, 0.0, false)},
                                         {"mode", cfgs::choice_option(o.mode, {{"fast", Mode::fast}, {"exact", Mode::exact}})},
                                         {"columns", cfgs::string_list_option(o.columns)}});
}

std::string error_of(const char* config_json) {
  Options o;
  return read(config_json, o).value_or("(accepted)");
}

}  // namespace

TEST_CASE("read_config takes every known key and leaves the others at their defaults") {
  Options o;
  CHECK_FALSE(read(R"({"rounds": 3.0, "mode": "fast", "columns": ["a", "b"], "artifact": null})", o));
  CHECK(o.rounds == 3);
  CHECK(o.mode == Mode::fast);
  CHECK(o.columns == std::vector<std::string>{"a", "b"});
  CHECK(o.artifact.empty());  // null = left out
  CHECK(o.rate == 0.5);
  Options empty;
  CHECK_FALSE(read("", empty));
  CHECK_FALSE(read("null", empty));
}

TEST_CASE("read_config's errors name the key, what it expects and what it got") {
  CHECK(error_of(R"({"roundz": 1})") == "unknown config key \"roundz\" (known: artifact, rounds, rate, mode, columns)");
  CHECK(error_of(R"({"rounds": 2.5})") == "config key \"rounds\": expected an integer from 1 to 100, got 2.5");
  CHECK(error_of(R"({"rounds": 101})") == "config key \"rounds\": expected an integer from 1 to 100, got 101");
  CHECK(error_of(R"({"rate": 0})") == "config key \"rate\": expected a number > 0, got 0");
  CHECK(error_of(R"({"mode": "slow"})") == "config key \"mode\": expected \"fast\" or \"exact\", got \"slow\"");
  CHECK(error_of(R"({"artifact": ""})") == "config key \"artifact\": expected a non-empty string (file path), got \"\"");
  CHECK(error_of(R"({"columns": ["a", ""]})") ==
        "config key \"columns\": expected an array of non-empty strings, got [\"a\",\"\"]");
  CHECK(error_of(R"({"columns": ["a", "a"]})") == "config key \"columns\": \"a\" is listed twice");
  CHECK(error_of("[1]") == "config must be a JSON object, got array");
  CHECK(error_of("{").rfind("config is not valid JSON: ", 0) == 0);
}

TEST_CASE("choice_option lists three or more names with commas and a final 'or'") {
  Mode m = Mode::exact;
  const auto reader = cfgs::choice_option(m, {{"a", Mode::fast}, {"b", Mode::fast}, {"c", Mode::exact}});
  CHECK(reader("k", json(1)) == "config key \"k\": expected \"a\", \"b\" or \"c\", got 1");
  CHECK(m == Mode::exact);  // a refused value is not stored
}

struct Feature {
  std::string name;
  std::uint32_t width = 1;
  std::uint32_t slot = 0;
};

TEST_CASE("lay_out puts the features side by side, known_values and category_position read a record") {
  std::vector<Feature> fs{{"x", 1}, {"colour", 3}, {"y", 2}};
  features::FeatureIndex index;
  CHECK(features::lay_out(fs, index, [](const Feature& f) { return f.width; }) == 6);
  CHECK(fs[0].slot == 0);
  CHECK(fs[1].slot == 1);
  CHECK(fs[2].slot == 4);
  CHECK(index.at("y") == 2);

  const hitl::sdk::Record record{{"y", 2.0}, {"unknown", std::string("z")}, {"x", hitl::sdk::Value{}}};
  const auto values = features::known_values(record, index, fs.size());
  REQUIRE(values.size() == 3);
  CHECK(values[0] != nullptr);  // present, though null
  CHECK(features::is_missing(values[0]));
  CHECK(values[1] == nullptr);  // absent
  CHECK(std::get<double>(*values[2]) == 2.0);

  const std::vector<std::string> categories{"blue", "green", "red"};
  CHECK(features::category_position(categories, "green") == 1);
  CHECK(features::category_position(categories, "grey") == -1);
}

TEST_CASE("set_scores and set_contributions fill a prediction deterministically") {
  hitl::sdk::Prediction p;
  CHECK(model_support::set_scores(p, {"a", "b", "c"}, {0.2, 0.5, 0.3}) == 1);
  CHECK(p.label == "b");
  CHECK(p.confidence == 0.5);
  REQUIRE(p.scores.size() == 3);
  CHECK(p.scores[2] == std::pair<std::string, double>{"c", 0.3});

  std::vector<std::size_t> scratch;
  const std::vector<std::string> names{"f0", "f1", "f2", "f3"};
  model_support::set_contributions(p, {0.1, -0.4, 0.4, 0.0}, 3, [&](std::size_t f) { return names[f]; }, scratch);
  REQUIRE(p.contributions.size() == 3);
  CHECK(p.contributions[0].first == "f1");  // equal magnitude: the earlier feature first
  CHECK(p.contributions[1].first == "f2");
  CHECK(p.contributions[2].first == "f0");
}

TEST_CASE("artifact_version, load_artifact and guarded") {
  CHECK(model_support::fnv1a_hex("") == "cbf29ce484222325");  // FNV-1a 64 offset basis
  CHECK(model_support::artifact_version("m", "text") == "m-" + model_support::fnv1a_hex("text").substr(0, 12));

  int loaded = 0;
  auto parse = [](const std::string&) -> int { throw std::invalid_argument("bad weights"); };
  CHECK_FALSE(model_support::load_artifact<std::invalid_argument>("", parse, loaded));  // none given
  CHECK(model_support::load_artifact<std::invalid_argument>("/nonexistent/a.json", parse, loaded)
            ->rfind("artifact \"/nonexistent/a.json\": cannot open (", 0) == 0);
  CHECK(*model_support::load_artifact<std::invalid_argument>(HITL_SOURCE_DIR "/sdk/abi.lock", parse, loaded) ==
        "artifact \"" HITL_SOURCE_DIR "/sdk/abi.lock\": bad weights");

  const auto st = model_support::guarded("model-x: predict failed", []() -> hitl::sdk::Status {
    throw std::runtime_error("boom");
  });
  CHECK(st.code == hitl::sdk::Code::internal);
  CHECK(st.message == "model-x: predict failed: boom");
  model_support::CurrentArtifact<int> current(nullptr);
  CHECK(current.snapshot() == nullptr);
  current.replace(std::make_shared<const int>(7));
  CHECK(*current.snapshot() == 7);
}
