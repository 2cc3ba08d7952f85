// The turns of ReviewService (review/review_locks.hpp): one claim or submit per reviewer in
// flight, different reviewers together, the exclusive turn alone, and a waiting exclusive holder
// closing the gate to new shared turns, which are queued rather than blocked.
#include <catch2/catch.hpp>

#include "review/claim_lane.hpp"
#include "review/review_locks.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

using hitl::service::ReviewLocks;

namespace {
// Records which turns ran, in order.
struct Ran {
  std::vector<std::string> order;
  ReviewLocks::Turn turn(const std::string& name) {
    return [this, name] { order.push_back(name); };
  }
};
}  // namespace

TEST_CASE("review locks: one turn per reviewer in flight, different reviewers together", "[review]") {
  ReviewLocks locks;
  Ran ran;
  locks.enter_shared("alice", ran.turn("alice-1"));
  locks.enter_shared("bob", ran.turn("bob-1"));
  locks.enter_shared("alice", ran.turn("alice-2"));  // queued behind alice-1
  CHECK(ran.order == std::vector<std::string>{"alice-1", "bob-1"});
  CHECK(locks.in_flight() == 2);
  locks.leave_shared("alice");  // alice-2 inherits the turn
  CHECK(ran.order == std::vector<std::string>{"alice-1", "bob-1", "alice-2"});
  CHECK(locks.in_flight() == 2);
  locks.leave_shared("alice");
  locks.leave_shared("bob");
  CHECK(locks.in_flight() == 0);
  locks.leave_shared("carol");  // never entered: nothing happens
  CHECK(locks.in_flight() == 0);
}

TEST_CASE("review locks: the exclusive turn waits for the shared ones and holds back new ones", "[review]") {
  ReviewLocks locks;
  Ran ran;
  locks.enter_shared("alice", ran.turn("alice-1"));
  locks.enter_shared("alice", ran.turn("alice-2"));
  std::atomic<bool> exclusive_held{false};
  std::promise<void> release_exclusive;
  std::thread admin([&] {
    auto turn = locks.exclusive();
    exclusive_held = true;
    release_exclusive.get_future().wait();
  });
  // The waiting exclusive holder closes the gate: a new reviewer's turn is queued, not run.
  for (int i = 0; i < 200 && ran.order.size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(exclusive_held);
  locks.enter_shared("bob", ran.turn("bob-1"));
  CHECK(ran.order == std::vector<std::string>{"alice-1"});
  // alice leaves: her queued turn waits for the exclusive holder too, which now runs.
  locks.leave_shared("alice");
  for (int i = 0; i < 2000 && !exclusive_held; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(exclusive_held);
  CHECK(ran.order == std::vector<std::string>{"alice-1"});
  CHECK(locks.in_flight() == 0);
  // Leaving the exclusive turn admits the held-back turns, in order, on the leaving thread.
  release_exclusive.set_value();
  admin.join();
  CHECK(ran.order == std::vector<std::string>{"alice-1", "alice-2", "bob-1"});
  CHECK(locks.in_flight() == 2);
  locks.leave_shared("alice");
  locks.leave_shared("bob");
  CHECK(locks.in_flight() == 0);
}

TEST_CASE("claim lane of several threads: its steps run at once, and stop runs what was posted first", "[review]") {
  hitl::service::ClaimLane lane(3);
  // Three steps that each wait until all three have started: they pass only on three threads.
  std::atomic<int> started{0}, done{0};
  std::atomic<bool> all_on_lane{true};
  for (int i = 0; i < 3; ++i)
    lane.post([&] {
      if (!lane.on_lane_thread()) all_on_lane = false;
      ++started;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (started < 3 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      if (started == 3) ++done;
    });
  for (int i = 0; i < 20; ++i) lane.post([&] { ++done; });
  lane.stop();  // runs the 23 steps posted before it
  CHECK(done == 23);
  CHECK(all_on_lane);
  CHECK_FALSE(lane.on_lane_thread());
  lane.post([&] { ++done; });  // stopped: runs on the caller's thread
  CHECK(done == 24);
}
