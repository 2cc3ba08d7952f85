// model-keyword-rules: a vendor's rule model for hitl, built against the SDK alone.
//
// It scores a record from two signals:
//   * keywords found (as whole words, case-insensitive) in a text field, each adding
//     `keyword_weight` once, and
//   * a numeric field above `amount_threshold`, adding `amount_weight`,
// on top of `base_score`, clamped to [0, 1]. A score >= 0.5 predicts `positive_label`.
// Its config is a JSON object (see kConfigDoc); it is parsed with Boost.PropertyTree, which
// ships with the Boost headers the SDK already needs, so the plugin has no other dependency.
#include <hitl/plugin_api.hpp>

#include <boost/dll/alias.hpp>
// Boost 1.74's JSON parser still includes the deprecated <boost/bind.hpp>; this keeps its
// old behaviour and silences the deprecation note.
#ifndef BOOST_BIND_GLOBAL_PLACEHOLDERS
#define BOOST_BIND_GLOBAL_PLACEHOLDERS
#endif
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#ifndef ACME_PLUGIN_VERSION
#define ACME_PLUGIN_VERSION "0.0.0"
#endif

namespace acme {
using namespace hitl::sdk;

const char* const kConfigDoc = R"json([
  {"name":"text_field","type":"string","default":"text","description":"record field searched for keywords"},
  {"name":"keywords","type":"array of string","default":["refund","chargeback","fraud"],"description":"single words, matched case-insensitively"},
  {"name":"keyword_weight","type":"number","default":0.35,"description":"added once per distinct keyword found (0..1)"},
  {"name":"amount_field","type":"string","default":"amount","description":"numeric record field compared with amount_threshold"},
  {"name":"amount_threshold","type":"number","default":1000,"description":"amounts above this add amount_weight"},
  {"name":"amount_weight","type":"number","default":0.5,"description":"added when the amount is above the threshold (0..1)"},
  {"name":"base_score","type":"number","default":0.05,"description":"score of a record with no signal (0..1)"},
  {"name":"positive_label","type":"string","default":"review","description":"label when the score is >= 0.5"},
  {"name":"negative_label","type":"string","default":"ok","description":"label otherwise"}
])json";

struct Config {
  std::string text_field = "text";
  std::vector<std::string> keywords = {"refund", "chargeback", "fraud"};
  double keyword_weight = 0.35;
  std::string amount_field = "amount";
  double amount_threshold = 1000;
  double amount_weight = 0.5;
  double base_score = 0.05;
  std::string positive_label = "review";
  std::string negative_label = "ok";
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  return out;
}

using boost::property_tree::ptree;

// PropertyTree keeps every JSON scalar as text: a scalar node has data and no children.
Status read_string(const ptree& node, const std::string& key, std::string& out) {
  if (!node.empty()) return Status::Error(Code::invalid_argument, "option '" + key + "' must be a string");
  out = node.data();
  if (out.empty()) return Status::Error(Code::invalid_argument, "option '" + key + "' must not be empty");
  return Status::Ok();
}

Status read_number(const ptree& node, const std::string& key, double lo, double hi, double& out) {
  const std::string& text = node.data();
  char* end = nullptr;
  const double v = node.empty() && !text.empty() ? std::strtod(text.c_str(), &end) : NAN;
  if (end == nullptr || *end != '\0' || !std::isfinite(v))
    return Status::Error(Code::invalid_argument, "option '" + key + "' must be a number, got '" + text + "'");
  if (v < lo || v > hi) {
    std::ostringstream msg;
    msg << "option '" << key << "' must be between " << lo << " and " << hi << ", got " << v;
    return Status::Error(Code::invalid_argument, msg.str());
  }
  out = v;
  return Status::Ok();
}

Status read_keywords(const ptree& node, std::vector<std::string>& out) {
  out.clear();
  for (const auto& [key, item] : node) {
    std::string word = lower(item.data());
    if (!key.empty() || !item.empty() || word.empty() ||
        !std::all_of(word.begin(), word.end(), [](unsigned char c) { return std::isalnum(c) != 0; }))
      return Status::Error(Code::invalid_argument,
                           "option 'keywords' must be an array of single words, got '" + item.data() + "'");
    out.push_back(std::move(word));
  }
  if (out.empty()) return Status::Error(Code::invalid_argument, "option 'keywords' needs at least one word");
  return Status::Ok();
}

