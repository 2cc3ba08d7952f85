#include "storage_config.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>

namespace hitl::storage_sqlite {

const char* const kConfigDoc = R"json([
  {"name": "path", "type": "path", "default": null,
   "description": "SQLite database file (required). Parent directories are created. A queue-sqlite plugin may share the same file."},
  {"name": "busy_timeout_ms", "type": "integer", "default": 5000,
   "description": "Milliseconds a connection waits for a lock held by another connection before the operation fails as unavailable."},
  {"name": "synchronous", "type": "string", "default": "normal",
   "description": "\"normal\" (WAL + synchronous=NORMAL: survives a process crash, may lose the last commits on power loss) or \"full\" (fsync on every commit)."}
])json";

namespace {

sdk::Status bad(std::string message) {
  return sdk::Status::Error(sdk::Code::invalid_argument, "storage-sqlite config: " + std::move(message));
}

}  // namespace

sdk::Status parse_config(const char* json_text, StorageConfig& out) {
  out = StorageConfig{};
  nlohmann::json doc;
  if (json_text == nullptr || std::strlen(json_text) == 0) {
    doc = nlohmann::json::object();
  } else {
    doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return bad("not valid JSON");
  }
  if (!doc.is_object()) return bad(std::string("expected a JSON object, got ") + doc.type_name());

  bool have_path = false;
  for (const auto& [key, value] : doc.items()) {
    if (key == "path") {
      if (!value.is_string()) return bad("'path' must be a string, got " + std::string(value.type_name()));
      out.path = value.get<std::string>();
      if (out.path.empty()) return bad("'path' must be a non-empty string");
      have_path = true;
    } else if (key == "busy_timeout_ms") {
      if (!value.is_number_integer())
        return bad("'busy_timeout_ms' must be an integer, got " + std::string(value.type_name()));
      // An unsigned beyond long long would wrap negative: clamp it so the range message is right.
      const long long v = value.is_number_unsigned() && value.get<unsigned long long>() >
                                                             static_cast<unsigned long long>(std::numeric_limits<long long>::max())
                              ? std::numeric_limits<long long>::max()
                              : value.get<long long>();
      if (v < 0 || v > std::numeric_limits<int>::max())
        return bad("'busy_timeout_ms' must be an integer between 0 and " +
                   std::to_string(std::numeric_limits<int>::max()) + ", got " + std::to_string(v));
      out.busy_timeout_ms = static_cast<int>(v);
    } else if (key == "synchronous") {
      if (!value.is_string())
        return bad("'synchronous' must be a string (\"normal\" or \"full\"), got " + std::string(value.type_name()));
      const auto s = value.get<std::string>();
      if (s == "normal") out.synchronous_full = false;
      else if (s == "full") out.synchronous_full = true;
      else return bad("'synchronous' must be \"normal\" or \"full\", got \"" + s + "\"");
    } else {
      return bad("unknown key '" + key + "' (known keys: path, busy_timeout_ms, synchronous)");
    }
  }
  if (!have_path) return bad("'path' (string) is required");
  return sdk::Status::Ok();
}

}  // namespace hitl::storage_sqlite
