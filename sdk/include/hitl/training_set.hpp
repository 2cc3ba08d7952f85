#pragma once
// hitl plugin SDK helper: what an in-process trainer reads from a Dataset before it learns, the
// same way in every built-in model: the checks of its shape and weights, its classes, and its
// columns (which are categorical). Header-only and without dependencies; no part of the plugin
// ABI (each plugin compiles its own copy). Every message is meant to follow the plugin's prefix.
#include <hitl/feature_values.hpp>
#include <hitl/plugin_api.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace hitl::sdk::training {

// A Dataset checked for training.
struct Labelled {
  std::vector<double> weights;  // one per row: the dataset's, or 1 when it has none
  double total_weight = 0.0;
  std::vector<std::string> classes;     // the distinct labels, sorted (at least two)
  std::vector<std::uint32_t> class_of;  // each row's index into `classes`
};

// Checks that `data` has rows, a label and (if any) a finite weight >= 0 for each, a weight
// above 0 in all, and two classes at least. Returns the error, or nullopt with `out` filled.
inline std::optional<std::string> check(const Dataset& data, Labelled& out) {
  const std::size_t n = data.rows.size();
  const std::string rows = "the training data has " + std::to_string(n) + " rows but ";
  if (n == 0) return std::string("the training data has no rows");
  if (data.labels.size() != n) return rows + std::to_string(data.labels.size()) + " labels";
  if (!data.weights.empty() && data.weights.size() != n) return rows + std::to_string(data.weights.size()) + " weights";
  out.weights = data.weights.empty() ? std::vector<double>(n, 1.0) : data.weights;
  out.total_weight = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double w = out.weights[i];
    if (!std::isfinite(w) || w < 0.0)
      return "weight of row " + std::to_string(i + 1) + " is " + std::to_string(w) + "; weights must be finite and >= 0";
    out.total_weight += w;
  }
  if (out.total_weight <= 0.0) return std::string("every training row has weight 0");
  const std::set<std::string> classes(data.labels.begin(), data.labels.end());
  if (classes.size() < 2)
    return "the training data has only one class (\"" + *classes.begin() + "\"); need at least two";
  out.classes.assign(classes.begin(), classes.end());
  out.class_of.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    out.class_of[i] = static_cast<std::uint32_t>(
        std::lower_bound(out.classes.begin(), out.classes.end(), data.labels[i]) - out.classes.begin());
  return std::nullopt;
}

// One input column of the training rows.
struct Column {
  std::string name;
  bool any_text = false;    // a present value that is not a number: the column is categorical
  std::size_t present = 0;  // rows with a value that is not missing (features::is_missing)
};

struct Columns {
  std::vector<Column> list;  // in order of first appearance
  std::unordered_map<std::string, std::size_t> index;  // name -> position in `list`
};

// The columns of `rows`: a column whose values include text (or booleans) is categorical, its
// numbers then taken as category names (features::category_text).
inline Columns scan_columns(const std::vector<Record>& rows) {
  Columns out;
  for (const auto& row : rows)
    for (const auto& [name, value] : row) {
      auto [it, added] = out.index.emplace(name, out.list.size());
      if (added) out.list.push_back({name});
      Column& c = out.list[it->second];
      if (features::is_missing(&value)) continue;
      ++c.present;
      if (!std::holds_alternative<double>(value)) c.any_text = true;
    }
  return out;
}

// The categories of each categorical column (empty for the others), by position in `columns`.
inline std::vector<std::set<std::string>> categories(const std::vector<Record>& rows, const Columns& columns) {
  std::vector<std::set<std::string>> out(columns.list.size());
  for (const auto& row : rows)
    for (const auto& [name, value] : row) {
      const std::size_t c = columns.index.at(name);
      if (columns.list[c].any_text && !features::is_missing(&value)) out[c].insert(features::category_text(value));
    }
  return out;
}

}  // namespace hitl::sdk::training
