// JsonText writes what an nlohmann tree would dump, byte for byte, for the shapes ingest writes
// (core/ingest/pipeline.cpp), and stays valid JSON on hostile strings.
#include "common/json_text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <limits>

using hitl::JsonText;
using nlohmann::json;

TEST_CASE("JsonText writes the bytes a sorted nlohmann tree dumps") {
  const json tree = {{"confidence", 0.5302}, {"count", 3}, {"label", "good \"q\" \\ \n\t\x01"},
                     {"list", json::array({json({{"a", 1.0}, {"b", false}}), json(2.5e-7)})},
                     {"none", nullptr}, {"scores", {{"bad", 0.4698}, {"good", 1.0 / 3}}}, {"yes", true}};
  JsonText w;
  w.begin_object().field("confidence", 0.5302).field("count", std::int64_t{3});
  w.field("label", "good \"q\" \\ \n\t\x01");
  w.key("list").begin_array().begin_object().field("a", 1.0).field("b", false).end_object().value(2.5e-7).end_array();
  w.key("none").raw("null");
  w.key("scores").begin_object().field("bad", 0.4698).field("good", 1.0 / 3).end_object();
  w.field("yes", true).end_object();
  const std::string text = w.take();
  CHECK(text == tree.dump());
  CHECK(json::parse(text) == tree);
}

TEST_CASE("JsonText keeps hostile text valid: invalid UTF-8 replaced, non-finite numbers null") {
  JsonText w;
  w.begin_object().field("bad", std::string("a\xff\xfe" "b\xc3", 5)).field("ok", "\xc3\xa9\xe2\x82\xac");
  w.field("nan", std::numeric_limits<double>::quiet_NaN()).field("inf", std::numeric_limits<double>::infinity());
  w.end_object();
  const json back = json::parse(w.take());
  CHECK(back["bad"] == "a\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  CHECK(back["ok"] == "\xc3\xa9\xe2\x82\xac");
  CHECK(back["nan"].is_null());
  CHECK(back["inf"].is_null());
  JsonText again;  // take() leaves the writer empty and ready
  again.begin_array().value("x").end_array();
  CHECK(again.take() == R"(["x"])");
}

TEST_CASE("JsonText escapes strings as nlohmann does, over random mixes of plain runs and escapes") {
  const char* pieces[] = {"plain", "\"", "\\", "\n", "\x01", "\x1f", "\x7f", " ", "\xc3\xa9", "\xe2\x82\xac",
                          "\xf0\x9f\x98\x80", "0123456789abcdef", "/", "\t"};
  std::uint32_t seed = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int parts = static_cast<int>(seed % 9);
    for (int p = 0; p < parts; ++p) {
      seed = seed * 1103515245u + 12345u;
      s += pieces[(seed >> 8) % (sizeof pieces / sizeof *pieces)];
    }
    seed = seed * 1103515245u + 12345u;
    JsonText w;
    w.begin_array().value(s).end_array();
    INFO("round " << round);
    CHECK(w.take() == json::array({s}).dump());
  }
}
