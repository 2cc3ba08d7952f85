// Training feature statistics (the `.features.json` sidecar of a model artifact) and the
// out-of-distribution score of one input. ood_score runs once per scored record on the ingest
// path: map lookups and a few floating point operations per feature, no allocation beyond the
// result.
#include "data/feature_stats.hpp"

#include "common/files.hpp"
#include "common/hash.hpp"
#include "data/records.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace hitl::data {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kFormat = "hitl-feature-stats";
constexpr int kVersion = 1;

// The categorical text of a value; false for a missing one.
bool category_of(const sdk::Value& v, std::string& out) {
  if (const auto* s = std::get_if<std::string>(&v)) out = *s;
  else if (const auto* b = std::get_if<bool>(&v)) out = *b ? "true" : "false";
  else if (const auto* d = std::get_if<double>(&v)) out = number_text(*d);
  else return false;
  return true;
}

// z of a categorical value seen in `seen` of `count` rows (see the header).
double rarity_z(std::uint64_t seen, std::uint64_t count) {
  const double f = (static_cast<double>(seen) + 0.5) / (static_cast<double>(count) + 1.0);
  return f >= 1.0 ? 0.0 : std::sqrt(2.0 * std::log(1.0 / f));
}

[[noreturn]] void malformed(const std::string& what) { throw std::runtime_error(what); }

std::uint64_t get_count(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned())
    malformed(where + "." + key + ": expected a non-negative integer");
  return it->get<std::uint64_t>();
}

double get_number(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) malformed(where + "." + key + ": expected a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) malformed(where + "." + key + ": expected a finite number");
  return v;
}
}  // namespace

FeatureStats compute_feature_stats(const std::vector<sdk::Record>& rows) {
  FeatureStats st;
  st.rows = rows.size();
  // Pass 1: which columns are numeric (every value a number).
  std::map<std::string, bool> numeric;
  for (const auto& row : rows)
    for (const auto& [name, v] : row) {
      if (std::holds_alternative<std::monostate>(v)) {
        numeric.emplace(name, true);
        continue;
      }
      auto [it, fresh] = numeric.emplace(name, std::holds_alternative<double>(v));
      if (!fresh && !std::holds_alternative<double>(v)) it->second = false;
    }
  // Pass 2: Welford's running mean and variance for numbers, counts for categories.
  std::map<std::string, double> m2;
  std::map<std::string, std::map<std::string, std::uint64_t>> counts;
  std::string text;
  for (const auto& row : rows)
    for (const auto& [name, v] : row) {
      if (numeric.at(name)) {
        auto& n = st.numeric[name];
        const auto* x = std::get_if<double>(&v);
        if (!x) continue;
        ++n.count;
        if (n.count == 1) n.min = n.max = *x;
        n.min = std::min(n.min, *x);
        n.max = std::max(n.max, *x);
        const double delta = *x - n.mean;
        n.mean += delta / static_cast<double>(n.count);
        m2[name] += delta * (*x - n.mean);
      } else {
        auto& c = st.categorical[name];
        if (!category_of(v, text)) continue;
        ++c.count;
        ++counts[name][text];
      }
    }
  for (auto& [name, n] : st.numeric) n.std = n.count > 1 ? std::sqrt(m2[name] / static_cast<double>(n.count - 1)) : 0.0;
  for (auto& [name, all] : counts) {
    auto& c = st.categorical[name];
    if (all.size() <= FeatureStats::kMaxCategories) {
      c.values = std::move(all);
      continue;
    }
    // An id-like column: keep the most frequent values (ties by value, for a stable file).
    std::vector<std::pair<std::string, std::uint64_t>> v(all.begin(), all.end());
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i < FeatureStats::kMaxCategories) c.values.insert(v[i]);
      else c.other += v[i].second;
    }
  }
  // A column seen only as missing values is numeric with count 0: nothing to compare against.
  return st;
}

fs::path feature_stats_path(const fs::path& artifact) {
  fs::path p = artifact;
  p += ".features.json";
  return p;
}

std::string feature_stats_to_json(const FeatureStats& st) {
  json num = json::object(), cat = json::object();
  for (const auto& [name, n] : st.numeric)
    num[name] = {{"count", n.count}, {"mean", n.mean}, {"std", n.std}, {"min", n.min}, {"max", n.max}};
  for (const auto& [name, c] : st.categorical) {
    json values = json::object();
    for (const auto& [v, k] : c.values) values[v] = k;
    cat[name] = {{"count", c.count}, {"values", std::move(values)}, {"other", c.other}};
  }
  json j = {{"format", kFormat}, {"version", kVersion}, {"rows", st.rows}, {"numeric", std::move(num)},
            {"categorical", std::move(cat)}};
  if (!st.artifact_sha256.empty()) j["artifact_sha256"] = st.artifact_sha256;
  if (const auto& l = st.base_holdout_left_out)
    j["base_holdout_left_out"] = {{"fraction", l->fraction}, {"rows", l->rows}, {"file", l->file}};
  return j.dump(1) + "\n";
}

namespace {
BaseHoldoutLeftOut left_out_from_json(const json& l) {
  const std::string where = "base_holdout_left_out";
  if (!l.is_object()) malformed(where + ": expected an object");
  BaseHoldoutLeftOut out;
  out.fraction = get_number(l, "fraction", where);
  if (!(out.fraction >= 0 && out.fraction <= 1)) malformed(where + ".fraction: expected a share in [0, 1]");
  out.rows = get_count(l, "rows", where);
  if (l.contains("file")) {
    if (!l["file"].is_string()) malformed(where + ".file: expected a string");
    out.file = l["file"].get<std::string>();
  }
  return out;
}
}  // namespace

