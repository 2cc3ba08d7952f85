// The shared statistics (common/statistics.hpp) against figures computed by hand.
#include "common/statistics.hpp"

#include <catch2/catch.hpp>

namespace st = hitl::statistics;

TEST_CASE("the normal quantile of a two-sided confidence") {
  CHECK(st::z_for_confidence(0.95) == Approx(1.959964).epsilon(1e-6));
  CHECK(st::z_for_confidence(0.90) == Approx(1.644854).epsilon(1e-6));
  CHECK(st::z_for_confidence(0.99) == Approx(2.575829).epsilon(1e-6));
}

TEST_CASE("the Wilson interval of 36 right out of 40") {
  // By hand: p = 0.9, centre (0.9 + 1.96^2/80) / (1 + 1.96^2/40) = 0.86495,
  // half-width 1.96 sqrt(0.09/40 + 1.96^2/6400) / 1.09604 = 0.09547.
  const auto ci = st::wilson(36, 40, 1.96);
  CHECK(ci.low == Approx(0.769479).epsilon(1e-5));
  CHECK(ci.high == Approx(0.960421).epsilon(1e-5));
  SECTION("all right: the interval stays inside [0, 1] and is not a point") {
    const auto all = st::wilson(10, 10, 1.96);
    CHECK(all.high == Approx(1.0));
    CHECK(all.low == Approx(0.722460).epsilon(1e-5));
  }
  SECTION("no rows: nothing is known") {
    const auto none = st::wilson(0, 0);
    CHECK(none.low == 0);
    CHECK(none.high == 1);
  }
}

TEST_CASE("a weighted proportion: estimate by weight, interval at Kish's effective size") {
  st::WeightedCount c;
  for (int i = 0; i < 3; ++i) c.add(true, 2);  // three hits drawn at p = 1/2
  c.add(false, 4);                              // one miss drawn at p = 1/4
  const auto p = st::proportion(c, 1.96);
  CHECK(p.rows == 4);
  CHECK(p.estimate == Approx(0.6));                 // 6 of 10 by weight, not 3 of 4
  CHECK(p.effective_rows == Approx(100.0 / 28));    // (2+2+2+4)^2 / (4+4+4+16)
  CHECK(p.interval.low == Approx(0.191724).epsilon(1e-5));
  CHECK(p.interval.high == Approx(0.904631).epsilon(1e-5));
  SECTION("equal weights give the plain Wilson interval") {
    st::WeightedCount same;
    for (int i = 0; i < 40; ++i) same.add(i < 36, 5);
    const auto q = st::proportion(same, 1.96);
    CHECK(q.estimate == Approx(0.9));
    CHECK(q.effective_rows == Approx(40));
    CHECK(q.interval.low == Approx(0.769479).epsilon(1e-5));
  }
  SECTION("no rows") {
    const auto none = st::proportion(st::WeightedCount{});
    CHECK(none.rows == 0);
    CHECK(none.interval.high == 1);
  }
}

TEST_CASE("McNemar's one-sided mid-p on discordant pairs") {
  // 8 of 10 discordant pairs favour the candidate: P(X > 8) + P(X = 8)/2 with X ~ Bin(10, 1/2)
  // = (10 + 1)/1024 + 45/2048 = 33.5/1024.
  CHECK(st::mcnemar_mid_p(8, 2).p_value == Approx(33.5 / 1024).epsilon(1e-9));
  // Even split: exactly one half.
  CHECK(st::mcnemar_mid_p(5, 5).p_value == Approx(0.5).epsilon(1e-9));
  // The other way round is not significant for the candidate.
  CHECK(st::mcnemar_mid_p(2, 8).p_value == Approx(1 - 33.5 / 1024).epsilon(1e-9));
  CHECK(st::mcnemar_mid_p(0, 0).p_value == 1);
  // Large counts stay finite and small: 600 against 400.
  const double p = st::mcnemar_mid_p(600, 400).p_value;
  CHECK(p > 0);
  CHECK(p < 1e-9);
}

TEST_CASE("the two-proportion test") {
  // 90/100 against 80/100: pooled 0.85, se sqrt(0.85 * 0.15 * 0.02) = 0.050498, z = 1.98030.
  const auto t = st::two_proportion_test(90, 100, 80, 100);
  CHECK(t.share1 == Approx(0.9));
  CHECK(t.share2 == Approx(0.8));
  CHECK(t.z == Approx(1.980295).epsilon(1e-5));
  CHECK(t.p_value == Approx(0.023835).epsilon(1e-4));
  CHECK(st::two_proportion_test(80, 100, 90, 100).p_value == Approx(1 - 0.023835).epsilon(1e-4));
  CHECK(st::two_proportion_test(0, 0, 1, 2).p_value == 1);
  CHECK(st::two_proportion_test(5, 5, 7, 7).p_value == 1);  // both all right: no evidence either way
}
