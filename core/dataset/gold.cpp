#include "dataset/gold.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

namespace hitl::service {
using nlohmann::json;

namespace {

std::mt19937_64& generator() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

bool has_label(const std::vector<std::string>& labels, const std::string& l) {
  return std::find(labels.begin(), labels.end(), l) != labels.end();
}

}  // namespace

GoldSet load_gold_set(const std::filesystem::path& file, const std::vector<std::string>& labels) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot open the golden set");
  GoldSet set;
  set.file = file;
  std::string line;
  std::size_t n = 0;
  auto fail = [&](const std::string& what) -> void {
    throw std::runtime_error(file.string() + ":" + std::to_string(n) + ": " + what);
  };
  auto label_list = [&] {
    std::string s;
    for (auto& l : labels) s += (s.empty() ? "" : ", ") + l;
    return s;
  };
  while (std::getline(in, line)) {
    ++n;
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) fail("not valid JSON");
    if (!j.is_object()) fail("expected an object {input, prediction, label}");
    for (auto& [k, _] : j.items())
      if (k != "input" && k != "prediction" && k != "label" && k != "reason" && k != "meta")
        fail("unknown field \"" + k + "\" (expected input, prediction, label, reason, meta)");
    GoldCase c;
    c.line = n;
    auto input = j.find("input");
    if (input == j.end() || !input->is_object()) fail("input: expected an object");
    c.input = *input;
    auto meta = j.find("meta");
    c.meta = (meta == j.end() || meta->is_null()) ? json::object() : *meta;
    if (!c.meta.is_object()) fail("meta: expected an object");
    auto label = j.find("label");
    if (label == j.end() || !label->is_string()) fail("label: expected the known answer, a string");
    c.label = label->get<std::string>();
    if (!has_label(labels, c.label)) fail("label: \"" + c.label + "\" is not a label of the domain (" + label_list() + ")");
    auto pred = j.find("prediction");
    if (pred == j.end() || !pred->is_object()) fail("prediction: expected an object {label, confidence}");
    auto pl = pred->find("label");
    if (pl == pred->end() || !pl->is_string()) fail("prediction.label: expected a string");
    c.prediction.label = pl->get<std::string>();
    if (!has_label(labels, c.prediction.label))
      fail("prediction.label: \"" + c.prediction.label + "\" is not a label of the domain (" + label_list() + ")");
    auto pc = pred->find("confidence");
    if (pc == pred->end() || !pc->is_number()) fail("prediction.confidence: expected a number in 0..1");
    c.prediction.confidence = pc->get<double>();
    if (!(c.prediction.confidence >= 0 && c.prediction.confidence <= 1)) fail("prediction.confidence: expected a number in 0..1");
    if (auto sc = pred->find("scores"); sc != pred->end() && !sc->is_null()) {
      if (!sc->is_object()) fail("prediction.scores: expected an object of label -> probability");
      for (auto& [k, v] : sc->items()) {
        if (!v.is_number()) fail("prediction.scores." + k + ": expected a number");
        c.prediction.scores.emplace_back(k, v.get<double>());
      }
    }
    if (auto r = j.find("reason"); r != j.end() && !r->is_null()) {
      if (!r->is_string()) fail("reason: expected a string");
      c.reason = r->get<std::string>();
    }
    set.cases.push_back(std::move(c));
  }
  if (set.cases.empty()) throw std::runtime_error(file.string() + ": the golden set has no cases");
  return set;
}

void seed_generator(std::uint64_t seed) { generator().seed(seed); }

bool draw(double rate) {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator()) < rate;
}

std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(generator()); }

std::string random_uuid() {
  std::uniform_int_distribution<unsigned> byte(0, 255);
  unsigned char b[16];
  for (auto& x : b) x = static_cast<unsigned char>(byte(generator()));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace hitl::service
