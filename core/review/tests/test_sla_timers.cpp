// The SLA timers behind ReviewService::check_slas (review/sla_timers.hpp): the rule for which
// event is due, when the next one is, and the time-ordered set at a million tasks.
#include "review/sla_timers.hpp"

#include <catch2/catch.hpp>

#include <random>

using hitl::service::SlaTimers;

namespace {
hitl::sdk::TaskRecord task(std::int64_t created, std::int64_t deadline, const std::string& state = "") {
  hitl::sdk::TaskRecord t;
  t.task_id = 1;
  t.created_ms = created;
  t.deadline_ms = deadline;
  t.sla_state = state;
  return t;
}
}  // namespace

TEST_CASE("the SLA rule: at risk once the fraction has passed, breached strictly after the deadline") {
  using E = SlaTimers::Event;
  const auto t = task(1000, 11000);  // at risk (0.8) at 9000
  CHECK(SlaTimers::due_event(t, 0.8, 8999) == E::none);
  CHECK(SlaTimers::due_event(t, 0.8, 9000) == E::at_risk);
  CHECK(SlaTimers::due_event(t, 0.8, 11000) == E::at_risk);
  CHECK(SlaTimers::due_event(t, 0.8, 11001) == E::breached);  // past both: breached wins
  CHECK(SlaTimers::next_due(t, 0.8) == 9000);

  const auto risky = task(1000, 11000, "at_risk");
  CHECK(SlaTimers::due_event(risky, 0.8, 10000) == E::none);
  CHECK(SlaTimers::due_event(risky, 0.8, 11001) == E::breached);
  CHECK(SlaTimers::next_due(risky, 0.8) == 11001);

  CHECK(SlaTimers::due_event(task(1000, 11000, "breached"), 0.8, 99999) == E::none);
  CHECK_FALSE(SlaTimers::next_due(task(1000, 11000, "breached"), 0.8));
  CHECK(SlaTimers::due_event(task(1000, 0), 0.8, 99999) == E::none);  // no deadline
  CHECK_FALSE(SlaTimers::next_due(task(1000, 0), 0.8));
  CHECK(std::string(SlaTimers::name(E::at_risk)) == "at_risk");
  CHECK(std::string(SlaTimers::name(E::breached)) == "breached");
}

TEST_CASE("a million timers: each check takes exactly what is due, in bounded chunks") {
  constexpr std::int64_t kTasks = 1'000'000;
  SlaTimers timers;
  std::mt19937_64 rng(19);
  std::uniform_int_distribution<std::int64_t> when(0, 999'999);
  for (std::int64_t id = 1; id <= kTasks; ++id) timers.schedule(id, when(rng));
  REQUIRE(timers.size() == static_cast<std::size_t>(kTasks));

  // Nothing due before the first moment; a check at t takes exactly the timers due by t.
  std::int64_t taken = 0, last_due_seen = -1;
  for (std::int64_t now = 0; now < 1'000'000; now += 100'000) {
    for (;;) {
      const auto chunk = timers.take_due(now, 256);
      CHECK(chunk.size() <= 256);
      taken += static_cast<std::int64_t>(chunk.size());
      if (chunk.size() < 256) break;
    }
    // What is left is all due later than `now`.
    const auto peek = timers.take_due(now, 1);
    CHECK(peek.empty());
    last_due_seen = now;
  }
  CHECK(last_due_seen == 900'000);
  CHECK(taken + static_cast<std::int64_t>(timers.size()) == kTasks);
  const auto rest = timers.take_due(999'999, kTasks);
  CHECK(static_cast<std::int64_t>(rest.size()) + taken == kTasks);
  CHECK(timers.size() == 0);
}
