// The hand-built stream the report tests check; every figure is worked out in test_report.cpp.
//
// Window [T, T + 1 day), now = T + 1 hour. Age bands {25, 40, 60}. Two policy versions: P1
// (minutes 0-5) and P2 (minutes 10-18); P2's hash sorts first so only ordering by first_ms
// puts P1 first. "m" = minutes after T, "task 101 60s" = completed 60 s after creation.
//
//  id  pol m  status          reason          model human          truth  Age    task
//  d01 P1  0  auto_approved   ok              good  -              -      22     -
//  d02 P1  1  pending_review  low_confidence  good  correct bad    -      23     101 60s, deadline +120s (met)
//  d03 P1  2  pending_review  low_confidence  bad   approve bad    good   45     102 300s, deadline +240s (breached)
//  d04 P1  3  auto_approved   ok              good  -              bad    25     -
//  d05 P1  4  rejected        fraud_rule      bad   -              -      61     -
//  d06 P1  5  pending_review  large_amount    good  reject ""      -      24     103 30s, no deadline
//  d07 P2 10  pending_review  low_confidence  bad   correct good   good   38     104 120s, deadline +120s (met, equal)
//  d08 P2 11  auto_approved   ok              good  -              good   39     -
//  d09 P2 12  pending_review  large_amount    good  -              -      33     105 assigned, deadline +60s (past now)
//  d10 P2 13  pending_review  low_confidence  bad   -              -      erased 106 pending, deadline +2h (future)
//  d11 P2 14  auto_approved   ok              good  -              -      60     -
//  d12 P2 15  pending_review  low_confidence  good  approve good   -      20     107 600s, no deadline
//  d13 P2 16  auto_approved   ok              bad   -              -      null   -
//  d14 P2 17  pending_review  large_amount    good  -              -      65     108 cancelled, deadline +60s (past)
//  d15 P2 18  pending_review  low_confidence  bad   correct good   -      40     110 90s, no deadline
// Outside the window (ignored, with their task and review): x-before at T - 1 ms, x-after at T + 1 day.
#include "fixture.hpp"

