#pragma once
// The statistics the service's figures rest on, in one place: a proportion with its Wilson
// interval, a weighted (importance-sampled) proportion with its interval, and the two tests the
// learning loop decides with (McNemar on paired rows, two proportions on unpaired ones). Pure
// arithmetic: the callers count, these functions judge.
#include <cstddef>

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
