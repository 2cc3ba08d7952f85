#include "review/claim_lane.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace hitl::service {

ClaimLane::ClaimLane(int threads) {
  for (int i = 0; i < threads; ++i) ids_.push_back(threads_.emplace_back([this] { run(); }).get_id());
}

ClaimLane::~ClaimLane() { stop(); }

void ClaimLane::post(Step step) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      steps_.push_back(std::move(step));
      cv_.notify_one();
      return;
    }
  }
  run_one(step);
}

void ClaimLane::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
}

bool ClaimLane::on_lane_thread() const {
  for (auto& id : ids_)
    if (id == std::this_thread::get_id()) return true;
  return false;
}

void ClaimLane::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !steps_.empty(); });
    if (steps_.empty()) return;  // stopping, and everything posted before has run
    Step step = std::move(steps_.front());
    steps_.pop_front();
    lock.unlock();
    run_one(step);
    lock.lock();
  }
}

void ClaimLane::run_one(Step& step) {
  try {
    step();
  } catch (const std::exception& e) {  // the lane must outlive a faulty step
    spdlog::error("claim lane step failed: {}", e.what());
  } catch (...) {
    spdlog::error("claim lane step failed: an exception that is not a std::exception");
  }
}

ClaimLane& ClaimLanes::of(const std::string& domain) {
  std::lock_guard lock(mu_);
  auto& lane = lanes_[domain];
  if (!lane) {
    lane = std::make_unique<ClaimLane>();
    if (stopped_) lane->stop();
  }
  return *lane;
}

void ClaimLanes::start_step_threads(int threads) {
  std::lock_guard lock(mu_);
  steps_ = threads > 0 ? std::make_unique<ClaimLane>(threads) : nullptr;
  if (steps_ && stopped_) steps_->stop();
}

void ClaimLanes::stop() {
  std::map<std::string, ClaimLane*> lanes;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    for (auto& [name, lane] : lanes_) lanes[name] = lane.get();
  }
  for (auto& [_, lane] : lanes) lane->stop();  // outside the lock: a step may ask of() meanwhile
  if (steps_) steps_->stop();
}

bool ClaimLanes::on_a_lane_thread() const {
  std::lock_guard lock(mu_);
  for (auto& [_, lane] : lanes_)
    if (lane->on_lane_thread()) return true;
  return steps_ && steps_->on_lane_thread();
}

}  // namespace hitl::service
