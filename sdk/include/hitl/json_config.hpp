#pragma once
// hitl plugin SDK helper: reading a factory's config_json with nlohmann_json, header-only.
// Include it only in a plugin that uses nlohmann_json (the SDK itself does not depend on it).
// Every message is meant to follow the plugin's own prefix, e.g. "model-x: " + message.
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

namespace hitl::sdk::json_config {

// The config as a JSON object: empty or blank text and `null` are an empty object (the host
// always sends an object; a test may send nothing). Returns the error, or nullopt.
inline std::optional<std::string> parse_object(const char* config_json, nlohmann::json& out) {
  const std::string text = config_json ? config_json : "";
  out = nlohmann::json::object();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return std::nullopt;
  try {
    out = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return std::string("config is not valid JSON: ") + e.what();
  }
  if (out.is_null()) out = nlohmann::json::object();
  if (!out.is_object()) return std::string("config must be a JSON object, got ") + out.type_name();
  return std::nullopt;
}

// "config key \"<key>\": expected <want>, got <value as JSON>"
inline std::string wrong_value(const std::string& key, const char* want, const nlohmann::json& value) {
  return "config key \"" + key + "\": expected " + want + ", got " + value.dump();
}

// An integer-valued JSON number within [lo, hi] (2.0 counts, 2.5 does not: Lua numbers come
// through the host's Lua -> JSON conversion as floats).
inline bool integer_in(const nlohmann::json& v, double lo, double hi) {
  if (!v.is_number()) return false;
  const double d = v.get<double>();
  return std::floor(d) == d && d >= lo && d <= hi;
}

// A finite JSON number > lo (or >= lo when `inclusive`).
inline bool number_above(const nlohmann::json& v, double lo, bool inclusive) {
  if (!v.is_number()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && (inclusive ? d >= lo : d > lo);
}

// The whole file at `path` (an artifact a model loads). Returns the error, or nullopt.
inline std::optional<std::string> read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "artifact \"" + path + "\": cannot open (" + std::strerror(errno) + ")";
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return "artifact \"" + path + "\": read error";
  return std::nullopt;
}

}  // namespace hitl::sdk::json_config
