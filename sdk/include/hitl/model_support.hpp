#pragma once
// hitl plugin SDK helper: what every model plugin's sdk::Model implementation needs around its
// own math, header-only and without dependencies: the artifact swapped whole by train() while
// predictions run, loading an artifact file, an artifact's version name, and turning class
// probabilities and per-feature contributions into a Prediction. No part of the plugin ABI
// (each plugin compiles its own copy).
#include <hitl/guarded.hpp>
#include <hitl/plugin_api.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hitl::sdk::model_support {

// The loaded artifact of a model: predictions take a snapshot (a shared pointer, so a train()
// that swaps in a new artifact never pulls one from under a running prediction).
template <class Loaded>
class CurrentArtifact {
 public:
  explicit CurrentArtifact(std::shared_ptr<const Loaded> loaded) : loaded_(std::move(loaded)) {}

  std::shared_ptr<const Loaded> snapshot() const {
    std::lock_guard lock(mu_);
    return loaded_;
  }
  void replace(std::shared_ptr<const Loaded> loaded) {
    std::lock_guard lock(mu_);
    loaded_ = std::move(loaded);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Loaded> loaded_;  // null until an artifact is loaded or trained
};

// guarded() (hitl/guarded.hpp), also here, where every model entry point uses it.
using sdk::guarded;

// FNV-1a 64 of `text` as 16 lowercase hex digits (stable across platforms).
inline std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[i] = digits[h & 15];
  return out;
}

// What version() reports for an artifact: "<prefix>-" and 12 hex digits of the text's hash, so
// the same artifact always has the same name and any edit gives a new one.
inline std::string artifact_version(const std::string& prefix, const std::string& artifact_text) {
  return prefix + "-" + fnv1a_hex(artifact_text).substr(0, 12);
}

// The whole artifact file at `path` into `out`. Returns the error, or nullopt.
inline std::optional<std::string> read_artifact(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "artifact \"" + path + "\": cannot open (" + std::strerror(errno) + ")";
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return "artifact \"" + path + "\": read error";
  return std::nullopt;
}

// Reads the artifact file at `path` and builds it with parse(text) -> Loaded. A ParseError the
// parser throws becomes `artifact "<path>": <what>`; any other exception passes through. An
// empty path (the option left out) loads nothing. Returns the error, or nullopt.
template <class ParseError, class Loaded, class Parse>
std::optional<std::string> load_artifact(const std::string& path, Parse parse, Loaded& out) {
  if (path.empty()) return std::nullopt;
  std::string text;
  if (auto error = read_artifact(path, text)) return error;
  try {
    out = parse(text);
  } catch (const ParseError& e) {
    return "artifact \"" + path + "\": " + e.what();
  }
  return std::nullopt;
}

// Fills the prediction's label, confidence and per-class scores from `probs` (one per class,
// in the order of `classes`); returns the predicted class's index (the first of equals).
inline std::size_t set_scores(Prediction& pred, const std::vector<std::string>& classes,
                              const std::vector<double>& probs) {
  const auto best = static_cast<std::size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  pred.label = classes[best];
  pred.confidence = probs[best];
  pred.scores.reserve(classes.size());
  for (std::size_t k = 0; k < classes.size(); ++k) pred.scores.emplace_back(classes[k], probs[k]);
  return best;
}

// The `most` largest contributions by magnitude, as (name_of(feature), value); ties by feature
// order, so the output is deterministic. `order` is scratch space, reused across rows.
template <class NameOf>
void set_contributions(Prediction& pred, const std::vector<double>& per_feature, std::size_t most, NameOf name_of,
                       std::vector<std::size_t>& order) {
  order.resize(per_feature.size());
  for (std::size_t f = 0; f < order.size(); ++f) order[f] = f;
  const std::size_t top = std::min(most, order.size());
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](std::size_t a, std::size_t b) {
    const double fa = std::fabs(per_feature[a]), fb = std::fabs(per_feature[b]);
    return fa != fb ? fa > fb : a < b;
  });
  pred.contributions.reserve(top);
  for (std::size_t n = 0; n < top; ++n) pred.contributions.emplace_back(name_of(order[n]), per_feature[order[n]]);
}

}  // namespace hitl::sdk::model_support