namespace hitl::report::test {

namespace {

std::string age(int a) { return R"({"Age":)" + std::to_string(a) + R"(,"Income":1000})"; }

}  // namespace

Facts current() {
  Facts f;
  auto at = [](int m) { return T + m * MIN; };
  auto& d = f.decisions;
  // Pushed out of time order on purpose: the report must not depend on the order of the facts.
  d.push_back(human(decision("d15", P2, at(18), "pending_review", "low_confidence", "bad", age(40), 110), "correct", "good"));
  d.push_back(decision("d01", P1, at(0), "auto_approved", "ok", "good", age(22)));
  d.push_back(human(decision("d02", P1, at(1), "pending_review", "low_confidence", "good", age(23), 101), "correct", "bad"));
  d.push_back(truth(human(decision("d03", P1, at(2), "pending_review", "low_confidence", "bad", age(45), 102), "approve", "bad"), "good"));
  d.push_back(truth(decision("d04", P1, at(3), "auto_approved", "ok", "good", age(25)), "bad"));
  d.push_back(decision("d05", P1, at(4), "rejected", "fraud_rule", "bad", age(61)));
  d.push_back(human(decision("d06", P1, at(5), "pending_review", "large_amount", "good", age(24), 103), "reject", ""));
  d.push_back(truth(human(decision("d07", P2, at(10), "pending_review", "low_confidence", "bad", age(38), 104), "correct", "good"), "good"));
  d.push_back(truth(decision("d08", P2, at(11), "auto_approved", "ok", "good", age(39)), "good"));
  d.push_back(decision("d09", P2, at(12), "pending_review", "large_amount", "good", age(33), 105));
  auto d10 = decision("d10", P2, at(13), "pending_review", "low_confidence", "bad", "{}", 106);
  d10.erased_ms = at(30);  // erasure blanks input_json to "{}"
  d.push_back(d10);
  d.push_back(decision("d11", P2, at(14), "auto_approved", "ok", "good", age(60)));
  d.push_back(human(decision("d12", P2, at(15), "pending_review", "low_confidence", "good", age(20), 107), "approve", "good"));
  d.push_back(decision("d13", P2, at(16), "auto_approved", "ok", "bad", R"({"Age":null})"));
  d.push_back(decision("d14", P2, at(17), "pending_review", "large_amount", "good", age(65), 108));
  d.push_back(human(decision("x-before", P1, T - 1, "pending_review", "outside", "good", age(30), 100), "correct", "bad"));
  d.push_back(human(decision("x-after", P1, T + DAY, "pending_review", "outside", "good", age(30), 109), "correct", "bad"));

  auto& t = f.tasks;
  t.push_back(task(101, "d02", "completed", at(1), at(1) + 60 * SEC, at(1) + 120 * SEC));
  t.push_back(task(102, "d03", "completed", at(2), at(2) + 300 * SEC, at(2) + 240 * SEC));
  t.push_back(task(103, "d06", "completed", at(5), at(5) + 30 * SEC));
  t.push_back(task(104, "d07", "completed", at(10), at(10) + 120 * SEC, at(10) + 120 * SEC));
  t.push_back(task(105, "d09", "assigned", at(12), at(12) + 5 * SEC, at(12) + 60 * SEC));
  t.push_back(task(106, "d10", "pending", at(13), at(13), at(13) + 2 * HOUR));
  t.push_back(task(107, "d12", "completed", at(15), at(15) + 600 * SEC));
  t.push_back(task(108, "d14", "cancelled", at(17), at(20), at(17) + 60 * SEC));
  t.push_back(task(110, "d15", "completed", at(18), at(18) + 90 * SEC));
  t.push_back(task(100, "x-before", "completed", T - 1, T + 9999 * SEC, T));
  t.push_back(task(109, "x-after", "pending", T + DAY, T + DAY, T + 1));  // would be open_breached

  auto& r = f.reviews;
  r.push_back(review(1, 101, at(1) + 20 * SEC, at(1) + 60 * SEC));     // 40 s
  r.push_back(review(2, 102, at(2) + 100 * SEC, at(2) + 300 * SEC));   // 200 s
  r.push_back(review(3, 103, 0, at(5) + 30 * SEC));                    // no start: 0 s
  r.push_back(review(4, 104, at(10) + 30 * SEC, at(10) + 120 * SEC));  // 90 s
  r.push_back(review(5, 107, at(15) + 480 * SEC, at(15) + 600 * SEC)); // 120 s
  r.push_back(review(6, 110, at(18) + 100 * SEC, at(18) + 90 * SEC));  // start after submit: 0 s
  r.push_back(review(7, 100, T, T + 1000 * SEC));                      // outside the cohort
  return f;
}

// The baseline window [T - 1 day, T):
//  b1 Age 20 pending_review good, truth good   -> <25,   flagged, case, model right
//  b2 Age 22 auto_approved  good, truth bad    -> <25,            case, model wrong
//  b3 Age 30 pending_review bad, correct good  -> 25-40, flagged, case, model wrong
//  b4 Age 35 auto_approved  good               -> 25-40
//  b5 Age 50 auto_approved  good, truth good   -> 40-60,          case, model right
//  b6 Age 45 auto_approved  good               -> 40-60
//  b7 at T (outside the baseline window; would add a >=60 group with flag rate 1)
// <25: flag 1/2, error 1/2; 25-40: flag 1/2, error 1/1; 40-60: flag 0/2, error 0/1.
// flag disparity 0.5 - 0 = 0.5; error disparity 1 - 0 = 1.
Facts baseline() {
  Facts f;
  auto at = [](int h) { return T - DAY + h * HOUR; };
  f.decisions.push_back(truth(decision("b1", P1, at(1), "pending_review", "low_confidence", "good", age(20), 1), "good"));
  f.decisions.push_back(truth(decision("b2", P1, at(2), "auto_approved", "ok", "good", age(22)), "bad"));
  f.decisions.push_back(human(decision("b3", P1, at(3), "pending_review", "low_confidence", "bad", age(30), 2), "correct", "good"));
  f.decisions.push_back(decision("b4", P1, at(4), "auto_approved", "ok", "good", age(35)));
  f.decisions.push_back(truth(decision("b5", P1, at(5), "auto_approved", "ok", "good", age(50)), "good"));
  f.decisions.push_back(decision("b6", P1, at(6), "auto_approved", "ok", "good", age(45)));
  f.decisions.push_back(decision("b7", P1, T, "pending_review", "low_confidence", "good", age(70), 3));
  return f;
}

Settings settings() {
  Settings s;
  s.group.field = "Age";
  s.group.bands = {25, 40, 60};
  s.cost.reviewer_per_hour = 36;
  s.cost.per_prediction = 0.02;
  return s;
}

}  // namespace hitl::report::test
