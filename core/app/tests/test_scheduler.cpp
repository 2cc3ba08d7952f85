// The housekeeping scheduler (app/scheduler.hpp): when each job runs, bursts, errors, and the
// thread driven by the service clock. No fixed sleeps: the threaded cases wait on a condition.
#include "app/scheduler.hpp"

#include "common/clock.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

using hitl::service::PeriodicJob;
using hitl::service::Scheduler;

namespace {
// Records which job ran, in order.
struct Log {
  std::vector<std::string> ran;
  std::function<bool()> job(const std::string& name, bool burst = false) {
    return [this, name, burst] {
      ran.push_back(name);
      return burst;
    };
  }
};

// Counts runs of a job on the scheduler's thread; wait_for() waits on a condition, not a sleep.
struct Counter {
  std::mutex mu;
  std::condition_variable cv;
  int runs = 0;
  std::function<bool()> job() {
    return [this] {
      {
        std::lock_guard lock(mu);
        ++runs;
      }
      cv.notify_all();
      return false;
    };
  }
  bool wait_for(int at_least) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return runs >= at_least; });
  }
  int count() {
    std::lock_guard lock(mu);
    return runs;
  }
};

// Moves the service clock for one test case.
struct ClockShift {
  ~ClockShift() { hitl::set_clock_offset_ms(0); }
  void by(std::int64_t ms) { hitl::set_clock_offset_ms(hitl::clock_offset_ms() + ms); }
};
}  // namespace

TEST_CASE("each job runs when its first delay has passed, then every `every_ms`") {
  Log log;
  Scheduler s({{"fast", 1000, 0, log.job("fast")}, {"slow", 5000, 2000, log.job("slow")}});
  s.schedule_from(10'000);
  CHECK(s.run_due(9'999) == 0);
  CHECK(s.run_due(10'000) == 1);  // fast only: slow waits for its first delay
  CHECK(s.run_due(10'500) == 0);
  CHECK(s.run_due(11'000) == 1);
  CHECK(s.run_due(12'000) == 2);  // fast, and slow's first run
  CHECK(s.run_due(16'999) == 1);  // fast (every tick), slow not before 17'000
  CHECK(s.run_due(17'000) == 1);  // fast was just run at 16'999: slow only
  CHECK(log.ran == std::vector<std::string>{"fast", "fast", "fast", "slow", "fast", "slow"});
}

TEST_CASE("a job that reports a burst runs again at the next tick, after the jobs before it") {
  Log log;
  bool more = true;
  Scheduler s({{"lease expiry", 1000, 0, log.job("lease")}, {"sla check", 5000, 0, [&] {
                 log.ran.push_back("sla");
                 return more;
               }}});
  s.schedule_from(0);
  CHECK(s.run_due(0) == 2);
  CHECK(s.run_due(1) == 1);  // the burst goes on at once; lease expiry waits its second
  more = false;
  CHECK(s.run_due(1000) == 2);
  CHECK(s.run_due(2000) == 1);  // the burst is over: sla check waits its 5 s again
  CHECK(log.ran == std::vector<std::string>{"lease", "sla", "sla", "lease", "sla", "lease"});
}

TEST_CASE("a job that throws is logged and keeps its schedule, and the others still run") {
  Log log;
  int failures = 0;
  Scheduler s({{"broken", 1000, 0, [&]() -> bool {
                 ++failures;
                 throw std::runtime_error("storage unavailable");
               }},
               {"next", 1000, 0, log.job("next")}});
  s.schedule_from(0);
  CHECK(s.run_due(0) == 2);
  CHECK(s.run_due(500) == 0);  // not retried before its time
  CHECK(s.run_due(1000) == 2);
  CHECK(failures == 2);
  CHECK(log.ran.size() == 2);
}

TEST_CASE("the scheduler's thread runs a job when the service clock reaches its time, and stops at once") {
  ClockShift clock;
  Counter minute;
  Scheduler s({{"retention", 60'000, 60'000, minute.job()}}, /*tick_ms=*/5);
  s.start();
  clock.by(60'000);  // a minute passes on the service clock
  REQUIRE(minute.wait_for(1));
  clock.by(60'000);
  REQUIRE(minute.wait_for(2));
  const auto t0 = std::chrono::steady_clock::now();
  s.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));  // woken, not a full tick
  const int runs = minute.count();
  clock.by(600'000);
  s.run_due(hitl::now_ms());  // the test may still call it; the stopped thread does not
  CHECK(minute.count() == runs + 1);
}

TEST_CASE("stop() without start() and twice is harmless") {
  Scheduler s({{"x", 1000, 0, [] { return false; }}}, 5);
  s.stop();
  s.stop();
}
