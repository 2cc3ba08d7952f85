#include "report/capture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace hitl::report {

const char* name(Signal s) {
  switch (s) {
    case Signal::top_score: return "top_score";
    case Signal::margin: return "margin";
    case Signal::entropy: return "entropy";
    case Signal::ood: return "ood";
  }
  return "?";
}

std::string rate_key(double rate) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", rate);
  return buf;
}

Doubts doubts_of(const std::vector<std::pair<std::string, double>>& scores, double confidence,
                 std::optional<double> ood_score) {
  Doubts d;
  if (ood_score && *ood_score >= 0 && std::isfinite(*ood_score)) d[3] = *ood_score / (1.0 + *ood_score);
  auto clamp01 = [](double v) { return std::isnan(v) ? 0.5 : std::clamp(v, 0.0, 1.0); };
  if (scores.size() < 2) {
    d[0] = 1.0 - clamp01(confidence);
    return d;
  }
  double first = 0, second = 0, total = 0, entropy = 0;
  for (const auto& [_, s] : scores) {
    const double p = clamp01(s);
    if (p > first) {
      second = first;
      first = p;
    } else if (p > second) {
      second = p;
    }
    total += p;
  }
  for (const auto& [_, s] : scores) {
    const double p = total > 0 ? clamp01(s) / total : 0;
    if (p > 0) entropy -= p * std::log(p);
  }
  d[0] = 1.0 - first;
  d[1] = 1.0 - (first - second);
  d[2] = std::clamp(entropy / std::log(static_cast<double>(scores.size())), 0.0, 1.0);
  return d;
}

void CaptureFold::add(const Doubts& doubts, bool error, double weight) {
  for (std::size_t s = 0; s < kSignals.size(); ++s) {
    if (!doubts[s]) continue;
    if (bins_[s].empty()) bins_[s].resize(kBins);
    const auto b = std::min(kBins - 1, static_cast<std::size_t>(std::clamp(*doubts[s], 0.0, 1.0) * kBins));
    bins_[s][b].weight += weight;
    if (error) bins_[s][b].errors += weight;
  }
}

void CaptureFold::merge(const CaptureFold& other, double weight) {
  for (std::size_t s = 0; s < kSignals.size(); ++s) {
    if (other.bins_[s].empty()) continue;
    if (bins_[s].empty()) bins_[s].resize(kBins);
    for (std::size_t b = 0; b < kBins; ++b) {
      bins_[s][b].weight += weight * other.bins_[s][b].weight;
      bins_[s][b].errors += weight * other.bins_[s][b].errors;
    }
  }
}

std::vector<CaptureCurve> CaptureFold::curves() const {
  std::vector<CaptureCurve> out;
  for (std::size_t s = 0; s < kSignals.size(); ++s) {
    const auto& bins = bins_[s];
    if (bins.empty()) continue;
    CaptureCurve c;
    c.signal = kSignals[s];
    for (const auto& b : bins) {
      c.rows += b.weight;
      c.errors += b.errors;
    }
    if (!(c.rows > 0)) continue;
    for (double rate : kCaptureRates) {
      CapturePoint p{rate, std::nullopt};
      if (c.errors > 0) {
        // The most doubtful `rate` of the rows: whole bins from the top, the last one pro rata.
        double budget = rate * c.rows, caught = 0;
        for (auto b = bins.rbegin(); b != bins.rend() && budget > 0; ++b) {
          if (!(b->weight > 0)) continue;
          const double take = std::min(1.0, budget / b->weight);
          caught += take * b->errors;
          budget -= take * b->weight;
        }
        p.capture = caught / c.errors;
      }
      c.points.push_back(p);
    }
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::json to_json(const std::vector<CaptureCurve>& curves) {
  using nlohmann::json;
  json out = json::object();
  for (const auto& c : curves) {
    json points = json::object();
    for (const auto& p : c.points) points[rate_key(p.review_rate)] = p.capture ? json(*p.capture) : json(nullptr);
    out[name(c.signal)] = {{"rows", c.rows}, {"errors", c.errors}, {"capture", std::move(points)}};
  }
  return out;
}

}  // namespace hitl::report
