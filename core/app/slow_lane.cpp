#include "app/slow_lane.hpp"

#include <algorithm>

namespace hitl::service {

SlowLane::SlowLane(int threads)
    : threads_(std::max(1, threads)), capacity_(kQueuePerThread * static_cast<std::size_t>(std::max(1, threads))) {}

SlowLane::~SlowLane() { stop(); }

void SlowLane::start() {
  std::lock_guard lock(mu_);
  if (state_ != State::idle) return;
  state_ = State::running;
  workers_.reserve(static_cast<std::size_t>(threads_));
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
}

void SlowLane::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mu_);
    if (state_ == State::stopped) return;
    state_ = State::stopped;
    dropped.swap(jobs_);
  }
  cv_.notify_all();
  for (auto& job : dropped) job(false);
  for (auto& t : workers_) t.join();
  workers_.clear();
}

SlowLane::Admission SlowLane::submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::running) return Admission::stopped;
    if (jobs_.size() >= capacity_) return Admission::busy;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return Admission::queued;
}

std::size_t SlowLane::queued() const {
  std::lock_guard lock(mu_);
  return jobs_.size();
}

void SlowLane::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return state_ == State::stopped || !jobs_.empty(); });
    if (state_ == State::stopped) return;  // stop() answers what is still queued
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job(true);  // a job answers its own errors (Api::to_slow_lane)
    } catch (...) {
      // Not expected; the thread must survive it. A Respond the job dropped still answers 500.
    }
    lock.lock();
  }
}

}  // namespace hitl::service
