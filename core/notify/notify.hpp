#pragma once
// Telling clients that a human decision is final (issue 3, items 7 and 9):
//
//  - Long-poll waiters (`?wait=` on POST .../predictions and GET .../decisions/{id}). A waiter
//    holds the request's reply callback in a registry keyed by (domain, decision id); no HTTP
//    thread blocks. It is answered exactly once: by on_final() (the review commit), by the timer
//    thread at its deadline, or by stop(). The number of waiters is bounded (kMaxWaiters).
//  - Webhooks. For a domain with `webhook.url`, the review transaction that makes a decision
//    final also inserts a `deliveries` row (delivery_for(), so none is lost); a worker thread
//    POSTs due pending rows, signed with HMAC-SHA256, and records the outcome through the writer:
//    delivered, or retried with exponential backoff (1 s, 2 s, 4 s ... capped at 10 min, minus up
//    to 20 % jitter), or failed after `webhook.max_attempts`. Rows are persisted, so a restart
//    resumes them. Delivery is at least once: receivers deduplicate on X-Hitl-Delivery.
//
// Threads: the timer thread (deadlines every 50 ms, and re-checking storage for waiters just
// registered, which closes the race between reading a pending decision and registering) and the
// delivery worker; both run between start() and stop() (`hitl serve` only). One mutex guards the
// registry; reply callbacks and HTTP attempts always run outside it.
#include "config/service_config.hpp"
#include "common/leadership.hpp"
#include "common/task_state.hpp"

#include <hitl/plugin_api.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace hitl::service {

class Writer;
struct FinalHooks;

// What a waiting request is answered with, exactly once.
struct WaitResult {
  // The deadline passed (or the service stopped) while some decision was still not final.
  bool timed_out = false;
  std::int64_t waited_ms = 0;
  // Per id given to wait(), in that order: the latest stored decision when known (final when it
  // resolved; on a timeout, as read again from storage), nullopt when that read failed.
  std::vector<std::optional<sdk::DecisionRecord>> decisions;
};

// The pending-review decision whose human outcome is not in yet: what a waiter waits for.
inline bool awaiting_review(const sdk::DecisionRecord& d) {
  return is(d.status, DecisionState::pending_review) && d.final_outcome.empty();
}

class Notifier {
 public:
  static constexpr std::size_t kMaxWaiters = 10000;
  static constexpr std::int64_t kMaxBackoffMs = 10 * 60 * 1000;
  using Complete = std::function<void(WaitResult&)>;

  // One of the kMaxWaiters places, taken before a request stores anything (so a full registry
  // answers 503 with nothing stored) and given back when the waiter is answered or the slot is
  // dropped unused.
  class Slot {
   public:
    explicit Slot(Notifier& n) : n_(n) {}
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    Notifier& n_;
  };

  // `cfg`, `storage` and `writer` must outlive the notifier. The base backoff is 1000 ms; the
  // environment variable HITL_WEBHOOK_BACKOFF_MS (1..600000) replaces it, for tests only.
  Notifier(const config::ServiceConfig& cfg, sdk::Storage& storage, Writer& writer);
  ~Notifier();  // stop()
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // `wait=` as the API accepts it: "30s", "30" (seconds), "500ms"; 0 means do not wait. Throws
  // ServiceError 422 (field "wait") for anything else or for more than `max_seconds`.
  static std::int64_t parse_wait_ms(std::string_view text, std::int64_t max_seconds);

  // nullptr when kMaxWaiters waiters are registered (answer 503 too_many_waiters).
  std::shared_ptr<Slot> reserve();
  // Registers a waiter for `ids` (decisions of `domain`) using `slot`; `done` runs once, when all
  // of them are final, at the deadline, or at stop(), on whichever thread gets there (the
  // reviewer's, the timer thread, the stopping thread; possibly this one, e.g. when `ids` is empty,
  // `wait_ms` is 0 or the notifier is not running). `done` should not block.
  void wait(std::shared_ptr<Slot> slot, const std::string& domain, std::vector<std::string> ids,
            std::int64_t wait_ms, Complete done);
  std::size_t waiting() const;

  // ReviewService's hooks: delivery_for() and on_final() below.
  FinalHooks hooks();
  // The delivery row to commit with the final outcome, or nullopt (the domain has no webhook).
  std::optional<sdk::DeliveryRecord> delivery_for(const sdk::DecisionRecord& decision) const;
  // After that commit: answers the decision's waiters and wakes the delivery worker.
  void on_final(const sdk::DecisionRecord& decision);

  // Among instances sharing a database, deliveries go out from the leader only (common/leadership.hpp).
  // Before start(); `l` must outlive the notifier.
  void follow(const Leadership& l) { leadership_ = &l; }
  void start();  // the timer thread and, when a domain has a webhook, the delivery worker
  void stop();   // answers every waiter (as timed out), aborts an attempt in flight, joins; idempotent

  // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body): the X-Hitl-Signature header.
  static std::string signature(const std::string& secret, const std::string& timestamp, const std::string& body);
  // The retry delay after `failed_attempts` failures (>= 1), before jitter.
  std::int64_t backoff_ms(std::int64_t failed_attempts) const;

 private:
  struct Waiter;
  using Clock = std::chrono::steady_clock;
  using Key = std::pair<std::string, std::string>;  // (domain, decision id)

  void timer_loop();
  void delivery_loop();
  void resolve(const sdk::DecisionRecord& decision);
  void finish(std::vector<std::shared_ptr<Waiter>>& done, bool timed_out);
  void unregister(const std::shared_ptr<Waiter>& w);  // mu_ held
  // One attempt of one delivery, then its DeliveryUpdate through the writer.
  void attempt(const sdk::DeliveryRecord& d);
  struct PostResult {
    int status = 0;  // HTTP status, 0 when there was none
    std::string error;
  };
  PostResult post(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& body, std::int64_t timeout_ms);
  bool has_webhooks() const;

  const config::ServiceConfig& cfg_;
  sdk::Storage& storage_;
  Writer& writer_;
  std::int64_t backoff_base_ms_ = 1000;
  const Leadership* leadership_ = nullptr;  // none: alone, always delivers

  mutable std::mutex mu_;
  std::condition_variable timer_cv_, delivery_cv_;
  bool running_ = false, stopping_ = false, nudged_ = false;
  std::size_t slots_ = 0;  // reserved or in use, <= kMaxWaiters
  std::map<Key, std::vector<std::shared_ptr<Waiter>>> by_key_;
  std::multimap<Clock::time_point, std::shared_ptr<Waiter>> by_deadline_;
  std::vector<Key> recheck_;  // newly registered keys the timer thread reads again
  void* active_io_ = nullptr;  // the io_context of the attempt in flight (stop() stops it)
  std::thread timer_, delivery_;
};

}  // namespace hitl::service
