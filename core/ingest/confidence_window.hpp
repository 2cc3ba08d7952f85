#pragma once
// The model's confidence over a domain's recent predictions, for hitl.threshold_for_rate(rate):
// the threshold below which `rate` of them fall, so a policy can hold a target review share while
// the model's confidence distribution moves (a promotion changes it at once).
//
// The last kCapacity confidences as 1/1000-wide bins in a ring, with their counts per bin kept in
// step in a Fenwick tree: adding one and a query each take ~10 steps, whatever the traffic (a
// policy asks once per record: reading the 1000 bins was 1 % of `hitl ingest`'s CPU). A new model version
// starts a fresh window; until it holds kMinSamples, the previous version's answers.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

class ConfidenceWindow {
 public:
  static constexpr std::size_t kCapacity = 10'000;
  static constexpr std::size_t kMinSamples = 200;
  static constexpr std::size_t kBins = 1000;

  // Counts one prediction's confidence (clamped to [0, 1]; NaN is ignored) of `model_version`.
  void add(double confidence, const std::string& model_version);
  // The smallest threshold t (a multiple of 1/1000) such that at least `rate` of the window's
  // confidences are below t; nullopt before kMinSamples predictions or for a rate outside (0, 1).
  std::optional<double> threshold_for(double rate) const;
  std::size_t size() const { return current_.count; }
  // A new model was swapped in: its confidences on recent inputs, rescored, start its window at
  // once, so the threshold follows the new model from its first record instead of after
  // kMinSamples of them (the current window becomes the previous one).
  void recalibrate(const std::vector<double>& confidences, const std::string& model_version);

 private:
  struct Window {
    std::string version;
    std::vector<std::uint16_t> ring;  // bin of each confidence, oldest at `next` once full
    std::size_t next = 0, count = 0;
    // Fenwick tree over the bins (1-based, sized to a power of two for the descent in
    // threshold_for): tree[i] counts the bins (i - lowbit(i), i].
    static constexpr std::size_t kTree = 1024;
    static_assert(kTree >= kBins);
    std::array<std::uint32_t, kTree + 1> tree{};
    void bump(std::uint16_t bin, std::int32_t delta);
    void add(std::uint16_t bin);
    std::optional<double> threshold_for(double rate) const;
  };
  void start(const std::string& model_version);  // a fresh current window, the full one kept as previous
  Window current_, previous_;
};

}  // namespace hitl::service
