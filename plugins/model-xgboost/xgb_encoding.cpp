// model-xgboost: feature encoding (records -> dense float rows) and the JSON artifact.
#include "xgb.hpp"

#include <hitl/feature_values.hpp>
#include <hitl/json_config.hpp>
#include <hitl/training_set.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace hitl::xgb {

using nlohmann::json;
using sdk::features::category_text;
using sdk::features::is_missing;

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

}  // namespace

void Encoding::layout() {
  slots = sdk::features::lay_out(features, feature_index, [](const Feature& f) {
    return f.categorical ? static_cast<std::uint32_t>(f.categories.size()) : 1u;
  });
}

void Encoding::encode(const sdk::Record& record, float* out) const {
  std::fill(out, out + slots, kMissing);
  const std::vector<const sdk::Value*> values = sdk::features::known_values(record, feature_index, features.size());
  for (std::size_t i = 0; i < features.size(); ++i) {
    const Feature& f = features[i];
    const sdk::Value* v = values[i];
    if (is_missing(v)) continue;  // NaN in every slot of the column
    if (f.categorical) {
      // Present: exactly one slot is 1 when the category is known, none when it is not.
      std::fill(out + f.slot, out + f.slot + f.width, 0.0f);
      const auto at = sdk::features::category_position(f.categories, category_text(*v));
      if (at >= 0) out[f.slot + at] = 1.0f;
      continue;
    }
    const auto numeric = sdk::features::numeric_value(v, f.name);
    if (numeric.kind == sdk::features::NumericKind::invalid) throw XgbError(numeric.error);
    if (numeric.kind == sdk::features::NumericKind::number) out[f.slot] = static_cast<float>(numeric.value);
  }
}

std::vector<std::string> Encoding::slot_names() const {
  std::vector<std::string> names;
  names.reserve(slots);
  for (const auto& f : features) {
    if (!f.categorical) names.push_back(f.name);
    for (const auto& c : f.categories) names.push_back(f.name + "=" + c);
  }
  return names;
}

std::vector<std::size_t> Encoding::slot_features() const {
  std::vector<std::size_t> of(slots);
  for (std::size_t i = 0; i < features.size(); ++i)
    std::fill_n(of.begin() + features[i].slot, features[i].width, i);
  return of;
}

Encoding learn_encoding(const std::vector<sdk::Record>& rows) {
  const auto columns = sdk::training::scan_columns(rows);
  const auto categories = sdk::training::categories(rows, columns);
  Encoding e;
  for (std::size_t c = 0; c < columns.list.size(); ++c) {
    if (columns.list[c].present == 0) continue;  // never has a value: carries no information
    Feature f;
    f.name = columns.list[c].name;
    f.categorical = columns.list[c].any_text;
    if (f.categorical) f.categories.assign(categories[c].begin(), categories[c].end());
    e.features.push_back(std::move(f));
  }
  if (e.features.empty()) throw XgbError("the training data has no column with a value");
  e.layout();
  return e;
}

// ---------------------------------------------------------------------------------------------
// Artifact

std::string to_json(const Trained& m) {
  json features = json::array();
  for (const auto& f : m.encoding.features) {
    json o = {{"name", f.name}, {"kind", f.categorical ? "categorical" : "numeric"}};
    if (f.categorical) o["categories"] = f.categories;
    features.push_back(std::move(o));
  }
  json booster;
  try {
    booster = json::parse(m.booster->save_json());
  } catch (const json::exception& e) {
    throw XgbError(std::string("the booster saved by XGBoost is not valid JSON: ") + e.what());
  }
  json artifact = {
      {"format", "hitl-xgboost"},
      {"version", 1},
      {"classes", m.classes},
      {"objective", m.binary() ? "binary:logistic" : "multi:softprob"},
      {"features", std::move(features)},
      {"slots", m.encoding.slot_names()},
      {"params",
       {{"num_round", m.hyper.num_round},
        {"max_depth", m.hyper.max_depth},
        {"eta", m.hyper.eta},
        {"seed", m.hyper.seed},
        {"tree_method", "hist"}}},
      {"contribution_bias", m.contribution_bias},
      {"training", {{"rows", m.rows}, {"metrics", json::parse(m.metrics_json)}}},
      {"booster", std::move(booster)}};
  return artifact.dump();
}

