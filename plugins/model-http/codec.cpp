// model-http: the json and kserve-v2 wire formats (see README.md for the exact mapping).
#include "codec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace hitl::model_http {

using nlohmann::json;
using sdk::Code;
using sdk::Status;

namespace {

// Scores must be probabilities; a little float noise around 0 and 1 is tolerated.
constexpr double kProbSlack = 1e-6;

Status bad_input(std::size_t row, const std::string& field, const std::string& what) {
  return Status::Error(Code::invalid_argument,
                       "model-http: row " + std::to_string(row + 1) + ", field \"" + field + "\": " + what);
}

Status malformed(const std::string& what) {
  return Status::Error(Code::internal, "model-http: malformed response: " + what);
}

const sdk::Value* find(const sdk::Record& r, const std::string& name) {
  for (const auto& [k, v] : r)
    if (k == name) return &v;
  return nullptr;
}

json to_json(const sdk::Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return std::isfinite(*d) ? json(*d) : json(nullptr);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  return nullptr;
}

// The numeric value of one kserve-v2 feature cell; `missing` set when it has none.
Status to_number(const sdk::Value* v, std::size_t row, const std::string& field, double missing, double& out) {
  out = missing;
  if (!v || std::holds_alternative<std::monostate>(*v)) return Status::Ok();
  if (const auto* d = std::get_if<double>(v)) {
    if (std::isnan(*d)) return Status::Ok();
    if (!std::isfinite(*d)) return bad_input(row, field, "infinite values cannot be sent");
    out = *d;
    return Status::Ok();
  }
  if (const auto* b = std::get_if<bool>(v)) {
    out = *b ? 1.0 : 0.0;
    return Status::Ok();
  }
  const std::string& s = std::get<std::string>(*v);
  if (s.empty() || s == "NA") return Status::Ok();  // as in CSV exports
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d))
    return bad_input(row, field, "\"" + s + "\" is not a number (kserve-v2 sends an FP64 tensor)");
  out = d;
  return Status::Ok();
}

bool is_prob(const json& v) {
  if (!v.is_number()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && d >= -kProbSlack && d <= 1 + kProbSlack;
}

double clamp01(double d) { return std::clamp(d, 0.0, 1.0); }

// Flattens a [n, c] tensor given flat (row-major) or nested.
bool flatten(const json& data, std::vector<double>& flat) {
  for (const auto& e : data) {
    if (e.is_array()) {
      if (!flatten(e, flat)) return false;
    } else if (e.is_number()) {
      flat.push_back(e.get<double>());
    } else {
      return false;
    }
  }
  return true;
}

Status decode_kserve(const Config& config, std::size_t n, const json& doc, std::vector<sdk::Prediction>& out) {
  if (!doc.is_object()) return malformed("expected a JSON object with \"outputs\"");
  auto outputs = doc.find("outputs");
  if (outputs == doc.end() || !outputs->is_array() || outputs->empty())
    return malformed("no \"outputs\" array (or it is empty)");
  const json* tensor = nullptr;
  if (config.output_name.empty()) {
    tensor = &outputs->front();
  } else {
    for (const auto& o : *outputs)
      if (o.is_object() && o.value("name", json()) == config.output_name) tensor = &o;
    if (!tensor) return malformed("no output tensor named \"" + config.output_name + "\"");
  }
  if (!tensor->is_object()) return malformed("an output is not an object");
  const std::size_t c = config.classes.size();
  auto shape = tensor->find("shape");
  if (shape == tensor->end() || *shape != json::array({n, c}))
    return malformed("output shape is " + (shape == tensor->end() ? std::string("missing") : shape->dump()) +
                     ", expected [" + std::to_string(n) + "," + std::to_string(c) + "] (rows, classes)");
  auto data = tensor->find("data");
  std::vector<double> flat;
  if (data == tensor->end() || !data->is_array() || !flatten(*data, flat))
    return malformed("output \"data\" is not an array of numbers");
  if (flat.size() != n * c)
    return malformed("output has " + std::to_string(flat.size()) + " values, expected " + std::to_string(n * c));
  out.assign(n, {});
  for (std::size_t i = 0; i < n; ++i) {
    auto& p = out[i];
    p.scores.reserve(c);
    std::size_t best = 0;
    for (std::size_t k = 0; k < c; ++k) {
      const double v = flat[i * c + k];
      if (!std::isfinite(v) || v < -kProbSlack || v > 1 + kProbSlack)
        return malformed("row " + std::to_string(i + 1) + ": score " + json(v).dump() + " for class \"" +
                         config.classes[k] + "\" is not a probability in [0, 1]");
      p.scores.emplace_back(config.classes[k], clamp01(v));
      if (p.scores[k].second > p.scores[best].second) best = k;  // first of equal maxima wins
    }
    p.label = config.classes[best];
    p.confidence = p.scores[best].second;
  }
  return Status::Ok();
}

Status decode_json(const Config& config, std::size_t n, const json& doc, std::vector<sdk::Prediction>& out) {
  if (!doc.is_object()) return malformed("expected a JSON object with \"predictions\"");
  auto preds = doc.find("predictions");
  if (preds == doc.end() || !preds->is_array()) return malformed("no \"predictions\" array");
  if (preds->size() != n)
    return malformed(std::to_string(preds->size()) + " predictions for " + std::to_string(n) + " instances");
  out.assign(n, {});
  for (std::size_t i = 0; i < n; ++i) {
    const json& e = (*preds)[i];
    const std::string where = "prediction " + std::to_string(i + 1) + ": ";
    if (!e.is_object()) return malformed(where + "not an object");
    auto label = e.find("label");
    if (label == e.end() || !label->is_string() || label->get<std::string>().empty())
      return malformed(where + "\"label\" missing or not a non-empty string");
    auto& p = out[i];
    p.label = label->get<std::string>();
    if (!config.classes.empty() &&
        std::find(config.classes.begin(), config.classes.end(), p.label) == config.classes.end())
      return malformed(where + "label \"" + p.label + "\" is not one of the configured classes");
    bool have_conf = false;
    if (auto scores = e.find("scores"); scores != e.end() && !scores->is_null()) {
      if (!scores->is_object()) return malformed(where + "\"scores\" is not an object");
      for (auto s = scores->begin(); s != scores->end(); ++s) {
        if (!is_prob(s.value()))
          return malformed(where + "score for \"" + s.key() + "\" is not a probability in [0, 1]: " + s.value().dump());
        p.scores.emplace_back(s.key(), clamp01(s.value().get<double>()));
        if (s.key() == p.label) {
          p.confidence = p.scores.back().second;
          have_conf = true;
        }
      }
    }
    if (auto conf = e.find("confidence"); conf != e.end() && !conf->is_null()) {
      if (!is_prob(*conf)) return malformed(where + "\"confidence\" is not a probability in [0, 1]: " + conf->dump());
      p.confidence = clamp01(conf->get<double>());
      have_conf = true;
    }
    if (!have_conf) return malformed(where + "no \"confidence\" and no score for its label \"" + p.label + "\"");
  }
  return Status::Ok();
}

}  // namespace

