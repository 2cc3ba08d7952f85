#include "review/review_locks.hpp"

namespace hitl::service {

void ReviewLocks::enter_shared(const std::string& reviewer, Turn turn) {
  {
    std::lock_guard lock(mu_);
    if (gate_closed()) {
      gated_.emplace_back(reviewer, std::move(turn));
      return;
    }
    auto [it, fresh] = reviewers_.try_emplace(reviewer);
    if (!fresh) {
      it->second.push_back(std::move(turn));
      return;
    }
    ++in_flight_;
  }
  turn();
}

void ReviewLocks::leave_shared(const std::string& reviewer) {
  Turn next;
  {
    std::lock_guard lock(mu_);
    auto it = reviewers_.find(reviewer);
    if (it == reviewers_.end()) return;  // not in flight: nothing to leave
    auto& waiting = it->second;
    if (!waiting.empty() && !gate_closed()) {
      // The reviewer's next turn inherits this one: in_flight_ stays as it is.
      next = std::move(waiting.front());
      waiting.pop_front();
    } else {
      // With the gate closed the reviewer's queued turns wait for the exclusive holders, ahead of
      // the ones asked for since (so one reviewer's requests keep their order).
      for (auto t = waiting.rbegin(); t != waiting.rend(); ++t) gated_.emplace_front(reviewer, std::move(*t));
      reviewers_.erase(it);
      if (--in_flight_ == 0) exclusive_cv_.notify_all();
    }
  }
  if (next) next();
}

ReviewLocks::Exclusive ReviewLocks::exclusive() {
  std::unique_lock lock(mu_);
  ++exclusive_waiting_;
  exclusive_cv_.wait(lock, [&] { return !exclusive_held_ && in_flight_ == 0; });
  --exclusive_waiting_;
  exclusive_held_ = true;
  return Exclusive(this);
}

void ReviewLocks::leave_exclusive() {
  std::deque<std::pair<std::string, Turn>> admit;
  {
    std::lock_guard lock(mu_);
    exclusive_held_ = false;
    if (exclusive_waiting_ > 0) {  // the next exclusive holder goes first; the gate stays closed
      exclusive_cv_.notify_all();
      return;
    }
    admit.swap(gated_);
  }
  for (auto& [reviewer, turn] : admit) enter_shared(reviewer, std::move(turn));
}

}  // namespace hitl::service
