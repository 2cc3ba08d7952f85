#pragma once
// Capture curves: of the model's errors, the share a routing signal catches when the most
// doubtful share of the traffic by that signal is reviewed (5, 10, 15, 20, 30%). The report draws
// the top score's curve from the reviewed cases and the audit samples (docs/report.md, 3d),
// `hitl simulate` every signal's on its stream, where each record's truth is known.
//
// Bounded memory: per signal a histogram of doubt in [0, 1] (kBins bins) with the weight and the
// error weight of each bin; a review rate that ends inside a bin takes that bin's share pro rata.
#include <hitl/plugin_api.hpp>

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hitl::report {

// What a policy can route on (docs/policy.md): the top score, the margin between the two top
// scores (hitl.margin), the entropy of the scores (hitl.entropy), the input's distance from the
// training data (p.ood.score, from the decision.created record: `hitl simulate` only).
enum class Signal { top_score, margin, entropy, ood };
inline constexpr std::array<Signal, 4> kSignals{Signal::top_score, Signal::margin, Signal::entropy, Signal::ood};
const char* name(Signal s);
inline constexpr std::array<double, 5> kCaptureRates{0.05, 0.10, 0.15, 0.20, 0.30};
// A review rate as a JSON key: "0.05", "0.10", ...
std::string rate_key(double rate);

// Doubt in [0, 1], 1 the most doubtful: 1 - top score, 1 - margin, entropy / ln(labels),
// z / (1 + z) for an ood score z >= 0 (the largest z of the input's features).
using Doubts = std::array<std::optional<double>, kSignals.size()>;
// From a prediction's scores (per label); the top score falls back to `confidence` without
// scores; the ood doubt when `ood_score` is given.
Doubts doubts_of(const std::vector<std::pair<std::string, double>>& scores, double confidence,
                 std::optional<double> ood_score = std::nullopt);

struct CapturePoint {
  double review_rate = 0;
  std::optional<double> capture;  // null without errors
};
struct CaptureCurve {
  Signal signal = Signal::top_score;
  double rows = 0, errors = 0;  // weighted
  std::vector<CapturePoint> points;  // at kCaptureRates
};

class CaptureFold {
 public:
  static constexpr std::size_t kBins = 1000;
  // One labelled row standing for `weight` rows of the traffic; `error`: the model was wrong.
  void add(const Doubts& doubts, bool error, double weight = 1.0);
  // Adds `other`'s rows, each weighed `weight` times (a stratum's 1/p).
  void merge(const CaptureFold& other, double weight);
  // Every signal that had rows.
  std::vector<CaptureCurve> curves() const;

 private:
  struct Bin {
    double weight = 0, errors = 0;
  };
  std::array<std::vector<Bin>, kSignals.size()> bins_;  // sized on first use
};

// {"<signal>": {"rows", "errors", "capture": {"0.05": share or null, ...}}}: the report's and an
// evaluation's form (docs/report.md 3d, docs/learning-loop.md).
nlohmann::json to_json(const std::vector<CaptureCurve>& curves);

}  // namespace hitl::report
