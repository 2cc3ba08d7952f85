#pragma once
// The threads where claims and submits run their steps, instead of the writer thread.
//
// A claim's steps run on the writer thread between two group commits (review_claims.cpp): the
// queue lease and the task's move then never wait on another connection for the write lock,
// which made claims twice as fast (docs/performance.md). That holds while the steps are cheap.
// A domain whose claims run policy code (an assign() hook) or read what grows with the
// reviewer's work (a gold-accuracy bound, fatigue limits) would make every commit wait for them,
// ingest included: a slow assign() would slow the intake of every domain. Those claims run on a
// lane of their domain (ClaimLanes), one at a time, in order; their storage writes still go
// through the writer.
// Over a network database (writer.step_threads, the default with the postgres queue) every step
// is a round trip: one lane of several threads runs the other claims' and the submits' steps,
// so the reviewers' round trips overlap and the writer thread only commits (issue 20).
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hitl::service {

class ClaimLane {
 public:
  using Step = std::function<void()>;
  // `threads` > 1: steps posted one after the other may run at once (the caller orders what must
  // not: a reviewer's steps go in their turn, review_locks.hpp).
  explicit ClaimLane(int threads = 1);
  ~ClaimLane();  // stop()
  ClaimLane(const ClaimLane&) = delete;
  ClaimLane& operator=(const ClaimLane&) = delete;

  // Runs `step` on a lane thread once the steps posted before it are taken. Once stopped, runs it on
  // the caller's thread instead (a claim answered while the service stops is not lost). A step
  // must not throw (a throw is logged and dropped) and must not block on its own answer.
  void post(Step step);
  // Runs the steps already posted, then ends the thread. Idempotent. Before the writer stops:
  // the steps submit to it.
  void stop();
  bool on_lane_thread() const;

 private:
  void run();
  static void run_one(Step& step);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Step> steps_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> ids_;  // set before any step is posted; a join does not clear them
};

// A lane per domain, made at the domain's first claim that needs one, so a slow assign() in one
// domain delays only that domain's claims. Domains come from the config: the threads are bounded.
class ClaimLanes {
 public:
  ClaimLane& of(const std::string& domain);  // after stop(): a stopped lane (steps run inline)
  // The lane of `threads` threads for every other step (writer.step_threads), made before serving;
  // 0: none (those steps run on the writer thread).
  void start_step_threads(int threads);
  ClaimLane* step_threads() const { return steps_.get(); }  // null: none
  void stop();                               // stops every lane; idempotent
  bool on_a_lane_thread() const;

 private:
  mutable std::mutex mu_;
  std::unique_ptr<ClaimLane> steps_;
  std::map<std::string, std::unique_ptr<ClaimLane>> lanes_;
  bool stopped_ = false;
};

}  // namespace hitl::service
