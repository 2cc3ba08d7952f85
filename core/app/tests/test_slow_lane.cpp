// The slow lane's admission: bounded queue, never blocking, and every job answered at stop.
#include "app/slow_lane.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using hitl::service::SlowLane;
using Admission = SlowLane::Admission;

TEST_CASE("the slow lane refuses at once when its queue is full and answers queued jobs at stop") {
  SlowLane lane(1);
  CHECK(lane.submit([](bool) {}) == Admission::stopped);  // not started
  lane.start();
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<bool> running{false};
  REQUIRE(lane.submit([&, gate](bool) {
    running = true;
    gate.wait();  // holds the only thread
  }) == Admission::queued);
  for (int i = 0; i < 200 && !running; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(running);

  std::atomic<int> ran{0}, dropped{0};
  for (std::size_t i = 0; i < lane.capacity(); ++i)
    CHECK(lane.submit([&](bool run) { ++(run ? ran : dropped); }) == Admission::queued);
  // Busy at once: had submit waited for room it would never return, since the only thread is
  // held by the gate until after this line.
  CHECK(lane.submit([](bool) {}) == Admission::busy);
  CHECK(lane.queued() == lane.capacity());

  std::thread stopper([&] { lane.stop(); });
  // Once stop() has begun a submit says so (the full queue said busy until then, adding nothing).
  bool stopping = false;
  for (int i = 0; i < 2000 && !stopping; ++i) {
    stopping = lane.submit([](bool) {}) == Admission::stopped;
    if (!stopping) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(stopping);
  release.set_value();  // the running job finishes; the queued ones were told run = false
  stopper.join();
  CHECK(ran == 0);
  CHECK(dropped == static_cast<int>(lane.capacity()));
  CHECK(lane.submit([](bool) {}) == Admission::stopped);
}

TEST_CASE("slow lane jobs run on its threads, several at once") {
  SlowLane lane(2);
  lane.start();
  std::atomic<int> inside{0}, peak{0}, done{0};
  for (int i = 0; i < 6; ++i)
    REQUIRE(lane.submit([&](bool run) {
      if (!run) return;
      peak = std::max(peak.load(), ++inside);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --inside;
      ++done;
    }) == Admission::queued);
  for (int i = 0; i < 200 && done < 6; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(done == 6);
  CHECK(peak == 2);
  lane.stop();
}
