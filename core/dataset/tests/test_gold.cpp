// The golden set loader: what a good file gives, and the line-numbered error for each bad line.
#include "dataset/gold.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <unistd.h>

namespace fs = std::filesystem;
using hitl::service::load_gold_set;

namespace {

const std::vector<std::string> labels{"good", "bad"};

fs::path write_gold(const std::string& text) {
  static int n = 0;
  fs::path p = fs::temp_directory_path() / ("hitl-gold-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".jsonl");
  std::ofstream(p) << text;
  return p;
}

std::string load_error(const std::string& text) {
  auto p = write_gold(text);
  try {
    load_gold_set(p, labels);
  } catch (const std::runtime_error& e) {
    fs::remove(p);
    return e.what();
  }
  fs::remove(p);
  return "(loaded)";
}

}  // namespace

TEST_CASE("gold: a golden set loads its cases and skips blank and comment lines", "[gold]") {
  auto p = write_gold(
      "# known answers for the loans domain\n"
      "{\"input\": {\"amount\": 9000}, \"prediction\": {\"label\": \"good\", \"confidence\": 0.62}, \"label\": \"bad\"}\n"
      "\n"
      "{\"input\": {\"amount\": 100}, \"meta\": {\"src\": \"audit\"}, \"reason\": \"spot_check\",\n"
      "   \"prediction\": {\"label\": \"good\", \"confidence\": 0.7, \"scores\": {\"good\": 0.7, \"bad\": 0.3}}, \"label\": \"good\"}\n");
  // The second case spans two lines: JSON Lines means one object per line, so that is an error.
  CHECK_THROWS_WITH(load_gold_set(p, labels), Catch::Contains(":4: not valid JSON"));
  fs::remove(p);

  p = write_gold(
      "# known answers for the loans domain\n"
      "{\"input\": {\"amount\": 9000}, \"prediction\": {\"label\": \"good\", \"confidence\": 0.62}, \"label\": \"bad\"}\n"
      "\n"
      "{\"input\": {\"amount\": 100}, \"meta\": {\"src\": \"audit\"}, \"reason\": \"spot_check\", \"prediction\": {\"label\": "
      "\"good\", \"confidence\": 0.7, \"scores\": {\"good\": 0.7, \"bad\": 0.3}}, \"label\": \"good\"}\n");
  auto set = load_gold_set(p, labels);
  fs::remove(p);
  REQUIRE(set.cases.size() == 2);
  CHECK(set.cases[0].line == 2);
  CHECK(set.cases[0].label == "bad");
  CHECK(set.cases[0].prediction.label == "good");
  CHECK(set.cases[0].prediction.confidence == Approx(0.62));
  CHECK(set.cases[0].input["amount"] == 9000);
  CHECK(set.cases[0].meta.is_object());
  CHECK(set.cases[0].reason.empty());
  CHECK(set.cases[1].line == 4);
  CHECK(set.cases[1].reason == "spot_check");
  CHECK(set.cases[1].meta["src"] == "audit");
  REQUIRE(set.cases[1].prediction.scores.size() == 2);
}

TEST_CASE("gold: each bad line is refused naming the file line and field", "[gold]") {
  const std::string ok_pred = R"("prediction": {"label": "good", "confidence": 0.5})";
  CHECK_THAT(load_error("[1, 2]\n"), Catch::Contains(":1: expected an object"));
  CHECK_THAT(load_error("{\"label\": \"bad\", " + ok_pred + "}\n"), Catch::Contains(":1: input: expected an object"));
  CHECK_THAT(load_error("{\"input\": {}, " + ok_pred + "}\n"), Catch::Contains(":1: label: expected the known answer"));
  CHECK_THAT(load_error("\n{\"input\": {}, \"label\": \"maybe\", " + ok_pred + "}\n"),
             Catch::Contains(":2: label: \"maybe\" is not a label of the domain (good, bad)"));
  CHECK_THAT(load_error(R"({"input": {}, "label": "bad"})"), Catch::Contains(":1: prediction: expected an object"));
  CHECK_THAT(load_error(R"({"input": {}, "label": "bad", "prediction": {"label": "ok", "confidence": 0.5}})"),
             Catch::Contains("prediction.label: \"ok\" is not a label of the domain"));
  CHECK_THAT(load_error(R"({"input": {}, "label": "bad", "prediction": {"label": "good", "confidence": 1.5}})"),
             Catch::Contains("prediction.confidence: expected a number in 0..1"));
  CHECK_THAT(load_error(R"({"input": {}, "label": "bad", "prediction": {"label": "good"}})"),
             Catch::Contains("prediction.confidence: expected a number in 0..1"));
  CHECK_THAT(load_error(R"({"input": {}, "label": "bad", "prediction": {"label": "good", "confidence": 0.5, "scores": [1]}})"),
             Catch::Contains("prediction.scores: expected an object"));
  CHECK_THAT(load_error("{\"input\": {}, \"label\": \"bad\", \"answer\": 1, " + ok_pred + "}\n"),
             Catch::Contains("unknown field \"answer\""));
  CHECK_THAT(load_error("{\"input\": {}, \"label\": \"bad\", \"reason\": 3, " + ok_pred + "}\n"),
             Catch::Contains("reason: expected a string"));
  CHECK_THAT(load_error("# nothing but a comment\n\n"), Catch::Contains("the golden set has no cases"));
  CHECK_THROWS_WITH(load_gold_set("/nonexistent/gold.jsonl", labels), Catch::Contains("cannot open the golden set"));
}

TEST_CASE("gold: draw honours its rate and ids are version 4 UUIDs", "[gold]") {
  int hits = 0;
  for (int i = 0; i < 20000; ++i) hits += hitl::service::draw(0.25) ? 1 : 0;
  CHECK(hits > 4500);  // 5000 expected; 7 standard deviations either side
  CHECK(hits < 5500);
  for (int i = 0; i < 100; ++i) {
    CHECK_FALSE(hitl::service::draw(0));
    CHECK(hitl::service::draw(1));
  }
  static const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = hitl::service::random_uuid();
    CHECK(std::regex_match(id, uuid));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
  std::set<std::size_t> picked;
  for (int i = 0; i < 1000; ++i) picked.insert(hitl::service::pick(3));
  CHECK(picked == std::set<std::size_t>{0, 1, 2});
}
