#pragma once
// hitl plugin SDK helper: how a model reads the values of a Record, header-only and without
// dependencies, so every model plugin reads a client's record the same way. No part of the
// plugin ABI (each plugin compiles its own copy).
#include <hitl/plugin_api.hpp>

#include <charconv>
#include <cmath>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

namespace hitl::sdk::features {

// Absent (null pointer: the record has no such field), null, or a non-finite number.
inline bool is_missing(const Value* v) {
  if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return true;
  if (const auto* d = std::get_if<double>(v)) return !std::isfinite(*d);
  return false;
}

// The category a present value stands for: strings as they are, numbers as a CSV file writes
// them ("1", "2.5"), booleans "true" / "false". A model trained on a CSV and scored on JSON
// records must see the same categories. `v` must not be missing.
inline std::string category_text(const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  const double d = std::get<double>(v);
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

enum class NumericKind { missing, number, invalid };

struct Numeric {
  NumericKind kind = NumericKind::missing;
  double value = 0.0;  // when kind == number
  std::string error;   // when kind == invalid: names the feature and what it got
};

// A numeric feature's value: numbers as they are; strings parsed, since JSON clients sometimes
// quote numbers ("" and "NA" are missing, as in CSV files); booleans and other strings invalid.
inline Numeric numeric_value(const Value* v, std::string_view feature) {
  if (is_missing(v)) return {};
  if (const auto* d = std::get_if<double>(v)) return {NumericKind::number, *d, {}};
  const std::string name(feature);
  const auto* s = std::get_if<std::string>(v);
  if (s == nullptr) return {NumericKind::invalid, 0.0, "feature \"" + name + "\": expected a number, got a boolean"};
  if (s->empty() || *s == "NA") return {};
  double x = 0.0;
  const auto res = std::from_chars(s->data(), s->data() + s->size(), x);
  if (res.ec != std::errc() || res.ptr != s->data() + s->size() || !std::isfinite(x))
    return {NumericKind::invalid, 0.0, "feature \"" + name + "\": expected a number, got the string \"" + *s + "\""};
  return {NumericKind::number, x, {}};
}

}  // namespace hitl::sdk::features
