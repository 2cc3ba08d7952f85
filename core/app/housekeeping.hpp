#pragma once
// What runs beside the HTTP server of `hitl serve`, from start() to stop():
//   - the housekeeping jobs (housekeeping_jobs below) on the scheduler's thread;
//   - the start-up requeue: every open task back into the queue (if it lost any) and its SLA
//     moments scheduled, a page at a time while the service answers (ReviewService::
//     requeue_open_tasks), on its own thread;
//   - the slow lane, the notifier (long-poll deadlines, webhook deliveries) and the retrain
//     worker, which have their own threads.
#include "app/scheduler.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace hitl::service {

class App;

// The leadership among instances sharing a database once a second, first (cluster/cluster.hpp:
// the SLA checks and retention below run on the leader only); lease expiry once a second; model reloads every 2 s (a promoted artifact is live within about
// 2 s, without a restart); policy reloads every policy.watch_seconds (a stat of each policy file;
// a changed one is tested by its cases and swapped in, app/policy_reloader.hpp); SLA states and escalations every 5 s (they change on a scale of
// minutes; a burst goes on at the next tick); the audit chain head every audit.head_log_seconds
// (an operator ships these lines elsewhere to anchor the chain); payload retention and the tokens'
// last uses once a minute.
std::vector<PeriodicJob> housekeeping_jobs(App& app);

// Erases the payloads older than each domain's retention_days (audited as the system actor).
void erase_expired_payloads(App& app, std::int64_t now_ms);
// Writes the tokens' last uses kept in memory (TokenService::take_uses) through the writer: once
// a minute and at the stop, so "last used" costs no write per request.
void record_token_uses(App& app);

class Background {
 public:
  // `tick_ms`: how often the housekeeping thread wakes (tests make it short).
  explicit Background(App& app, std::int64_t tick_ms = Scheduler::kTickMs);
  ~Background();  // stop()
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  void start();
  // Interrupts running policy calls (none may hold a thread past the stop), then stops, in this
  // order, the requeue, the housekeeping jobs, the retrain worker, the notifier (waiting requests
  // get their answer) and the slow lane (queued routes answered 503): all before the server.
  void stop();

 private:
  App& app_;
  Scheduler scheduler_;
  std::atomic<bool> stopping_{false};
  std::thread requeue_;
  bool started_ = false;
};

}  // namespace hitl::service
