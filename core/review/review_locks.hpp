#pragma once
// The turns of ReviewService (issue 19). Claims and submits, the hot paths, are answered from
// the writer's after-commit callback: the I/O thread hands them off and returns to its event
// loop, and the writer merges many reviewers' claims and submits into one transaction. No lock is
// held while a commit is awaited (a std::mutex cannot be left on another thread, and a blocked
// thread per claim is what this replaced); instead:
//  - a claim or a submit takes a *shared turn* for its reviewer: admitted at once when no other
//    claim or submit of the same reviewer is in flight (a reviewer's capacity and fatigue are
//    counted from their own held tasks and reviews, so one reviewer's claims and submits go in
//    turn), otherwise queued behind it. Shared turns of different reviewers run together. They
//    never touch the same task at once: the queue hands a task to one lease holder (its claim is
//    one statement) and only that holder's ack gets past a submit's first step, while storage
//    applies each move only from the states it expects (guarded TaskUpdate);
//  - every other move of a task (release, cancel, send-back, renew, assign, the SLA step, lease
//    expiry and reconciliation) takes the *exclusive* turn, a blocking call made on a thread that
//    may wait (housekeeping, or an admin's request): it waits until no shared turn is in flight,
//    so it never interleaves with a claim or a submit, as before.
// A waiting exclusive holder closes the gate: shared turns asked for meanwhile are queued, not
// run, so a stream of claims cannot starve it; they are admitted when the last exclusive holder
// leaves. Queuing never blocks the caller: a queued turn runs later on the thread that frees it.
// So nothing ever waits for a shared turn while holding one (no cycle), and the exclusive turn
// must never be asked for on the writer thread (shared turns need it to finish).
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace hitl::service {

class ReviewLocks {
 public:
  // What a shared turn runs once admitted. Keep it short: it hands the work off (e.g. posts a step
  // to the writer thread), since it may run on the thread that admits it.
  using Turn = std::function<void()>;

  // Runs `turn` now if admitted, or later (when the reviewer's previous turn or the exclusive
  // holders leave) on the thread that admits it. Every admitted turn must end with leave_shared.
  void enter_shared(const std::string& reviewer, Turn turn);
  void leave_shared(const std::string& reviewer);

  class Exclusive {
   public:
    explicit Exclusive(ReviewLocks* locks) : locks_(locks) {}
    Exclusive(Exclusive&& o) noexcept : locks_(std::exchange(o.locks_, nullptr)) {}
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;
    Exclusive& operator=(Exclusive&&) = delete;
    ~Exclusive() {
      if (locks_) locks_->leave_exclusive();
    }

   private:
    ReviewLocks* locks_;
  };
  // Blocks until no shared turn is in flight and no other exclusive holder runs.
  Exclusive exclusive();

  // Shared turns admitted and not yet left (for tests).
  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    return in_flight_;
  }

 private:
  void leave_exclusive();
  bool gate_closed() const { return exclusive_held_ || exclusive_waiting_ > 0; }

  mutable std::mutex mu_;
  std::condition_variable exclusive_cv_;
  // A reviewer with a shared turn in flight, with the turns queued behind it (in order).
  std::unordered_map<std::string, std::deque<Turn>> reviewers_;
  std::size_t in_flight_ = 0;
  std::size_t exclusive_waiting_ = 0;
  bool exclusive_held_ = false;
  // Shared turns asked for while the gate was closed, in order.
  std::deque<std::pair<std::string, Turn>> gated_;
};

}  // namespace hitl::service
