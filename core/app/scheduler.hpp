#pragma once
// Periodic jobs on one background thread, timed by the service clock (common/clock.hpp, which
// tests move): every `tick_ms` of real time the thread wakes and runs each job whose time has
// come. stop() wakes it at once.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hitl::service {

struct PeriodicJob {
  std::string name;
  std::int64_t every_ms = 1000;
  std::int64_t first_delay_ms = 0;  // after start() (0: at the first tick)
  // Returns true when it has more to do at once (a burst): it runs again at the next tick.
  // An exception is logged with the job's name; the job runs again at its next time.
  std::function<bool()> run;
};

class Scheduler {
 public:
  static constexpr std::int64_t kTickMs = 1000;

  explicit Scheduler(std::vector<PeriodicJob> jobs, std::int64_t tick_ms = kTickMs);
  ~Scheduler();  // stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Each job is first due at `start_ms` + its first_delay_ms.
  void schedule_from(std::int64_t start_ms);
  // Runs, in table order, every job due at `now_ms` and sets its next time. Returns how many ran.
  // What the thread calls at each tick; tests call it with chosen times.
  std::size_t run_due(std::int64_t now_ms);

  // schedule_from(now_ms()), then ticks on a thread until stop().
  void start();
  void stop();

 private:
  struct Entry {
    PeriodicJob job;
    std::int64_t next_ms = 0;
  };
  std::vector<Entry> entries_;
  std::int64_t tick_ms_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hitl::service
