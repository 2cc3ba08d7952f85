#include "pg_publisher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace hitl::cluster {

PgPublisher::PgPublisher(std::string channel, Connect connect)
    : channel_(std::move(channel)), connect_(std::move(connect)), thread_([this] { run(); }) {}

PgPublisher::~PgPublisher() { stop(); }

void PgPublisher::post(std::string payload) noexcept {
  std::lock_guard lock(mu_);
  if (stopping_ || queued_.size() >= kMaxQueued) {
    ++dropped_;
    return;
  }
  queued_.push_back(std::move(payload));
  cv_.notify_one();
}

void PgPublisher::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);  // posted while stopping, or past the bound since the last send
  if (dropped_) spdlog::warn("cluster: {} events not sent to the other instances (published as it stopped)", std::exchange(dropped_, 0));
}

void PgPublisher::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty()) return;  // stopping, and everything queued before was sent
    const auto n = static_cast<std::ptrdiff_t>(std::min(queued_.size(), kPerStatement));
    std::vector<std::string> payloads(std::make_move_iterator(queued_.begin()), std::make_move_iterator(queued_.begin() + n));
    queued_.erase(queued_.begin(), queued_.begin() + n);
    const std::uint64_t dropped = std::exchange(dropped_, 0);
    lock.unlock();
    if (dropped) spdlog::warn("cluster: {} events not sent to the other instances ({} were waiting to be sent)", dropped, kMaxQueued);
    send(payloads);
    lock.lock();
  }
}

// One statement: unnest yields the array in order and pg_notify runs row by row, so the server
// queues the notifications in publish order and sends them when the statement commits. Each
// payload carries its sender's sequence number (cluster.cpp encode), so the server's folding of
// identical payloads within one transaction never folds two events into one.
void PgPublisher::send(const std::vector<std::string>& payloads) noexcept {
  try {
    try {
      if (!session_ || !session_->usable()) session_ = connect_();
      std::string array = "{";
      for (std::size_t i = 0; i < payloads.size(); ++i) pg::append_array_element(array += i ? "," : "", payloads[i]);
      array += '}';
      pqxx::nontransaction tx(session_->conn());
      session_->run(tx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", pg::Params{channel_, array});
    } catch (...) {
      session_.reset();  // opened afresh for the next events
      throw;
    }
  } catch (const std::exception& e) {
    spdlog::warn("cluster: {} events not sent to the other instances: {}", payloads.size(), e.what());
  }
}

}  // namespace hitl::cluster
