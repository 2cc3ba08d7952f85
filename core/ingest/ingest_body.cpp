#include "ingest/ingest_body.hpp"

#include "data/client_json.hpp"
#include "common/service_error.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace hitl::service {
using nlohmann::json;

namespace {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "number";
  }
}

[[noreturn]] void bad(const std::string& field, const std::string& msg) {
  throw ServiceError(422, "invalid_field", field + ": " + msg, field);
}

using KeyName = std::function<std::string(const std::string&)>;  // field name as the client sees it

void only_fields(const json& obj, std::initializer_list<const char*> allowed, const KeyName& key) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string& k = it.key();
    if (std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) continue;
    std::string list;
    for (auto* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    bad(key(k), "unknown field (expected " + list + ")");
  }
}

std::string label_list(std::span<const std::string> labels) {
  std::string out;
  for (auto& l : labels) out += (out.empty() ? "" : ", ") + l;
  return out;
}

void check_label(const std::string& label, const IngestLimits& limits, const std::string& field) {
  if (std::find(limits.labels.begin(), limits.labels.end(), label) == limits.labels.end())
    bad(field, "\"" + label.substr(0, 64) + "\" is not one of the domain's labels (" + label_list(limits.labels) + ")");
}

double probability(const json& v, const std::string& field) {
  if (!v.is_number()) bad(field, std::string("expected a number, got ") + type_name(v));
  const double p = v.get<double>();
  if (!(p >= 0.0 && p <= 1.0)) bad(field, "expected a number in 0..1");
  return p;
}

// The client's own prediction: {label, confidence, scores?}, labels from the domain's set.
void parse_prediction(const json& pred, IngestRecord& r, const IngestLimits& limits, const KeyName& key) {
  if (!pred.is_object()) bad(key("prediction"), std::string("expected an object, got ") + type_name(pred));
  only_fields(pred, {"label", "confidence", "scores"}, [&](const std::string& k) { return key("prediction." + k); });
  auto label = pred.find("label");
  if (label == pred.end()) bad(key("prediction.label"), "missing");
  if (!label->is_string()) bad(key("prediction.label"), std::string("expected a string, got ") + type_name(*label));
  r.prediction.label = label->get<std::string>();
  check_label(r.prediction.label, limits, key("prediction.label"));
  auto conf = pred.find("confidence");
  if (conf == pred.end()) bad(key("prediction.confidence"), "missing");
  r.prediction.confidence = probability(*conf, key("prediction.confidence"));
  auto scores = pred.find("scores");
  if (scores != pred.end() && !scores->is_null()) {
    if (!scores->is_object()) bad(key("prediction.scores"), "expected an object of label -> probability");
    for (auto& [k, v] : scores->items()) {
      check_label(k, limits, key("prediction.scores"));
      r.prediction.scores.emplace_back(k, probability(v, key("prediction.scores." + k)));
    }
  }
  r.has_prediction = true;
}

}  // namespace

IngestRecord parse_record(json&& obj, const std::string& where, const IngestLimits& limits) {
  if (!obj.is_object()) bad(where.empty() ? "(body)" : where, std::string("expected an object, got ") + type_name(obj));
  const KeyName key = [&](const std::string& k) { return where.empty() ? k : where + "." + k; };
  only_fields(obj, {"id", "input", "prediction", "meta"}, key);
  IngestRecord r;
  auto id = obj.find("id");
  if (id == obj.end()) bad(key("id"), "missing");
  if (!id->is_string()) bad(key("id"), std::string("expected a string, got ") + type_name(*id));
  r.id = id->get<std::string>();
  check_client_text(r.id, key("id"), kMaxIdChars);
  // Ids appear as a path segment in GET .../decisions/{id}: a '/' could never be read back.
  if (r.id.find('/') != std::string::npos) bad(key("id"), "must not contain '/'");
  auto input = obj.find("input");
  if (input == obj.end()) bad(key("input"), "missing");
  if (!input->is_object()) bad(key("input"), std::string("expected an object, got ") + type_name(*input));
  r.input = std::move(*input);
  auto meta = obj.find("meta");
  if (meta != obj.end() && !meta->is_null()) {
    if (!meta->is_object()) bad(key("meta"), std::string("expected an object, got ") + type_name(*meta));
    r.meta = std::move(*meta);
  } else {
    r.meta = json::object();
  }
  auto pred = obj.find("prediction");
  if (pred != obj.end() && !pred->is_null()) parse_prediction(*pred, r, limits, key);
  return r;
}

IngestRecord parse_record_line(std::string_view line, const std::string& where, const IngestLimits& limits) {
  return parse_record(parse_client_json(line, limits.max_depth, where), where, limits);
}

bool blank_line(std::string_view line) noexcept { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

std::vector<IngestRecord> parse_predictions_body(std::string_view body, BodyFormat format, const IngestLimits& limits,
                                                 bool& single) {
  std::vector<IngestRecord> records;
  single = false;
  auto too_many = [&] {
    throw ServiceError(413, "too_many_records",
                       "more than " + std::to_string(limits.max_records) + " records in one request");
  };
  if (format == BodyFormat::ndjson) {
    std::size_t line_no = 0, pos = 0;
    while (pos < body.size()) {
      std::size_t end = body.find('\n', pos);
      if (end == std::string_view::npos) end = body.size();
      const std::string_view line = body.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (blank_line(line)) continue;
      if (records.size() >= limits.max_records) too_many();
      records.push_back(parse_record_line(line, "line " + std::to_string(line_no), limits));
    }
  } else {
    json doc = parse_client_json(body, limits.max_depth);
    if (doc.is_array()) {
      if (doc.size() > limits.max_records) too_many();
      records.reserve(doc.size());
      for (std::size_t i = 0; i < doc.size(); ++i)
        records.push_back(parse_record(std::move(doc[i]), "records[" + std::to_string(i) + "]", limits));
    } else {
      single = true;
      records.push_back(parse_record(std::move(doc), "", limits));
    }
  }
  if (records.empty()) throw ServiceError(422, "invalid_field", "no records in the request", "records");
  return records;
}

}  // namespace hitl::service
