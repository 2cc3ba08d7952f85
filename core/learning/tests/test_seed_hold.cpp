// The seed's rule (learning/seed_hold.hpp), step by step: what a live event does before, during
// and after the read, what a failed read leaves, and what forget_read() lets count again. The
// races themselves, on a real storage, are core/app/tests/test_seed_race.cpp's.
#include <catch2/catch.hpp>

#include "learning/seed_hold.hpp"

#include <optional>
#include <string>
#include <vector>

namespace {
using hitl::learning::SeedHold;
using hitl::learning::SeedKey;
using hitl::learning::SeedSeen;

// The events `end` passed to count, in order.
std::vector<int> ended(SeedHold<int>& hold, std::optional<SeedSeen> seen) {
  std::vector<int> counted;
  hold.end(std::move(seen), [&](int e) { counted.push_back(e); });
  return counted;
}

}  // namespace

TEST_CASE("seed hold: events count before the read, wait while it runs, and the read's are not counted again after it") {
  SeedHold<int> hold;
  CHECK_FALSE(hold.read());
  CHECK(hold.hear({"a"}, 1));  // before: counted now (the read will replace it)
  hold.begin();
  CHECK_FALSE(hold.hear({"b"}, 2));  // the read has it
  CHECK_FALSE(hold.hear({"c"}, 3));  // the read missed it
  CHECK_FALSE(hold.hear({"c", 0, 7}, 4));  // another outcome of c, at another time
  CHECK_FALSE(hold.read());
  CHECK(ended(hold, SeedSeen{{"a"}, {"b"}, {"d"}, {"e", 1}}) == std::vector<int>{3, 4});
  CHECK(hold.read());
  CHECK_FALSE(hold.hear({"d"}, 5));  // late: the read had it
  CHECK(hold.hear({"d"}, 6));        // each read key takes one event only
  CHECK(hold.hear({"e"}, 7));        // another kind of event of e
  CHECK_FALSE(hold.hear({"e", 1}, 8));
  CHECK(hold.hear({"f"}, 9));
}

TEST_CASE("seed hold: a failed read counts every held event, and forget_read lets a late one count") {
  SeedHold<int> failed;
  failed.begin();
  CHECK_FALSE(failed.hear({"a"}, 1));
  CHECK_FALSE(failed.hear({"a"}, 2));
  CHECK(ended(failed, std::nullopt) == std::vector<int>{1, 2});
  CHECK(failed.read());

  SeedHold<int> trained;
  trained.begin();
  CHECK(ended(trained, SeedSeen{{"x"}, {"x"}, {"y"}}).empty());
  CHECK_FALSE(trained.hear({"x"}, 1));  // a multiset: two of x in the read
  trained.forget_read();                 // a training began: what comes now counts toward the next
  CHECK(trained.hear({"x"}, 2));
  CHECK(trained.hear({"y"}, 3));
}
