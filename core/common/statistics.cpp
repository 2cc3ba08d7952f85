#include "common/statistics.hpp"

#include <algorithm>
#include <cmath>

namespace hitl::statistics {

namespace {

// P(Z > z) for a standard normal Z.
double upper_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// ln C(n, k), exact enough for the tails of a binomial with n in the millions.
double log_choose(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }

}  // namespace

double z_for_confidence(double confidence) {
  const double tail = (1 - std::clamp(confidence, 1e-9, 1 - 1e-9)) / 2;
  // upper_tail falls from 0.5 at 0; bisection is exact to ~1e-12 in 60 steps.
  double lo = 0, hi = 40;
  for (int i = 0; i < 60; ++i) {
    const double mid = (lo + hi) / 2;
    (upper_tail(mid) > tail ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

Interval wilson(double successes, double n, double z) {
  if (!(n > 0)) return {0, 1};
  const double p = successes / n, z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

void WeightedCount::add(bool hit, double w) {
  ++rows;
  weight += w;
  weight_squared += w * w;
  if (hit) weight_hit += w;
}

Proportion proportion(const WeightedCount& c, double z) {
  Proportion p;
  p.rows = c.rows;
  if (c.rows == 0 || !(c.weight > 0)) {
    p.interval = {0, 1};
    return p;
  }
  p.estimate = c.weight_hit / c.weight;
  p.effective_rows = c.weight * c.weight / c.weight_squared;
  p.interval = wilson(p.estimate * p.effective_rows, p.effective_rows, z);
  return p;
}

McNemar mcnemar_mid_p(std::size_t b, std::size_t c) {
  McNemar m{b, c, 1};
  const double n = static_cast<double>(b + c);
  if (b + c == 0) return m;
  // P(X > b) + P(X = b) / 2 for X ~ Binomial(b + c, 1/2), summed in log space.
  const double log_half_n = n * std::log(0.5);
  double tail = 0;
  for (std::size_t k = b + 1; k <= b + c; ++k) tail += std::exp(log_choose(n, static_cast<double>(k)) + log_half_n);
  const double at = std::exp(log_choose(n, static_cast<double>(b)) + log_half_n);
  m.p_value = std::clamp(tail + at / 2, 0.0, 1.0);
  return m;
}

TwoProportions two_proportion_test(double hits1, double n1, double hits2, double n2) {
  TwoProportions t;
  if (!(n1 > 0) || !(n2 > 0)) return t;
  t.share1 = hits1 / n1;
  t.share2 = hits2 / n2;
  const double pooled = (hits1 + hits2) / (n1 + n2);
  const double se = std::sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (!(se > 0)) return t;
  t.z = (t.share1 - t.share2) / se;
  t.p_value = upper_tail(t.z);
  return t;
}

}  // namespace hitl::statistics
