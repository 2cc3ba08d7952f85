// model-logreg: the artifact, a JSON file the `artifact` option loads back.
//
//   {"format": "hitl-logreg", "version": 1,
//    "classes":  ["bad", "good"],
//    "features": [{"name": "Income", "kind": "numeric", "mean": 141.7, "std": 80.7, "has_missing": true},
//                 {"name": "Home", "kind": "categorical", "has_missing": true, "categories": ["owner", ...]}],
//    "slots":    ["Income", "Income:missing", "Home=owner", ...],   (informational: weight order)
//    "weights":  [[one number per slot], ...one array per class],
//    "bias":     [one number per class],
//    "training": {"rows": 4454, "hyper": {...}, "metrics": {...}}}
#include "logreg.hpp"

#include <hitl/json_config.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

namespace hitl::logreg {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const json& member(const json& obj, const std::string& path, const char* key, json::value_t type) {
  auto it = obj.find(key);
  const std::string where = path.empty() ? std::string(key) : path + "." + key;
  if (it == obj.end()) throw LogregError(where + ": missing");
  const bool ok = type == json::value_t::number_float ? it->is_number() : it->type() == type;
  if (!ok) {
    const char* want = type == json::value_t::number_float ? "number"
                       : type == json::value_t::string     ? "string"
                       : type == json::value_t::array      ? "array"
                       : type == json::value_t::boolean    ? "boolean"
                                                           : "object";
    throw LogregError(where + ": expected " + want + ", got " + it->type_name());
  }
  return *it;
}

double finite_number(const json& obj, const std::string& path, const char* key) {
  double v = member(obj, path, key, json::value_t::number_float).get<double>();
  if (!std::isfinite(v)) throw LogregError(path + "." + key + ": not a finite number");
  return v;
}

std::vector<double> numbers(const json& arr, const std::string& where, std::size_t expected) {
  if (!arr.is_array()) throw LogregError(where + ": expected array, got " + arr.type_name());
  if (arr.size() != expected)
    throw LogregError(where + ": has " + std::to_string(arr.size()) + " numbers, expected " + std::to_string(expected));
  std::vector<double> out;
  out.reserve(expected);
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_number() || !std::isfinite(arr[i].get<double>()))
      throw LogregError(where + "[" + std::to_string(i) + "]: expected a finite number");
    out.push_back(arr[i].get<double>());
  }
  return out;
}

std::vector<std::string> unique_strings(const json& arr, const std::string& where) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) throw LogregError(where + "[" + std::to_string(i) + "]: expected string");
    if (!seen.insert(arr[i].get<std::string>()).second)
      throw LogregError(where + ": \"" + arr[i].get<std::string>() + "\" appears twice");
    out.push_back(arr[i].get<std::string>());
  }
  return out;
}

const char* kind_name(FeatureKind k) {
  switch (k) {
    case FeatureKind::text: return "text";
    case FeatureKind::categorical: return "categorical";
    case FeatureKind::numeric: break;
  }
  return "numeric";
}

}  // namespace

static void read_training(const json& a, Params& p);

std::string to_json(const Params& p) {
  ordered_json features = ordered_json::array();
  for (const auto& f : p.features) {
    ordered_json j;
    j["name"] = f.name;
    j["kind"] = kind_name(f.kind);
    if (f.kind == FeatureKind::text) {
      j["has_missing"] = f.has_missing;
      j["buckets"] = f.buckets;
    } else if (f.kind == FeatureKind::categorical) {
      j["has_missing"] = f.has_missing;
      j["categories"] = f.categories;
    } else {
      j["mean"] = f.mean;
      j["std"] = f.std;
      j["has_missing"] = f.has_missing;
    }
    features.push_back(std::move(j));
  }
  const std::size_t K = p.classes.size();
  ordered_json weights = ordered_json::array();
  for (std::size_t k = 0; k < K; ++k) {
    ordered_json row = ordered_json::array();
    for (std::size_t j = 0; j < p.dims; ++j) row.push_back(p.weights[j * K + k]);
    weights.push_back(std::move(row));
  }
  ordered_json metrics;
  metrics["accuracy"] = p.report.accuracy;
  metrics["log_loss"] = p.report.log_loss;
  metrics["epochs"] = p.report.epochs_run;
  metrics["converged"] = p.report.converged;
  ordered_json hyper;
  hyper["l2"] = p.hyper.l2;
  hyper["epochs"] = p.hyper.epochs;
  hyper["learning_rate"] = p.hyper.learning_rate;

  ordered_json a;
  a["format"] = "hitl-logreg";
  a["version"] = 1;
  a["classes"] = p.classes;
  a["features"] = std::move(features);
  a["slots"] = p.slot_names();
  a["weights"] = std::move(weights);
  a["bias"] = p.bias;
  a["training"] = {{"rows", p.report.rows}, {"hyper", std::move(hyper)}, {"metrics", std::move(metrics)}};
  return a.dump(1) + "\n";
}