namespace {

const json& member(const json& o, const char* key, json::value_t type, const char* want) {
  auto it = o.find(key);
  if (it == o.end()) throw XgbError(std::string(key) + ": missing");
  const bool ok = it->type() == type ||
                  (type == json::value_t::number_integer && it->type() == json::value_t::number_unsigned);
  if (!ok) throw XgbError(std::string(key) + ": expected " + want + ", got " + it->dump());
  return *it;
}

std::vector<std::string> string_array(const json& a, const std::string& where) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) throw XgbError(where + "[" + std::to_string(i) + "]: expected a string");
    out.push_back(a[i].get<std::string>());
  }
  if (!std::is_sorted(out.begin(), out.end()) || std::adjacent_find(out.begin(), out.end()) != out.end())
    throw XgbError(where + ": must be sorted and unique");
  return out;
}

}  // namespace

Trained from_json(const std::string& text, int nthread) {
  json a;
  if (auto error = sdk::json_config::parse_artifact(text, a)) throw XgbError(*error);
  const json& format = member(a, "format", json::value_t::string, "\"hitl-xgboost\"");
  if (format != "hitl-xgboost") throw XgbError("format: expected \"hitl-xgboost\", got " + format.dump());
  if (member(a, "version", json::value_t::number_integer, "1") != 1)
    throw XgbError("version: unsupported version " + a["version"].dump() + " (this plugin reads 1)");

  Trained m;
  m.classes = string_array(member(a, "classes", json::value_t::array, "an array"), "classes");
  if (m.classes.size() < 2) throw XgbError("classes: need at least two");
  const json& features = member(a, "features", json::value_t::array, "an array");
  for (std::size_t i = 0; i < features.size(); ++i) {
    const std::string where = "features[" + std::to_string(i) + "]";
    try {
      const json& f = features[i];
      if (!f.is_object()) throw XgbError("expected an object");
      Feature feat;
      feat.name = member(f, "name", json::value_t::string, "a string").get<std::string>();
      const std::string kind = member(f, "kind", json::value_t::string, "a string").get<std::string>();
      if (kind == "categorical") {
        feat.categorical = true;
        feat.categories = string_array(member(f, "categories", json::value_t::array, "an array"), "categories");
      } else if (kind != "numeric") {
        throw XgbError("kind: expected \"numeric\" or \"categorical\", got \"" + kind + "\"");
      }
      m.encoding.features.push_back(std::move(feat));
    } catch (const XgbError& e) {
      throw XgbError(where + "." + e.what());
    }
  }
  if (m.encoding.features.empty()) throw XgbError("features: empty");
  m.encoding.layout();
  if (m.encoding.feature_index.size() != m.encoding.features.size()) throw XgbError("features: duplicate name");

  if (auto p = a.find("params"); p != a.end() && p->is_object()) {  // informational
    m.hyper.num_round = p->value("num_round", m.hyper.num_round);
    m.hyper.max_depth = p->value("max_depth", m.hyper.max_depth);
    m.hyper.eta = p->value("eta", m.hyper.eta);
    m.hyper.seed = p->value("seed", m.hyper.seed);
  }
  m.metrics_json = "{}";
  if (auto t = a.find("training"); t != a.end() && t->is_object()) {
    m.rows = t->value("rows", std::size_t{0});
    if (auto mt = t->find("metrics"); mt != t->end()) m.metrics_json = mt->dump();
  }

  const json& booster = member(a, "booster", json::value_t::object, "an object (XGBoost JSON model)");
  m.booster = std::make_unique<Booster>();
  try {
    m.booster->load_json(booster.dump());
  } catch (const XgbError& e) {
    throw XgbError(std::string("booster: ") + e.what());
  }
  m.hyper.nthread = nthread;
  m.finish(nthread);
  return m;
}

}  // namespace hitl::xgb
