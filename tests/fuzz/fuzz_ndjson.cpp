// Fuzz target: a whole predictions body, split as NDJSON and also read as one JSON document
// (object or array), with small record limits so the too-many-records path is reached too.
#include "ingest/ingest_body.hpp"
#include "common/service_error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> labels = {"yes", "no", "good", "bad"};
  static const hitl::service::IngestLimits limits{16, 8, labels};
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (auto format : {hitl::service::BodyFormat::ndjson, hitl::service::BodyFormat::json}) {
    try {
      bool single = false;
      auto records = hitl::service::parse_predictions_body(body, format, limits, single);
      if (records.empty() || records.size() > limits.max_records) __builtin_trap();  // the contract
      if (single && records.size() != 1) __builtin_trap();
      for (auto& r : records) (void)r.meta.dump();
    } catch (const hitl::service::ServiceError&) {
    }
  }
  return 0;
}
