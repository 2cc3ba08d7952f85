#include "app/scheduler.hpp"

#include "common/clock.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace hitl::service {

Scheduler::Scheduler(std::vector<PeriodicJob> jobs, std::int64_t tick_ms) : tick_ms_(tick_ms) {
  for (auto& job : jobs) entries_.push_back({std::move(job), 0});
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::schedule_from(std::int64_t start_ms) {
  for (auto& e : entries_) e.next_ms = start_ms + e.job.first_delay_ms;
}

std::size_t Scheduler::run_due(std::int64_t now) {
  std::size_t ran = 0;
  for (auto& e : entries_) {
    if (now < e.next_ms) continue;
    e.next_ms = now + e.job.every_ms;
    ++ran;
    try {
      if (e.job.run()) e.next_ms = now;
    } catch (const std::exception& ex) {
      spdlog::warn("{}: {}", e.job.name, ex.what());
    }
  }
  return ran;
}

void Scheduler::start() {
  schedule_from(now_ms());
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(tick_ms_), [this] { return stopping_; })) {
      lock.unlock();
      run_due(now_ms());
      lock.lock();
    }
  });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace hitl::service
