#pragma once
// model-http: request bodies and response parsing for the two wire protocols.
#include "config.hpp"

#include <string>
#include <vector>

namespace hitl::model_http {

// Builds the POST body for `rows`. invalid_argument (naming row and field) when a record
// cannot be sent, e.g. a non-numeric string in a kserve-v2 feature.
sdk::Status encode_request(const Config& config, const std::vector<sdk::Record>& rows, std::string& body);

// Parses a 2xx response body into exactly `rows` predictions; Code::internal with a one-line
// description of what was wrong otherwise (the server is then treated as broken).
sdk::Status decode_response(const Config& config, std::size_t rows, const std::string& body,
                            std::vector<sdk::Prediction>& out);

}  // namespace hitl::model_http
