#pragma once
// JSON from outside the process (request bodies, NDJSON lines, JSONL files): parsed only after
// its nesting depth is checked, so no parse, copy, dump or walk of it can recurse without bound.
#include <nlohmann/json_fwd.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace hitl::data {

enum class JsonInputProblem {
  malformed,  // not JSON, trailing bytes, a NUL byte, invalid UTF-8 in a string
  too_deep,   // arrays/objects nested deeper than the limit
};

class JsonInputError : public std::runtime_error {
 public:
  JsonInputError(JsonInputProblem p, const std::string& message) : std::runtime_error(message), problem(p) {}
  JsonInputProblem problem;
};

// Parses `text` into `out`, refusing (JsonInputError) documents nested deeper than `max_depth`
// and any NUL byte (nlohmann's parser would stop at a NUL and ignore what follows it).
void parse_untrusted_json(std::string_view text, int max_depth, nlohmann::json& out);

}  // namespace hitl::data
