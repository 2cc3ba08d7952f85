#include "data/json_input.hpp"

#include "common/json_depth.hpp"

#include <nlohmann/json.hpp>

namespace hitl::data {

void parse_untrusted_json(std::string_view text, int max_depth, nlohmann::json& out) {
  if (text.find('\0') != std::string_view::npos)
    throw JsonInputError(JsonInputProblem::malformed, "not valid JSON: a NUL byte at offset " +
                                                          std::to_string(text.find('\0')));
  const auto limit = static_cast<std::size_t>(max_depth > 0 ? max_depth : 1);
  if (json_nesting_depth(text, limit) > limit)
    throw JsonInputError(JsonInputProblem::too_deep,
                         "JSON nested deeper than " + std::to_string(limit) + " levels (max_json_depth)");
  out = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) throw JsonInputError(JsonInputProblem::malformed, "not valid JSON");
}

}  // namespace hitl::data
