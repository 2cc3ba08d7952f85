#include "data/client_json.hpp"

#include "common/utf8.hpp"
#include "data/json_input.hpp"
#include "common/service_error.hpp"

namespace hitl::service {

nlohmann::json parse_client_json(std::string_view text, int max_depth, const std::string& where) {
  nlohmann::json out;
  try {
    data::parse_untrusted_json(text, max_depth, out);
  } catch (const data::JsonInputError& e) {
    const std::string prefix = where.empty() ? "request body: " : where + ": ";
    if (e.problem == data::JsonInputProblem::too_deep)
      throw ServiceError(422, "too_deep", prefix + e.what(), where.empty() ? "(body)" : where);
    throw ServiceError(400, "malformed_json", prefix + e.what(), where);
  }
  return out;
}

void check_client_text(std::string_view value, const std::string& field, std::size_t max_chars, bool may_be_empty,
                       bool multiline) {
  const auto chars = utf8_length(value);
  if (!chars) throw ServiceError(422, "invalid_field", field + ": not valid UTF-8", field);
  if (*chars == 0 && !may_be_empty) throw ServiceError(422, "invalid_field", field + ": must not be empty", field);
  if (*chars > max_chars)
    throw ServiceError(422, "invalid_field",
                       field + ": longer than " + std::to_string(max_chars) + " characters", field);
  if (has_control_chars(value, multiline))
    throw ServiceError(422, "invalid_field", field + ": must not contain control characters", field);
}

}  // namespace hitl::service