Status encode_request(const Config& config, const std::vector<sdk::Record>& rows, std::string& body) {
  if (config.protocol == Protocol::kserve_v2) {
    const std::size_t k = config.features.size();
    json data = json::array();
    data.get_ref<json::array_t&>().reserve(rows.size() * k);
    for (std::size_t i = 0; i < rows.size(); ++i)
      for (const auto& f : config.features) {
        double d = 0;
        if (auto st = to_number(find(rows[i], f), i, f, config.missing_value, d); !st.ok()) return st;
        data.push_back(d);
      }
    json tensor = {{"name", config.input_name}, {"shape", {rows.size(), k}}, {"datatype", "FP64"}, {"data", std::move(data)}};
    body = json{{"inputs", json::array({std::move(tensor)})}}.dump();
    return Status::Ok();
  }
  json instances = json::array();
  for (const auto& r : rows) {
    json obj = json::object();
    if (config.features.empty()) {
      for (const auto& [name, v] : r) obj[name] = to_json(v);
    } else {
      for (const auto& f : config.features) {
        const sdk::Value* v = find(r, f);
        obj[f] = v ? to_json(*v) : json(nullptr);
      }
    }
    instances.push_back(std::move(obj));
  }
  // Non-UTF-8 strings in a record would make dump() throw; replace them instead.
  body = json{{"instances", std::move(instances)}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return Status::Ok();
}

Status decode_response(const Config& config, std::size_t rows, const std::string& body,
                       std::vector<sdk::Prediction>& out) {
  json doc;
  // The model server is outside the process: a reply nested without bound would make any later
  // copy or dump of it recurse off the stack. Parsing itself is iterative; the depth is noted
  // on the way and the reply refused before anything walks it.
  constexpr int kMaxResponseDepth = 64;
  bool too_deep = false;
  const json::parser_callback_t note_depth = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth > kMaxResponseDepth) too_deep = true;
    return !too_deep;  // discard what lies past the limit instead of building it
  };
  try {
    doc = json::parse(body, note_depth);
  } catch (const json::parse_error&) {
    std::string head = body.substr(0, 80);
    std::replace_if(head.begin(), head.end(), [](unsigned char ch) { return ch < 32; }, ' ');
    return malformed("body is not JSON (starts with \"" + head + "\")");
  }
  if (too_deep) return malformed("body nests arrays and objects deeper than " + std::to_string(kMaxResponseDepth) + " levels");
  return config.protocol == Protocol::kserve_v2 ? decode_kserve(config, rows, doc, out)
                                                : decode_json(config, rows, doc, out);
}

}  // namespace hitl::model_http
