#pragma once
// hitl plugin SDK helper: reading a factory's config_json with nlohmann_json, header-only.
// Include it only in a plugin that uses nlohmann_json (the SDK itself does not depend on it).
// Every message is meant to follow the plugin's own prefix, e.g. "model-x: " + message.
#include <hitl/model_support.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

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

// The whole file at `path` (an artifact a model loads). Returns the error, or nullopt. Kept for
// plugins built against format 6; model_support::read_artifact is the same.
inline std::optional<std::string> read_file(const std::string& path, std::string& out) {
  return model_support::read_artifact(path, out);
}

// An artifact's text as a JSON object (what model plugins write with `hitl train`). Returns the
// error ("not valid JSON: ..." / "expected a JSON object"), or nullopt.
inline std::optional<std::string> parse_artifact(const std::string& text, nlohmann::json& out) {
  try {
    out = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return std::string("not valid JSON: ") + e.what();
  }
  if (!out.is_object()) return std::string("expected a JSON object");
  return std::nullopt;
}

inline std::string wrong_value(const std::string& key, const std::string& want, const nlohmann::json& value) {
  return wrong_value(key, want.c_str(), value);
}

// ---------------------------------------------------------------------------------------------
// Options: a plugin lists the keys it accepts, each with a reader that checks the value and
// stores it; read_options() applies the list to a config object. A reader returns nullopt when
// it took the value, or the whole error (usually wrong_value(key, what it expects, value)).

using OptionReader = std::function<std::optional<std::string>(const std::string& key, const nlohmann::json& value)>;

struct Option {
  const char* key;
  OptionReader read;
};

// Reads every key of `cfg` with its option, in the config's key order; the first error wins. A
// key no option names is `unknown config key "<key>" (known: <the options' keys, in order>)`.
inline std::optional<std::string> read_options(const nlohmann::json& cfg, const std::vector<Option>& options) {
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    const auto option = std::find_if(options.begin(), options.end(), [&](const Option& o) { return it.key() == o.key; });
    if (option != options.end()) {
      if (auto error = option->read(it.key(), it.value())) return error;
      continue;
    }
    std::string known;
    for (const auto& o : options) known.append(known.empty() ? "" : ", ").append(o.key);
    return "unknown config key \"" + it.key() + "\" (known: " + known + ")";
  }
  return std::nullopt;
}

// parse_object() and read_options() in one: the factory's config_json into the options.
inline std::optional<std::string> read_config(const char* config_json, const std::vector<Option>& options) {
  nlohmann::json cfg;
  if (auto error = parse_object(config_json, cfg)) return error;
  return read_options(cfg, options);
}

// An integer from lo to hi (see integer_in) into `dst`.
template <class Int>
OptionReader integer_option(Int& dst, long long lo, long long hi) {
  return [&dst, lo, hi](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    if (!integer_in(v, static_cast<double>(lo), static_cast<double>(hi)))
      return wrong_value(key, "an integer from " + std::to_string(lo) + " to " + std::to_string(hi), v);
    dst = static_cast<Int>(v.get<double>());
    return std::nullopt;
  };
}

// A bound as an error message writes it: 0 rather than 0.0.
inline std::string number_text(double d) {
  return std::floor(d) == d && std::fabs(d) < 1e15 ? std::to_string(static_cast<long long>(d)) : nlohmann::json(d).dump();
}

// A finite number > lo (>= lo when `inclusive`) into `dst`.
inline OptionReader number_option(double& dst, double lo, bool inclusive) {
  return [&dst, lo, inclusive](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    if (!number_above(v, lo, inclusive))
      return wrong_value(key, std::string("a number ") + (inclusive ? ">= " : "> ") + number_text(lo), v);
    dst = v.get<double>();
    return std::nullopt;
  };
}

// A non-empty string into `dst`; `what` describes it in the error ("a non-empty string" + what).
inline OptionReader string_option(std::string& dst, std::string what = "") {
  return [&dst, what](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    if (!v.is_string() || v.get<std::string>().empty()) return wrong_value(key, "a non-empty string" + what, v);
    dst = v.get<std::string>();
    return std::nullopt;
  };
}

// An array of distinct non-empty strings into `dst`, in their order.
inline OptionReader string_list_option(std::vector<std::string>& dst) {
  return [&dst](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    if (!v.is_array()) return wrong_value(key, "an array of non-empty strings", v);
    std::vector<std::string> list;
    std::set<std::string> seen;
    for (const auto& e : v) {
      if (!e.is_string() || e.get<std::string>().empty()) return wrong_value(key, "an array of non-empty strings", v);
      if (!seen.insert(e.get<std::string>()).second)
        return "config key \"" + key + "\": \"" + e.get<std::string>() + "\" is listed twice";
      list.push_back(e.get<std::string>());
    }
    dst.insert(dst.end(), list.begin(), list.end());
    return std::nullopt;
  };
}

// A file path (a non-empty string) into `dst`; null is the same as leaving the key out. Declare
// it `"type": "path"` in the config doc so the host resolves it against the config's folder.
inline OptionReader path_option(std::string& dst) {
  const OptionReader text = string_option(dst, " (file path)");
  return [text](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    return v.is_null() ? std::nullopt : text(key, v);
  };
}

// One of the named strings, into `dst` as its value; the error lists the names in order.
template <class T>
OptionReader choice_option(T& dst, std::vector<std::pair<std::string, T>> choices) {
  return [&dst, choices](const std::string& key, const nlohmann::json& v) -> std::optional<std::string> {
    for (const auto& [name, value] : choices) {
      if (v.is_string() && v.get<std::string>() == name) {
        dst = value;
        return std::nullopt;
      }
    }
    std::string want;
    for (std::size_t i = 0; i < choices.size(); ++i)
      want.append(i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ").append("\"" + choices[i].first + "\"");
    return wrong_value(key, want, v);
  };
}

}  // namespace hitl::sdk::json_config