Params from_json(const std::string& text) {
  json a;
  if (auto error = sdk::json_config::parse_artifact(text, a)) throw LogregError(*error);
  if (auto it = a.find("format"); it == a.end() || *it != "hitl-logreg")
    throw LogregError("format: expected \"hitl-logreg\" (is this a model-logreg artifact?)");
  if (auto it = a.find("version"); it == a.end() || *it != 1)
    throw LogregError("version: expected 1, got " + (it == a.end() ? std::string("nothing") : it->dump()));

  Params p;
  p.classes = unique_strings(member(a, "", "classes", json::value_t::array), "classes");
  if (p.classes.size() < 2) throw LogregError("classes: need at least two");
  // Scoring relies on no particular order, but keep what training wrote (sorted) as is.

  const json& features = member(a, "", "features", json::value_t::array);
  std::set<std::string> names;
  for (std::size_t i = 0; i < features.size(); ++i) {
    const std::string path = "features[" + std::to_string(i) + "]";
    const json& fj = features[i];
    if (!fj.is_object()) throw LogregError(path + ": expected object");
    Feature f;
    f.name = member(fj, path, "name", json::value_t::string).get<std::string>();
    if (!names.insert(f.name).second) throw LogregError(path + ".name: \"" + f.name + "\" appears twice");
    const std::string kind = member(fj, path, "kind", json::value_t::string).get<std::string>();
    f.has_missing = member(fj, path, "has_missing", json::value_t::boolean).get<bool>();
    if (kind == "text") {
      f.kind = FeatureKind::text;
      const double b = finite_number(fj, path, "buckets");
      if (b < 1 || b > kMaxTextBuckets || b != std::floor(b))
        throw LogregError(path + ".buckets: expected a whole number 1.." + std::to_string(kMaxTextBuckets));
      f.buckets = static_cast<std::uint32_t>(b);
    } else if (kind == "categorical") {
      f.kind = FeatureKind::categorical;
      f.categories = unique_strings(member(fj, path, "categories", json::value_t::array), path + ".categories");
      if (!std::is_sorted(f.categories.begin(), f.categories.end()))
        throw LogregError(path + ".categories: must be sorted");  // encode() binary-searches them
    } else if (kind == "numeric") {
      f.mean = finite_number(fj, path, "mean");
      f.std = finite_number(fj, path, "std");
      if (f.std <= 0.0) throw LogregError(path + ".std: must be > 0");
    } else {
      throw LogregError(path + ".kind: expected \"numeric\", \"categorical\" or \"text\", got \"" + kind + "\"");
    }
    p.features.push_back(std::move(f));
  }
  p.layout();

  const std::size_t K = p.classes.size();
  const json& weights = member(a, "", "weights", json::value_t::array);
  if (weights.size() != K)
    throw LogregError("weights: has " + std::to_string(weights.size()) + " arrays, expected one per class (" +
                      std::to_string(K) + ")");
  p.weights.assign(p.dims * K, 0.0);
  for (std::size_t k = 0; k < K; ++k) {
    auto row = numbers(weights[k], "weights[" + std::to_string(k) + "]", p.dims);
    for (std::size_t j = 0; j < p.dims; ++j) p.weights[j * K + k] = row[j];
  }
  p.bias = numbers(member(a, "", "bias", json::value_t::array), "bias", K);

  // Informational fields: read what is there, never fail on them.
  try {
    read_training(a, p);
  } catch (const json::exception&) {
    // a hand-edited "training" block does not make the model unusable
  }
  return p;
}

static void read_training(const json& a, Params& p) {
  if (auto t = a.find("training"); t != a.end() && t->is_object()) {
    p.report.rows = t->value("rows", std::size_t{0});
    if (auto m = t->find("metrics"); m != t->end() && m->is_object()) {
      p.report.accuracy = m->value("accuracy", 0.0);
      p.report.log_loss = m->value("log_loss", 0.0);
      p.report.epochs_run = m->value("epochs", 0);
      p.report.converged = m->value("converged", false);
    }
    if (auto h = t->find("hyper"); h != t->end() && h->is_object()) {
      p.hyper.l2 = h->value("l2", p.hyper.l2);
      p.hyper.epochs = h->value("epochs", p.hyper.epochs);
      p.hyper.learning_rate = h->value("learning_rate", p.hyper.learning_rate);
    }
  }
}

}  // namespace hitl::logreg
