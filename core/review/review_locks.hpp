#pragma once
// The locks of ReviewService (issue 19). Claims and submits, the hot paths, used to take one
// mutex across their synchronous storage commit and queue transaction, so 64 reviewers were
// served one at a time (~600 pairs/s) and the writer never merged two of their commits. Now:
//  - a claim or a submit takes its reviewer's lock (a reviewer's capacity and fatigue are counted
//    from their own held tasks and reviews, so one reviewer's claims and submits go in turn) and
//    the task lock *shared*: claims and submits of different reviewers run together. They never
//    touch the same task at once: the queue hands a task to one lease holder (its claim is one
//    statement) and only that holder's ack gets past a submit's first step, while storage applies
//    each move only from the states it expects (guarded TaskUpdate);
//  - every other move of a task (release, cancel, send-back, renew, assign, the SLA step, lease
//    expiry and reconciliation) takes the task lock *exclusively*, so it never interleaves with a
//    claim or a submit, as before.
// A waiting exclusive holder closes the gate to new shared holders (no starvation by a stream of
// claims), and nothing takes a reviewer's lock while holding the task lock (no cycle).
#include <array>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>

namespace hitl::service {

class ReviewLocks {
 public:
  struct Shared {
    std::unique_lock<std::mutex> reviewer;
    std::shared_lock<std::shared_mutex> tasks;
  };
  struct Exclusive {
    std::unique_lock<std::mutex> gate;
    std::unique_lock<std::shared_mutex> tasks;
  };

  Shared reviewer_turn(const std::string& reviewer) {
    Shared turn{std::unique_lock(reviewers_[std::hash<std::string>{}(reviewer) % reviewers_.size()]), {}};
    std::lock_guard gate(gate_);
    turn.tasks = std::shared_lock(tasks_);
    return turn;
  }

  Exclusive exclusive() {
    Exclusive turn{std::unique_lock(gate_), {}};
    turn.tasks = std::unique_lock(tasks_);
    return turn;
  }

 private:
  std::array<std::mutex, 256> reviewers_;  // by a hash of the reviewer's name
  std::mutex gate_;
  std::shared_mutex tasks_;
};

}  // namespace hitl::service
