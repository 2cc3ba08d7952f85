#pragma once
// The slow lane: a small bounded executor for routes whose cost grows with the stored data
// (reports, listings, trace, erasure). They run here, never on the HTTP I/O threads, so a report
// over 300k decisions cannot stall /healthz or ingest. A full queue refuses at once (the caller
// answers 503 busy): an I/O thread never waits for a slow thread.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hitl::service {

class SlowLane {
 public:
  // A job runs with `run = true`; with `run = false` when the lane stops before it started, so it
  // can still answer its client (503 shutting_down) instead of being dropped silently.
  using Job = std::function<void(bool run)>;
  enum class Admission { queued, busy, stopped };

  // Jobs waiting per thread before submit() answers busy: a queued report already waits for
  // those ahead of it, so a longer queue only turns a clear 503 into a client timeout.
  static constexpr std::size_t kQueuePerThread = 8;

  explicit SlowLane(int threads);
  ~SlowLane();  // stop()
  SlowLane(const SlowLane&) = delete;
  SlowLane& operator=(const SlowLane&) = delete;

  void start();  // before start() (and after stop()) submit() answers stopped
  // Refuses new jobs, calls the queued ones with run = false, and joins (a running job finishes).
  void stop();
  Admission submit(Job job);  // never blocks

  int threads() const { return threads_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t queued() const;

 private:
  enum class State { idle, running, stopped };
  void loop();

  const int threads_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mu_
  State state_ = State::idle;
  std::vector<std::thread> workers_;
};

}  // namespace hitl::service
