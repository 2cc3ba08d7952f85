#include "domain/redaction.hpp"

#include "common/redact_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace hitl::service {
using nlohmann::json;

Redactor::Redactor(const std::vector<std::string>& sensitive) {
  for (const auto& f : sensitive) {
    if (f.rfind("meta.", 0) == 0) meta_fields_.push_back(f.substr(5));
    else input_fields_.push_back(f);
  }
}

namespace {
void mask(json& obj, const std::vector<std::string>& fields) {
  if (!obj.is_object()) return;
  for (const auto& f : fields) {
    auto it = obj.find(f);
    if (it != obj.end() && !it->is_null()) *it = kRedacted;
  }
}

// Contributions are keyed by feature: the column itself ("Income") or, for one-hot encoded
// categories, "Home=rent" (the category is the value).
bool is_feature_of(const std::string& key, const std::string& field) {
  return key == field || (key.size() > field.size() && key.compare(0, field.size(), field) == 0 &&
                          key[field.size()] == '=');
}

void collect(const json& obj, const std::vector<std::string>& fields, std::vector<std::string>& out) {
  if (!obj.is_object()) return;
  for (const auto& f : fields) {
    auto it = obj.find(f);
    if (it == obj.end() || it->is_null()) continue;
    std::string v = it->is_string() ? it->get<std::string>() : it->dump();
    // Very short values ("1", "no") would scrub unrelated text everywhere: a message naming such
    // a value does not identify anyone on its own.
    if (v.size() >= 3) out.push_back(std::move(v));
  }
}
}  // namespace

void Redactor::input(json& input) const { mask(input, input_fields_); }
void Redactor::meta(json& meta) const { mask(meta, meta_fields_); }

void Redactor::prediction(json& prediction) const {
  if (!prediction.is_object()) return;
  auto c = prediction.find("contributions");
  if (c == prediction.end() || !c->is_object()) return;
  for (auto it = c->begin(); it != c->end();) {
    const std::string key = it.key();
    const bool hit = std::any_of(input_fields_.begin(), input_fields_.end(),
                                 [&](const std::string& f) { return is_feature_of(key, f); });
    if (hit) it = c->erase(it);
    else ++it;
  }
}

std::vector<std::string> Redactor::values(const json& input, const json& meta) const {
  std::vector<std::string> out;
  collect(input, input_fields_, out);
  collect(meta, meta_fields_, out);
  // Longest first, so a value containing another is replaced whole.
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string Redactor::scrub(std::string text, const std::vector<std::string>& values) {
  return redact_values(std::move(text), values);
}

}  // namespace hitl::service
