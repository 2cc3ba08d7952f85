#include "ingest/calibration.hpp"

#include <algorithm>
#include <cmath>

namespace hitl::service {

namespace {
std::size_t bin_of(double confidence) {
  const double c = std::isnan(confidence) ? 0.0 : std::clamp(confidence, 0.0, 1.0);
  return std::min(Calibration::kBins - 1, static_cast<std::size_t>(c * Calibration::kBins));
}
}  // namespace

void Calibration::count(double confidence, bool right, double weight) {
  auto& b = bins_[bin_of(confidence)];
  ++b.rows;
  b.weight += weight;
  if (right) b.right += weight;
}

void Calibration::add(Labelled l, const std::string& model_version, const std::string& model_label, double confidence) {
  if (!(l.weight > 0) || !std::isfinite(l.weight)) return;
  // The first outcome of a version that never had a swap (the model at start) names the bins'.
  if (version_.empty() && std::all_of(bins_.begin(), bins_.end(), [](const Bin& b) { return b.rows == 0; }))
    version_ = model_version;
  if (model_version == version_) count(confidence, model_label == l.truth, l.weight);
  if (kept_.size() < kKeep) kept_.push_back(std::move(l));
  else kept_[next_] = std::move(l);
  next_ = (next_ + 1) % kKeep;
}

std::optional<double> Calibration::calibrated(double confidence) const {
  const auto& b = bins_[bin_of(confidence)];
  if (b.rows < kMinRows || !(b.weight > 0)) return std::nullopt;
  return b.right / b.weight;
}

std::size_t Calibration::refit(const std::string& model_version, const std::vector<Labelled>& rows,
                               const std::vector<sdk::Prediction>& rescored) {
  version_ = model_version;
  bins_ = {};
  const std::size_t n = std::min(rescored.size(), rows.size());
  for (std::size_t i = 0; i < n; ++i) count(rescored[i].confidence, rescored[i].label == rows[i].truth, rows[i].weight);
  return n;
}

}  // namespace hitl::service
