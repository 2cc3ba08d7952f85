#pragma once
// Test support: a storage whose reads stop where the test says, to race a background read of
// storage (a seed) with events the test commits and hears at each of its steps.
#include <hitl/plugin_api.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace hitl::test {
namespace sdk = hitl::sdk;

// One stop of a read: armed, the next call waits there until the test opens it.
class Gate {
 public:
  void arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  void pass() {  // the worker's thread
    std::unique_lock lock(mu_);
    if (!armed_) return;
    armed_ = false;
    reached_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  bool wait_reached() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return reached_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, reached_ = false, open_ = false;
};

// A storage (the App's real one) whose reads of `domain` stop where the test armed a gate:
// before its feedback is read, before and after a page of its decisions is (the other domains
// pass). The retrain worker's seed reads feedback, then decisions; the live guard's, decisions.
class GatedStorage final : public sdk::Storage {
 public:
  GatedStorage(sdk::Storage& real, std::string domain) : real_(real), domain_(std::move(domain)) {}
  Gate before_feedback, before_decisions, after_decisions;

  sdk::Status list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept override {
    if (domain == domain_) before_feedback.pass();
    return real_.list_feedback(domain, out);
  }
  sdk::Status list_decisions(const sdk::DecisionFilter& f, std::vector<sdk::DecisionRecord>& out) noexcept override {
    if (f.domain == domain_) before_decisions.pass();
    auto st = real_.list_decisions(f, out);
    if (f.domain == domain_) after_decisions.pass();
    return st;
  }
  sdk::Status commit(sdk::WriteBatch& b) noexcept override { return real_.commit(b); }
  sdk::Status get_decision(const std::string& d, const std::string& id, std::optional<sdk::DecisionRecord>& out) noexcept override {
    return real_.get_decision(d, id, out);
  }
  sdk::Status get_task(std::int64_t id, std::optional<sdk::TaskRecord>& out) noexcept override { return real_.get_task(id, out); }
  sdk::Status list_tasks(const sdk::TaskFilter& f, std::vector<sdk::TaskRecord>& out) noexcept override {
    return real_.list_tasks(f, out);
  }
  sdk::Status list_reviews(const sdk::ReviewFilter& f, std::vector<sdk::ReviewRecord>& out) noexcept override {
    return real_.list_reviews(f, out);
  }
  sdk::Status list_audit(const sdk::AuditFilter& f, std::vector<sdk::AuditRecord>& out) noexcept override {
    return real_.list_audit(f, out);
  }
  sdk::Status find_token(const std::string& h, std::optional<sdk::TokenRecord>& out) noexcept override {
    return real_.find_token(h, out);
  }
  sdk::Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override { return real_.list_reviewers(out); }
  sdk::Status list_deliveries(const sdk::DeliveryFilter& f, std::vector<sdk::DeliveryRecord>& out) noexcept override {
    return real_.list_deliveries(f, out);
  }
  sdk::Status schema_version(int& out) noexcept override { return real_.schema_version(out); }

 private:
  sdk::Storage& real_;
  const std::string domain_;
};

}  // namespace hitl::test
