// Judging a run's model swaps (simulate/promotions.hpp) on hand-made cases: the stretches of
// model versions in row order, and the paired one-sided test that the new model is worse.
#include "simulate/promotions.hpp"

#include <catch2/catch.hpp>

using namespace hitl::simulate;

namespace {

// `both` records both models got right, `neither` both wrong, then the discordant ones.
struct Answers {
  std::vector<bool> from, to;
};
Answers answers(std::size_t both, std::size_t neither, std::size_t from_only, std::size_t to_only) {
  Answers a;
  auto add = [&a](std::size_t n, bool from, bool to) {
    a.from.insert(a.from.end(), n, from);
    a.to.insert(a.to.end(), n, to);
  };
  add(both, true, true);
  add(neither, false, false);
  add(from_only, true, false);
  add(to_only, false, true);
  return a;
}

}  // namespace

TEST_CASE("promotions judged: the stretches of model versions follow the rows, a return to a version included") {
  const auto s = stretches({"m0", "m0", "m1", "m1", "m1", "m0"});
  REQUIRE(s.size() == 3);
  CHECK((s[0].version == "m0" && s[0].first == 0 && s[0].count == 2));
  CHECK((s[1].version == "m1" && s[1].first == 2 && s[1].count == 3));
  CHECK((s[2].version == "m0" && s[2].first == 5 && s[2].count == 1));
  CHECK(stretches({}).empty());
}

TEST_CASE("promotions judged: a new model wrong on 15 records its predecessor got right, right on 5 it missed, is worse") {
  const auto a = answers(60, 20, 15, 5);  // 100 records
  const JudgedSwap j = judge_swap(a.from, a.to);
  CHECK(j.records == 100);
  CHECK(j.from_accuracy == Approx(0.75));
  CHECK(j.to_accuracy == Approx(0.65));
  CHECK(j.from_only_right == 15);
  CHECK(j.to_only_right == 5);
  // P(X > 15) + P(X = 15) / 2 for X ~ Binomial(20, 1/2): (6196 + 15504 / 2) / 2^20.
  CHECK(j.p_value == Approx((6196.0 + 15504.0 / 2) / 1048576.0));
  CHECK(j.worse_beyond_noise);
  CHECK(j.not_judged.empty());
}

TEST_CASE("promotions judged: a small or even gap is noise, and a better model is not worse") {
  auto a = answers(90, 7, 3, 0);  // three records' evidence: mid-p 1/16, above 0.05
  JudgedSwap j = judge_swap(a.from, a.to);
  CHECK(j.p_value == Approx(0.0625));
  CHECK_FALSE(j.worse_beyond_noise);
  a = answers(50, 10, 20, 20);
  j = judge_swap(a.from, a.to);
  CHECK(j.p_value == Approx(0.5));
  CHECK_FALSE(j.worse_beyond_noise);
  a = answers(50, 10, 0, 30);
  j = judge_swap(a.from, a.to);
  CHECK(j.to_accuracy > j.from_accuracy);
  CHECK(j.p_value > 0.99);
  CHECK_FALSE(j.worse_beyond_noise);
  j = judge_swap({}, {});  // a swap at the very end: no records, no verdict against it
  CHECK(j.records == 0);
  CHECK(j.p_value == 1);
  CHECK_FALSE(j.worse_beyond_noise);
  CHECK_THROWS(judge_swap({true}, {}));
}
