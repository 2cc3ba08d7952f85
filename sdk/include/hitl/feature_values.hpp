#pragma once
// hitl plugin SDK helper: how a model reads the values of a Record, header-only and without
// dependencies, so every model plugin reads a client's record the same way. No part of the
// plugin ABI (each plugin compiles its own copy).
#include <hitl/plugin_api.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <variant>
#include <vector>

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

// Feature name -> its index in the model's feature list.
using FeatureIndex = std::unordered_map<std::string, std::size_t>;

// Lays the features out side by side in the encoded row: each gets the first slot after the
// previous one's and width(feature) slots; `index` maps the names. Features are structs with
// `name`, `slot` and `width`. Returns the row's width (all slots).
template <class Feature, class Width>
std::uint32_t lay_out(std::vector<Feature>& features, FeatureIndex& index, Width width) {
  index.clear();
  std::uint32_t slot = 0;
  for (std::size_t i = 0; i < features.size(); ++i) {
    Feature& f = features[i];
    f.slot = slot;
    f.width = width(f);
    slot += f.width;
    index.emplace(f.name, i);
  }
  return slot;
}

// The value of each known feature in `record`, by feature index (null = absent); fields the
// model does not know are ignored. (Not a thread_local buffer: TLS destructors would pin the
// plugin's .so and block unloading.)
inline std::vector<const Value*> known_values(const Record& record, const FeatureIndex& index, std::size_t features) {
  std::vector<const Value*> values(features, nullptr);
  for (const auto& [name, value] : record)
    if (auto it = index.find(name); it != index.end()) values[it->second] = &value;
  return values;
}

// The position of `text` in the sorted `categories`, or -1 when training never saw it.
inline std::ptrdiff_t category_position(const std::vector<std::string>& categories, const std::string& text) {
  auto it = std::lower_bound(categories.begin(), categories.end(), text);
  return it != categories.end() && *it == text ? it - categories.begin() : -1;
}

}  // namespace hitl::sdk::features