FeatureStats feature_stats_from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    malformed(std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) malformed("expected a JSON object");
  if (j.value("format", "") != kFormat) malformed(std::string("format: expected \"") + kFormat + "\"");
  if (!j.contains("version") || j["version"] != kVersion)
    malformed("version: expected " + std::to_string(kVersion) + " (written by another hitl?)");
  FeatureStats st;
  st.rows = get_count(j, "rows", "(top level)");
  if (auto h = j.find("artifact_sha256"); h != j.end()) {
    if (!h->is_string() || h->get<std::string>().size() != 64) malformed("artifact_sha256: expected 64 hex digits");
    st.artifact_sha256 = h->get<std::string>();
  }
  if (auto l = j.find("base_holdout_left_out"); l != j.end()) st.base_holdout_left_out = left_out_from_json(*l);
  for (const char* section : {"numeric", "categorical"})
    if (!j.contains(section) || !j[section].is_object()) malformed(std::string(section) + ": expected an object");
  for (const auto& [name, n] : j["numeric"].items()) {
    const std::string where = "numeric." + name;
    if (!n.is_object()) malformed(where + ": expected an object");
    NumericStats s;
    s.count = get_count(n, "count", where);
    s.mean = get_number(n, "mean", where);
    s.std = get_number(n, "std", where);
    s.min = get_number(n, "min", where);
    s.max = get_number(n, "max", where);
    if (s.std < 0) malformed(where + ".std: must not be negative");
    if (s.count > st.rows) malformed(where + ".count: more than rows");
    st.numeric[name] = s;
  }
  for (const auto& [name, c] : j["categorical"].items()) {
    const std::string where = "categorical." + name;
    if (!c.is_object()) malformed(where + ": expected an object");
    CategoricalStats s;
    s.count = get_count(c, "count", where);
    s.other = c.contains("other") ? get_count(c, "other", where) : 0;
    auto values = c.find("values");
    if (values == c.end() || !values->is_object()) malformed(where + ".values: expected an object");
    for (const auto& [v, k] : values->items()) {
      if (!k.is_number_unsigned()) malformed(where + ".values." + v + ": expected a non-negative integer");
      s.values[v] = k.get<std::uint64_t>();
    }
    if (s.count > st.rows) malformed(where + ".count: more than rows");
    st.categorical[name] = std::move(s);
  }
  return st;
}

bool feature_stats_match(const FeatureStats& stats, const std::string& artifact_text) {
  return stats.artifact_sha256.empty() || stats.artifact_sha256 == sha256_hex(artifact_text);
}

void save_feature_stats(const FeatureStats& stats, const fs::path& artifact) {
  replace_file(feature_stats_path(artifact), feature_stats_to_json(stats));
}

std::optional<FeatureStats> load_feature_stats(const fs::path& artifact) {
  const fs::path p = feature_stats_path(artifact);
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  try {
    return feature_stats_from_json(read_whole_file(p));
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    // read_whole_file already names the path.
    throw std::runtime_error(msg.rfind(p.string(), 0) == 0 ? msg : p.string() + ": " + msg);
  }
}

OodScore ood_score(const FeatureStats& st, const sdk::Record& row, std::size_t top_n) {
  OodScore out;
  double sum_sq = 0;
  // Names by pointer into the row until the top n are known: no string copies per feature.
  std::vector<std::pair<const std::string*, double>> zs;
  zs.reserve(row.size());
  std::string text;
  for (const auto& [name, v] : row) {
    if (std::holds_alternative<std::monostate>(v)) continue;
    double z = -1;
    if (auto n = st.numeric.find(name); n != st.numeric.end()) {
      if (n->second.count == 0) continue;
      if (const auto* x = std::get_if<double>(&v)) {
        const double d = std::fabs(*x - n->second.mean);
        z = n->second.std > 0 ? std::min(d / n->second.std, OodScore::kMaxZ) : (d == 0 ? 0.0 : OodScore::kMaxZ);
      } else {
        z = rarity_z(0, n->second.count);  // a word where the model saw only numbers
      }
    } else if (auto c = st.categorical.find(name); c != st.categorical.end()) {
      if (c->second.count == 0 || !category_of(v, text)) continue;
      auto seen = c->second.values.find(text);
      std::uint64_t k = 0;
      if (seen != c->second.values.end()) {
        k = seen->second;
      } else if (c->second.other > 0 && !c->second.values.empty()) {
        // The cap dropped rare values: an unknown one may be one of them, so it counts as seen once.
        k = 1;
      }
      z = rarity_z(k, c->second.count);
    } else {
      continue;  // not a training feature
    }
    ++out.compared;
    sum_sq += z * z;
    out.score = std::max(out.score, z);
    zs.emplace_back(&name, z);
  }
  if (zs.empty()) return out;
  out.rms = std::sqrt(sum_sq / static_cast<double>(zs.size()));
  const std::size_t n = std::min(top_n, zs.size());
  std::partial_sort(zs.begin(), zs.begin() + static_cast<std::ptrdiff_t>(n), zs.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && *a.first < *b.first);
  });
  out.furthest.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.furthest.emplace_back(*zs[i].first, zs[i].second);
  return out;
}

}  // namespace hitl::data
