// Bounded parsing of client JSON, and the UTF-8 rules every text field is checked with.
#include "common/json_depth.hpp"
#include "common/utf8.hpp"
#include "data/json_input.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using hitl::data::JsonInputError;
using hitl::data::JsonInputProblem;
using hitl::data::parse_untrusted_json;

namespace {
std::string nested(std::size_t n) { return std::string(n, '[') + std::string(n, ']'); }

JsonInputProblem problem_of(const std::string& text, int max_depth) {
  nlohmann::json out;
  try {
    parse_untrusted_json(text, max_depth, out);
  } catch (const JsonInputError& e) {
    return e.problem;
  }
  FAIL("parsed: " << text.substr(0, 80));
  return JsonInputProblem::malformed;
}
}  // namespace

TEST_CASE("json_nesting_depth counts brackets outside strings and stops past the limit", "[json_input]") {
  CHECK(hitl::json_nesting_depth("1", 10) == 0);
  CHECK(hitl::json_nesting_depth("{}", 10) == 1);
  CHECK(hitl::json_nesting_depth(R"({"a":[{"b":[]}]})", 10) == 4);
  CHECK(hitl::json_nesting_depth(R"({"a":"[[[[{{{{"})", 10) == 1);          // brackets in a string
  CHECK(hitl::json_nesting_depth(R"({"a":"\"[[[[","b":[]})", 10) == 2);     // an escaped quote
  CHECK(hitl::json_nesting_depth(R"(["\\",[[]]])", 10) == 3);                // an escaped backslash
  CHECK(hitl::json_nesting_depth(nested(5'000'000), 64) == 65);              // stops early, no recursion
  CHECK(hitl::json_nesting_depth("]]]]}}}[", 10) == 1);                      // malformed: finite answer
}

TEST_CASE("parse_untrusted_json refuses deep documents, NUL bytes and bad JSON", "[json_input]") {
  nlohmann::json out;
  parse_untrusted_json(nested(64), 64, out);
  CHECK(out.is_array());
  CHECK(problem_of(nested(65), 64) == JsonInputProblem::too_deep);
  CHECK(problem_of(nested(200000), 64) == JsonInputProblem::too_deep);
  CHECK(problem_of(std::string("{}\0trailing", 11), 64) == JsonInputProblem::malformed);
  CHECK(problem_of(std::string("\0", 1), 64) == JsonInputProblem::malformed);
  CHECK(problem_of("{\"a\":\"\xff\"}", 64) == JsonInputProblem::malformed);
  CHECK(problem_of("{} {}", 64) == JsonInputProblem::malformed);
  CHECK(problem_of("", 64) == JsonInputProblem::malformed);
}

TEST_CASE("utf8_length counts code points and refuses malformed sequences", "[utf8]") {
  CHECK(hitl::utf8_length("") == 0u);
  CHECK(hitl::utf8_length("abc") == 3u);
  CHECK(hitl::utf8_length("\xc3\xbc") == 1u);                 // ü
  CHECK(hitl::utf8_length("\xe2\x82\xac") == 1u);             // €
  CHECK(hitl::utf8_length("\xf0\x9f\x98\x80") == 1u);         // U+1F600
  CHECK_FALSE(hitl::utf8_length("\xc3").has_value());         // truncated
  CHECK_FALSE(hitl::utf8_length("\xc0\xaf").has_value());     // overlong '/'
  CHECK_FALSE(hitl::utf8_length("\xe0\x80\xaf").has_value()); // overlong 3-byte
  CHECK_FALSE(hitl::utf8_length("\xed\xa0\x80").has_value()); // a UTF-16 surrogate
  CHECK_FALSE(hitl::utf8_length("\xf4\x90\x80\x80").has_value());  // past U+10FFFF
  CHECK_FALSE(hitl::utf8_length("\xff").has_value());
  CHECK_FALSE(hitl::valid_utf8("ok\x80"));
  CHECK(hitl::valid_utf8("Z\xc3\xbcrich"));
}

TEST_CASE("has_control_chars finds C0 controls and DEL, newlines only when allowed", "[utf8]") {
  CHECK_FALSE(hitl::has_control_chars("plain text"));
  CHECK(hitl::has_control_chars(std::string("a\0b", 3)));
  CHECK(hitl::has_control_chars("a\x7f"));
  CHECK(hitl::has_control_chars("two\nlines"));
  CHECK_FALSE(hitl::has_control_chars("two\nlines\tand\r", /*allow_newlines=*/true));
  CHECK(hitl::has_control_chars("bell\a", true));
}
