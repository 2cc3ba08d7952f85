#include "data/records.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using nlohmann::json;
namespace fs = std::filesystem;
namespace data = hitl::data;
namespace sdk = hitl::sdk;

namespace {

// A real file in a fresh per-test directory under the build tree.
fs::path write_file(const std::string& name, const std::string& content) {
  fs::path dir = fs::path(HITL_BINARY_DIR) / "test-data-files";
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

const sdk::Value& cell(const sdk::Record& r, const std::string& name) {
  for (const auto& [n, v] : r)
    if (n == name) return v;
  FAIL("no field " << name);
  throw std::logic_error("unreachable");
}

std::string error_of(const fs::path& p) {
  try {
    data::read_csv(p);
  } catch (const data::DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("record_from_json maps each JSON type to a Value") {
  auto r = data::record_from_json(json::parse(R"({"age": 42, "big": 18446744073709551615, "ratio": -0.25,
      "home": "rent", "fraud": true, "income": null})"));
  REQUIRE(r.size() == 6);
  CHECK(std::get<double>(cell(r, "age")) == 42.0);
  CHECK(std::get<double>(cell(r, "big")) == Approx(1.8446744073709552e19));
  CHECK(std::get<double>(cell(r, "ratio")) == -0.25);
  CHECK(std::get<std::string>(cell(r, "home")) == "rent");
  CHECK(std::get<bool>(cell(r, "fraud")) == true);
  CHECK(std::holds_alternative<std::monostate>(cell(r, "income")));
}

TEST_CASE("record_from_json refuses nested values and non-objects, naming the field") {
  CHECK_THROWS_WITH(data::record_from_json(json::parse(R"({"a": 1, "tags": [1, 2]})")),
                    Catch::Contains("field \"tags\"") && Catch::Contains("array"));
  CHECK_THROWS_WITH(data::record_from_json(json::parse(R"({"addr": {"city": "x"}})")),
                    Catch::Contains("field \"addr\"") && Catch::Contains("object"));
  CHECK_THROWS_AS(data::record_from_json(json::parse("[1, 2]")), data::DataError);
  CHECK_THROWS_WITH(data::record_from_json(json::parse("\"x\"")), Catch::Contains("expected a JSON object"));
}

TEST_CASE("record_to_json round-trips and writes whole numbers as integers") {
  sdk::Record r{{"id", 17.0}, {"x", 0.5}, {"s", std::string("a\"b")}, {"b", false}, {"m", std::monostate{}}};
  json j = data::record_to_json(r);
  CHECK(j.dump() == R"({"b":false,"id":17,"m":null,"s":"a\"b","x":0.5})");
  auto back = data::record_from_json(j);
  CHECK(std::get<double>(cell(back, "id")) == 17.0);
  CHECK(std::get<double>(cell(back, "x")) == 0.5);
  CHECK(std::get<std::string>(cell(back, "s")) == "a\"b");
  CHECK(std::get<bool>(cell(back, "b")) == false);
  CHECK(std::holds_alternative<std::monostate>(cell(back, "m")));
}

TEST_CASE("read_csv types cells: numbers, strings, empty and NA as missing") {
  auto p = write_file("typed.csv",
                      "\"Status\",id,income,home,note\r\n"
                      "\"good\",1,129.5,\"rent\",nan\r\n"
                      "bad,2,NA,,-1e3x\r\n"
                      "good,+3,-1e3,owner,007a\n");
  auto t = data::read_csv(p);
  REQUIRE(t.columns == std::vector<std::string>{"Status", "id", "income", "home", "note"});
  REQUIRE(t.rows.size() == 3);
  CHECK(std::get<std::string>(cell(t.rows[0], "Status")) == "good");
  CHECK(std::get<double>(cell(t.rows[0], "income")) == 129.5);
  CHECK(std::get<std::string>(cell(t.rows[0], "note")) == "nan");  // not a NaN double
  CHECK(std::holds_alternative<std::monostate>(cell(t.rows[1], "income")));
  CHECK(std::holds_alternative<std::monostate>(cell(t.rows[1], "home")));
  CHECK(std::get<std::string>(cell(t.rows[1], "note")) == "-1e3x");
  CHECK(std::get<double>(cell(t.rows[2], "id")) == 3.0);
  CHECK(std::get<double>(cell(t.rows[2], "income")) == -1000.0);
  CHECK(std::get<std::string>(cell(t.rows[2], "note")) == "007a");
  // Every row carries every column in header order.
  for (const auto& r : t.rows) {
    REQUIRE(r.size() == 5);
    CHECK(r[3].first == "home");
  }
}

TEST_CASE("read_csv handles RFC 4180 quoting: commas, doubled quotes, newlines in cells") {
  auto p = write_file("quoted.csv",
                      "text,n\n"
                      "\"a, b\",1\n"
                      "\"say \"\"hi\"\"\",2\n"
                      "\"two\nlines\",3\n"
                      "\"\",4\n"
                      "last,\"5\"\n");
  auto t = data::read_csv(p);
  REQUIRE(t.rows.size() == 5);
  CHECK(std::get<std::string>(cell(t.rows[0], "text")) == "a, b");
  CHECK(std::get<std::string>(cell(t.rows[1], "text")) == "say \"hi\"");
  CHECK(std::get<std::string>(cell(t.rows[2], "text")) == "two\nlines");
  CHECK(std::holds_alternative<std::monostate>(cell(t.rows[3], "text")));
  CHECK(std::get<double>(cell(t.rows[4], "n")) == 5.0);
}

TEST_CASE("read_csv errors name the file and the line") {
  auto wrong = write_file("wrong_count.csv", "a,b,c\n1,2,3\n\"x\ny\",2,3\n4,5\n");
  CHECK(error_of(wrong) == wrong.string() + ":5: expected 3 cells, found 2");

  auto unterminated = write_file("unterminated.csv", "a,b\n1,2\n3,\"oops\n4,5\n");
  CHECK(error_of(unterminated) == unterminated.string() + ":3: unterminated quoted cell (a '\"' opened here is never closed)");

  auto junk = write_file("junk.csv", "a,b\n\"x\"y,2\n");
  CHECK_THAT(error_of(junk), Catch::StartsWith(junk.string() + ":2: unexpected character 'y'"));

  auto dup = write_file("dup.csv", "a,b,a\n1,2,3\n");
  CHECK(error_of(dup) == dup.string() + ":1: duplicate column \"a\" in the header");

  auto empty = write_file("empty.csv", "");
  CHECK(error_of(empty) == empty.string() + ":1: empty file (expected a header row)");

  CHECK_THAT(error_of(fs::path(HITL_BINARY_DIR) / "no-such-dir" / "x.csv"), Catch::EndsWith("x.csv: cannot open for reading"));
}

TEST_CASE("to_dataset splits the label, renders numeric labels without .0, skips missing labels") {
  auto p = write_file("labels.csv", "x,y,label\n1,a,1\n2,b,NA\n3,c,0\n4,d,2.5\n5,e,\n6,f,yes\n");
  auto ds = data::to_dataset(data::read_csv(p), "label");
  CHECK(ds.labels == std::vector<std::string>{"1", "0", "2.5", "yes"});
  REQUIRE(ds.rows.size() == 4);
  CHECK(ds.weights.empty());
  for (const auto& r : ds.rows) {
    REQUIRE(r.size() == 2);
    CHECK(r[0].first == "x");
    CHECK(r[1].first == "y");
  }
  CHECK(std::get<double>(cell(ds.rows[1], "x")) == 3.0);
  CHECK_THROWS_WITH(data::to_dataset(data::read_csv(p), "Label"), Catch::Contains("label column \"Label\""));
}

TEST_CASE("the credit_risk example data reads completely") {
  auto t = data::read_csv(fs::path(HITL_SOURCE_DIR) / "examples/credit_risk/data/credit_data.csv");
  CHECK(t.columns.size() == 14);
  CHECK(t.rows.size() == 4454);
  std::size_t missing_income = 0;
  for (const auto& r : t.rows) missing_income += std::holds_alternative<std::monostate>(cell(r, "Income"));
  CHECK(missing_income == 381);
  auto ds = data::to_dataset(t, "Status");
  CHECK(ds.rows.size() == 4454);
  CHECK(std::count(ds.labels.begin(), ds.labels.end(), "bad") == 1254);
}
