#pragma once
// JSON a client sent, parsed under the service's limits, with the API's error codes:
//   400 malformed_json  not JSON, a NUL byte, invalid UTF-8, trailing bytes
//   422 too_deep        nested deeper than max_json_depth
// Every request body and every NDJSON / JSONL line goes through here (one rule in one place).
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace hitl::service {

// `where` prefixes the message ("line 3", "" for a whole body).
nlohmann::json parse_client_json(std::string_view text, int max_depth, const std::string& where = {});

// A string field a client names things with (ids, reviewer ids, names, reasons): well-formed
// UTF-8, no control characters unless `multiline`, 1..max_chars characters (code points; 0 chars
// allowed when `may_be_empty`). Throws ServiceError 422 invalid_field naming `field`.
void check_client_text(std::string_view value, const std::string& field, std::size_t max_chars,
                       bool may_be_empty = false, bool multiline = false);

}  // namespace hitl::service
