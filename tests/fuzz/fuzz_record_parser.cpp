// Fuzz target: one predictions record, as a client sends it, through the record parser (bounded
// JSON parse, strict fields, id and label rules) and the serialisations the pipeline does next.
// The only acceptable failure is a ServiceError (a 4xx for the client).
#include "ingest/ingest_body.hpp"
#include "common/service_error.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> labels = {"good", "bad"};
  static const hitl::service::IngestLimits limits{64, 100, labels};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto r = hitl::service::parse_record_line(text, "", limits);
    // What ingest does with an accepted record must not throw either (dump checks UTF-8).
    (void)r.input.dump();
    (void)r.meta.dump();
  } catch (const hitl::service::ServiceError&) {
  }
  return 0;
}
