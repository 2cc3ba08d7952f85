#pragma once
// The NOTIFY side of the cluster on PostgreSQL (cluster_postgres.cpp): events go out on a thread
// of their own, many in one statement, in the order they were published.
//
// publish() is called on hot threads: the writer's after-commit callback tells the other
// instances of every final outcome. A round trip per event there held every commit up behind it
// (12.4k pg_notify round trips in a 10 s run of 64 reviewers on one instance, docs/performance.md).
// Queued instead, and bounded: past kMaxQueued waiting events new ones are dropped and counted in
// the log, as an event that cannot be sent always was (cluster.hpp says what a missed event costs).
#include "pg_session.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hitl::cluster {

class PgPublisher {
 public:
  using Connect = std::function<std::unique_ptr<pg::Session>()>;
  PgPublisher(std::string channel, Connect connect);
  ~PgPublisher();  // stop()
  PgPublisher(const PgPublisher&) = delete;
  PgPublisher& operator=(const PgPublisher&) = delete;

  // Queues one payload (under 8000 bytes: the caller checks). Never blocks on the database.
  void post(std::string payload) noexcept;
  // Sends what is queued (one attempt), then ends the thread. Idempotent; post() after it drops.
  void stop() noexcept;

  static constexpr std::size_t kMaxQueued = 100000;
  static constexpr std::size_t kPerStatement = 500;  // payloads per statement (each < 8000 bytes)

 private:
  void run();
  void send(const std::vector<std::string>& payloads) noexcept;

  const std::string channel_;
  const Connect connect_;
  std::unique_ptr<pg::Session> session_;  // the sending thread's
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queued_;
  std::uint64_t dropped_ = 0;  // since the last warning
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hitl::cluster
