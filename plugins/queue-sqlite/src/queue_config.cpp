#include "queue_config.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

namespace hitl::queue_sqlite {

using nlohmann::json;
using sdk::Code;
using sdk::Status;

const char* const kConfigDoc = R"([
{"name":"path","type":"path","default":null,"description":"(required) SQLite database file, normally the one storage-sqlite uses; parent folders are created"},
{"name":"busy_timeout_ms","type":"integer","default":5000,"description":"how long a statement waits for a lock held by another connection before failing as unavailable"}
])";

namespace {

Status bad(const std::string& message) {
  return Status::Error(Code::invalid_argument, "queue-sqlite config: " + message);
}

// Lua numbers come through the host's Lua->JSON conversion as floats when written like 5e3:
// accept a float only when it is an exact integer.
bool as_int(const json& v, long long& out) {
  if (v.is_number_integer()) {
    out = v.get<long long>();
    return true;
  }
  if (v.is_number_unsigned()) {
    auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) return false;
    out = static_cast<long long>(u);
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15) return false;
    out = static_cast<long long>(d);
    return true;
  }
  return false;
}

}  // namespace

Status parse_queue_config(const char* json_text, QueueConfig& out) noexcept {
  try {
    std::string text = json_text ? json_text : "";
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) text = "{}";
    json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return bad("not valid JSON: " + text.substr(0, 80));
    if (!root.is_object()) return bad(std::string("must be a JSON object, got ") + root.type_name());

    QueueConfig cfg;
    bool have_path = false;
    for (const auto& [key, value] : root.items()) {
      if (key == "path") {
        if (!value.is_string())
          return bad(std::string("'path' must be a string, got ") + value.type_name());
        cfg.path = value.get<std::string>();
        if (cfg.path.empty()) return bad("'path' must not be empty");
        have_path = true;
      } else if (key == "busy_timeout_ms") {
        long long ms = 0;
        if (!as_int(value, ms))
          return bad(std::string("'busy_timeout_ms' must be an integer, got ") +
                     (value.is_number() ? "a non-integer number" : value.type_name()));
        if (ms < 0 || ms > std::numeric_limits<int>::max())
          return bad("'busy_timeout_ms' must be between 0 and 2147483647, got " + std::to_string(ms));
        cfg.busy_timeout_ms = static_cast<int>(ms);
      } else {
        return bad("unknown key '" + key + "' (known keys: path, busy_timeout_ms)");
      }
    }
    if (!have_path) return bad("'path' is required (a string: the SQLite database file)");
    out = std::move(cfg);
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string("queue-sqlite config: ") + e.what());
  }
}

}  // namespace hitl::queue_sqlite