Status parse_config(const char* json, Config& cfg) {
  ptree root;
  try {
    std::istringstream in(json ? json : "{}");
    boost::property_tree::read_json(in, root);
  } catch (const std::exception& e) {
    return Status::Error(Code::invalid_argument, std::string("config is not valid JSON: ") + e.what());
  }
  for (const auto& [key, node] : root) {
    Status s;
    if (key.empty()) s = Status::Error(Code::invalid_argument, "config must be a JSON object");
    else if (key == "text_field") s = read_string(node, key, cfg.text_field);
    else if (key == "amount_field") s = read_string(node, key, cfg.amount_field);
    else if (key == "positive_label") s = read_string(node, key, cfg.positive_label);
    else if (key == "negative_label") s = read_string(node, key, cfg.negative_label);
    else if (key == "keywords") s = read_keywords(node, cfg.keywords);
    else if (key == "keyword_weight") s = read_number(node, key, 0, 1, cfg.keyword_weight);
    else if (key == "amount_weight") s = read_number(node, key, 0, 1, cfg.amount_weight);
    else if (key == "base_score") s = read_number(node, key, 0, 1, cfg.base_score);
    else if (key == "amount_threshold") s = read_number(node, key, -1e300, 1e300, cfg.amount_threshold);
    else s = Status::Error(Code::invalid_argument, "unknown option '" + key + "'");  // catches typos
    if (!s.ok()) return s;
  }
  if (cfg.positive_label == cfg.negative_label)
    return Status::Error(Code::invalid_argument, "positive_label and negative_label must differ");
  return Status::Ok();
}

class KeywordRulesModel final : public Model {
 public:
  explicit KeywordRulesModel(Config cfg) : cfg_(std::move(cfg)), keywords_(cfg_.keywords.begin(), cfg_.keywords.end()) {
    // The version names the rules, so a decision records which configuration scored it.
    std::string text = cfg_.text_field + "|" + cfg_.amount_field + "|" + cfg_.positive_label + "|" +
                       cfg_.negative_label + "|";
    for (const auto& k : keywords_) text += k + ",";
    char numbers[128];
    std::snprintf(numbers, sizeof numbers, "|%.17g|%.17g|%.17g|%.17g", cfg_.keyword_weight,
                  cfg_.amount_threshold, cfg_.amount_weight, cfg_.base_score);
    text += numbers;
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : text) h = (h ^ c) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", h);
    version_ = std::string("keyword-rules-" ACME_PLUGIN_VERSION "+") + hex;
  }

  Status predict(const std::vector<Record>& rows, std::vector<Prediction>& out) noexcept override {
    try {
      std::vector<Prediction> result;
      result.reserve(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) {
        Prediction p;
        if (auto s = score(rows[i], i, p); !s.ok()) return s;
        result.push_back(std::move(p));
      }
      out = std::move(result);  // all or nothing: `out` is untouched on error
      return Status::Ok();
    } catch (const std::exception& e) {
      return Status::Error(Code::internal, std::string("keyword-rules: ") + e.what());
    } catch (...) {
      return Status::Error(Code::internal, "keyword-rules: unknown error");
    }
  }

  std::string version() const noexcept override { return version_; }

 private:
  Status score(const Record& row, std::size_t index, Prediction& p) const {
    double keyword_part = 0;
    double amount_part = 0;
    for (const auto& [field, value] : row) {
      if (field == cfg_.text_field && !std::holds_alternative<std::monostate>(value)) {
        const auto* text = std::get_if<std::string>(&value);
        if (!text) return field_error(index, field, "a string");
        std::set<std::string> found;
        for (auto& w : words(*text))
          if (keywords_.count(w)) found.insert(w);
        keyword_part = cfg_.keyword_weight * static_cast<double>(found.size());
      } else if (field == cfg_.amount_field && !std::holds_alternative<std::monostate>(value)) {
        const auto* amount = std::get_if<double>(&value);
        if (!amount) return field_error(index, field, "a number");
        if (*amount > cfg_.amount_threshold) amount_part = cfg_.amount_weight;
      }
    }
    const double s = std::clamp(cfg_.base_score + keyword_part + amount_part, 0.0, 1.0);
    const bool positive = s >= 0.5;
    p.label = positive ? cfg_.positive_label : cfg_.negative_label;
    p.confidence = positive ? s : 1.0 - s;
    p.scores = {{cfg_.positive_label, s}, {cfg_.negative_label, 1.0 - s}};
    p.contributions = {{cfg_.text_field, keyword_part}, {cfg_.amount_field, amount_part}};
    return Status::Ok();
  }

  static Status field_error(std::size_t index, const std::string& field, const char* expected) {
    return Status::Error(Code::invalid_argument,
                         "row " + std::to_string(index) + ": field '" + field + "' must be " + expected);
  }

  Config cfg_;
  std::set<std::string> keywords_;
  std::string version_;
};

// Factories must not throw: everything that can is inside the try.
Status create(const char* config_json, std::unique_ptr<Model>& out) {
  try {
    Config cfg;
    if (auto s = parse_config(config_json, cfg); !s.ok()) return s;
    out = std::make_unique<KeywordRulesModel>(std::move(cfg));
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, e.what());
  }
}

const PluginDescriptor* descriptor() {
  // model_descriptor() fills in the descriptor format, the model interface version and the
  // struct sizes of the SDK this file is compiled with: the host checks them at load time.
  static const PluginDescriptor d = hitl::sdk::model_descriptor(
      "keyword-rules", ACME_PLUGIN_VERSION,
      "Acme keyword and amount rules: flags texts with risky words and large amounts", kConfigDoc, &create);
  return &d;
}

}  // namespace acme

// The one exported symbol: `hitl_plugin_descriptor`, pointing at acme::descriptor.
HITL_DECLARE_PLUGIN(acme::descriptor)
