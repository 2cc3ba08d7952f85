#pragma once
// The records of a predictions request (HTTP body or a JSONL file's lines), parsed and checked
// before anything is scored: bounded depth, known fields only, ids of 1..256 characters, a
// client's prediction using the domain's labels. Shared by the API, `hitl ingest` and the fuzzer.
#include <hitl/plugin_api.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hitl::service {

struct IngestRecord {
  std::string id;
  nlohmann::json input;  // object
  nlohmann::json meta;   // object (empty when absent)
  bool has_prediction = false;
  sdk::Prediction prediction;
};

struct IngestLimits {
  int max_depth = 64;                    // max_json_depth
  std::size_t max_records = 10000;       // max_batch_records
  // The domain's label set (a client's prediction uses one); a view, so no request copies it.
  std::span<const std::string> labels;
};

inline constexpr std::size_t kMaxIdChars = 256;

enum class BodyFormat { json, ndjson };

// One record object; throws ServiceError 422 naming `where` + ".field". Moves out of `obj`.
IngestRecord parse_record(nlohmann::json&& obj, const std::string& where, const IngestLimits& limits);

// One line of NDJSON / JSONL (`where` e.g. "line 3"); throws ServiceError (400, 422).
IngestRecord parse_record_line(std::string_view line, const std::string& where, const IngestLimits& limits);

// A whole predictions body: a record object (`single` set), an array of them, or NDJSON lines.
// Throws ServiceError: 400 malformed_json, 413 too_many_records, 422 too_deep / invalid_field.
std::vector<IngestRecord> parse_predictions_body(std::string_view body, BodyFormat format, const IngestLimits& limits,
                                                 bool& single);

// True for a line of NDJSON that holds only blanks (skipped, not a record).
bool blank_line(std::string_view line) noexcept;

}  // namespace hitl::service
