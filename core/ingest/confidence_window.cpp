#include "ingest/confidence_window.hpp"

#include <algorithm>
#include <cmath>

namespace hitl::service {

void ConfidenceWindow::Window::bump(std::uint16_t bin, std::int32_t delta) {
  for (std::size_t i = std::size_t{bin} + 1; i <= kTree; i += i & (~i + 1)) tree[i] += static_cast<std::uint32_t>(delta);
}

void ConfidenceWindow::Window::add(std::uint16_t bin) {
  if (ring.size() < kCapacity) {
    ring.push_back(bin);
  } else {
    bump(ring[next], -1);
    ring[next] = bin;
  }
  next = (next + 1) % kCapacity;
  count = ring.size();
  bump(bin, +1);
}

// The first bin b whose count with the bins below reaches rate * count, as (b + 1) / kBins: the
// tree's descent takes the largest prefix of bins holding fewer than that.
std::optional<double> ConfidenceWindow::Window::threshold_for(double rate) const {
  if (count < kMinSamples || !(rate > 0.0 && rate < 1.0)) return std::nullopt;
  double wanted = rate * static_cast<double>(count);
  std::size_t below = 0;  // bins [0, below) hold fewer than `wanted` together
  for (std::size_t step = kTree; step > 0; step >>= 1) {
    if (below + step <= kTree && static_cast<double>(tree[below + step]) < wanted) {
      below += step;
      wanted -= tree[below];
    }
  }
  return below < kBins ? static_cast<double>(below + 1) / kBins : 1.0;
}

namespace {
std::uint16_t bin_of(double confidence) {
  const double c = std::clamp(confidence, 0.0, 1.0);
  return static_cast<std::uint16_t>(std::min<double>(ConfidenceWindow::kBins - 1, std::floor(c * ConfidenceWindow::kBins)));
}
}  // namespace

void ConfidenceWindow::start(const std::string& model_version) {
  if (current_.count >= kMinSamples) previous_ = std::move(current_);
  current_ = Window{};
  current_.version = model_version;
}

void ConfidenceWindow::add(double confidence, const std::string& model_version) {
  if (std::isnan(confidence)) return;
  // A new model: its confidences start a window of their own; the old one answers meanwhile.
  if (model_version != current_.version) start(model_version);
  current_.add(bin_of(confidence));
}

void ConfidenceWindow::recalibrate(const std::vector<double>& confidences, const std::string& model_version) {
  start(model_version);
  for (double c : confidences)
    if (!std::isnan(c)) current_.add(bin_of(c));
}

std::optional<double> ConfidenceWindow::threshold_for(double rate) const {
  if (current_.count >= kMinSamples) return current_.threshold_for(rate);
  return previous_.threshold_for(rate);
}

}  // namespace hitl::service
