#pragma once
// hitl.calibrated(p): the chance that the live model's label is right at its confidence, learnt
// from the domain's labelled outcomes (docs/policy.md, "Signals"). A model's top score is often
// over- or under-confident; this maps it to what the outcomes say.
//
// Histogram binning: kBins equal-width bins of confidence, each the weighted share of right
// labels among the labelled rows that fell in it (a reviewed case weighs 1, an audit sample 1/p,
// as in the report's estimates). A bin with fewer than kMinRows rows answers nothing (nullopt):
// the policy falls back to the confidence. The bins are the live model version's: at a model
// swap the kept labelled rows (the last kKeep, with their truth) are rescored by the new model and
// the bins refitted, so the map follows the promotion at once.
#include <hitl/plugin_api.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace hitl::service {

class Calibration {
 public:
  static constexpr std::size_t kBins = 10;
  static constexpr std::size_t kMinRows = 30;
  static constexpr std::size_t kKeep = 2000;

  // A final labelled outcome: the row the model scored, its version, label and confidence, the
  // truth, and the row's weight.
  struct Labelled {
    sdk::Record row;
    std::string truth;
    double weight = 1;
  };
  void add(Labelled l, const std::string& model_version, const std::string& model_label, double confidence);
  // The weighted share of right labels in `confidence`'s bin; nullopt below kMinRows rows there.
  std::optional<double> calibrated(double confidence) const;
  // The kept rows to rescore at a swap (a copy: the model runs without the caller's lock), and the
  // refit from what the new model said of them (`rescored[i]` of `rows[i]`). Returns the rows counted.
  const std::vector<Labelled>& kept() const { return kept_; }
  std::size_t refit(const std::string& model_version, const std::vector<Labelled>& rows,
                    const std::vector<sdk::Prediction>& rescored);

 private:
  struct Bin {
    std::size_t rows = 0;
    double weight = 0, right = 0;
  };
  void count(double confidence, bool right, double weight);
  std::string version_;  // the model version the bins describe
  std::array<Bin, kBins> bins_{};
  std::vector<Labelled> kept_;  // a ring of the last kKeep
  std::size_t next_ = 0;
};

}  // namespace hitl::service
