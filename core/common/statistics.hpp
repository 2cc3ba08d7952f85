#pragma once
// The statistics the service's figures rest on, in one place: a proportion with its Wilson
// interval, a weighted (importance-sampled) proportion with its interval, and the two tests the
// learning loop decides with (McNemar on paired rows, two proportions on unpaired ones). Pure
// arithmetic: the callers count, these functions judge.
#include <cstddef>
#include <optional>

namespace hitl::statistics {

struct Interval {
  double low = 0, high = 0;
};

// The two-sided normal quantile for `confidence` in (0, 1): 1.959964 for 0.95. Outside (0, 1)
// it is clamped to (1e-9, 1 - 1e-9).
double z_for_confidence(double confidence);

// The Wilson score interval of `successes` out of `n` at quantile `z`: sound at small counts and
// near 0 or 1 (the normal interval is not). n <= 0 gives [0, 1].
Interval wilson(double successes, double n, double z = 1.96);

// -- Weighted proportions --------------------------------------------------------------------
// Rows drawn with known probabilities p (audit samples at the policy's audit_rate) and weighted
// by 1/p estimate a share over the whole traffic. The interval is Wilson's at Kish's effective
// sample size (sum w)^2 / sum w^2: equal weights give the plain Wilson interval back.
struct WeightedCount {
  std::size_t rows = 0;
  double weight = 0, weight_squared = 0, weight_hit = 0;
  void add(bool hit, double w);
};

struct Proportion {
  std::size_t rows = 0;
  double estimate = 0;        // 0 without rows
  double effective_rows = 0;  // Kish's effective sample size
  Interval interval;          // [0, 1] without rows
};

Proportion proportion(const WeightedCount& c, double z = 1.96);

// -- Tests -----------------------------------------------------------------------------------
// McNemar's test on paired rows, one-sided, mid-p: of the discordant pairs, `b` went the
// candidate's way (it was right, the other wrong) and `c` the other way. p_value is the chance of
// at least this many of b + c going the candidate's way when either way is equally likely (half
// the chance of exactly b counted): small when the candidate is really better. 1 without
// discordant pairs.
struct McNemar {
  std::size_t b = 0, c = 0;
  double p_value = 1;
};
McNemar mcnemar_mid_p(std::size_t b, std::size_t c);

// The pooled two-proportion z test, one-sided: the chance of a gap this large in favour of the
// first share when both shares are equal. z > 0 when hits1/n1 > hits2/n2; p_value 1 when either
// count is 0 or both shares are 0 or 1.
struct TwoProportions {
  double share1 = 0, share2 = 0, z = 0, p_value = 1;
};
TwoProportions two_proportion_test(double hits1, double n1, double hits2, double n2);

}  // namespace hitl::statistics

// -- Estimates over all traffic (the report's and /metrics' estimated accuracy) ----------------
namespace hitl::statistics {

// `rows` rows of weight 1, `hits` of them hits: what a sample drawn with one probability weighs.
WeightedCount equal_weights(std::size_t rows, std::size_t hits);

// A share over a population of two parts: a census (`census` members, every outcome known,
// `census_hits` of them hits: no sampling error) and a sampled part of `sampled` members whose
// share `sample` estimates. The estimate is (census_hits + sampled * sample) / (census + sampled)
// and its interval maps the sample's interval the same way (the census adds no uncertainty).
// nullopt when the population is empty, or when the sampled part has members but no sample.
struct Estimate {
  double value = 0;
  Interval interval;
};
std::optional<Estimate> census_plus_sample(double census, double census_hits, double sampled, const Proportion& sample);

}  // namespace hitl::statistics
