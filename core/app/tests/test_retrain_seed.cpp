// The retrain worker's seed (learning/retrain_worker.hpp): at its start the worker reads the
// labelled cases since the last training from storage, on its own thread, while outcomes and
// ground truths go on being committed and heard. Each must be counted once: the test holds the
// read at its steps (a forwarding Storage over the App's real SQLite storage, whose reads wait
// until the test lets them go) and commits and hears cases before, during and after it, some
// heard only once the read is in. The figures must equal what a read of storage alone gives.
#include <catch2/catch.hpp>

#include "support/app_testing.hpp"
#include "support/eventually.hpp"

#include "common/file_store.hpp"
#include "governance/governance.hpp"
#include "learning/retrain_worker.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace {
using namespace std::chrono_literals;
using hitl::sdk::Status;
namespace sdk = hitl::sdk;

constexpr const char* kDomain = "scored";  // a domain with a model: the worker counts its cases

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
    return cv_.wait_for(lock, 30s, [&] { return reached_; });
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

// The App's storage, with a stop before kDomain's feedback is read and one after the first page
// of its decisions is: what the seed reads, in that order (the other domains pass).
class GatedStorage final : public sdk::Storage {
 public:
  explicit GatedStorage(sdk::Storage& real) : real_(real) {}
  Gate before_feedback, after_decisions;

  Status list_feedback(const std::string& domain, std::vector<sdk::FeedbackRecord>& out) noexcept override {
    if (domain == kDomain) before_feedback.pass();
    return real_.list_feedback(domain, out);
  }
  Status list_decisions(const sdk::DecisionFilter& f, std::vector<sdk::DecisionRecord>& out) noexcept override {
    auto st = real_.list_decisions(f, out);
    if (f.domain == kDomain) after_decisions.pass();
    return st;
  }
  Status commit(sdk::WriteBatch& b) noexcept override { return real_.commit(b); }
  Status get_decision(const std::string& d, const std::string& id, std::optional<sdk::DecisionRecord>& out) noexcept override {
    return real_.get_decision(d, id, out);
  }
  Status get_task(std::int64_t id, std::optional<sdk::TaskRecord>& out) noexcept override { return real_.get_task(id, out); }
  Status list_tasks(const sdk::TaskFilter& f, std::vector<sdk::TaskRecord>& out) noexcept override {
    return real_.list_tasks(f, out);
  }
  Status list_reviews(const sdk::ReviewFilter& f, std::vector<sdk::ReviewRecord>& out) noexcept override {
    return real_.list_reviews(f, out);
  }
  Status list_audit(const sdk::AuditFilter& f, std::vector<sdk::AuditRecord>& out) noexcept override {
    return real_.list_audit(f, out);
  }
  Status find_token(const std::string& h, std::optional<sdk::TokenRecord>& out) noexcept override {
    return real_.find_token(h, out);
  }
  Status list_reviewers(std::vector<sdk::ReviewerRecord>& out) noexcept override { return real_.list_reviewers(out); }
  Status list_deliveries(const sdk::DeliveryFilter& f, std::vector<sdk::DeliveryRecord>& out) noexcept override {
    return real_.list_deliveries(f, out);
  }
  Status schema_version(int& out) noexcept override { return real_.schema_version(out); }

 private:
  sdk::Storage& real_;
};

class SeedRace {
 public:
  SeedRace() : gated_(app_->storage()) {}
  ~SeedRace() { worker_.reset(); }

  // A worker of the App's parts on `storage` (as the App builds its own), not started.
  std::unique_ptr<hitl::service::RetrainWorker> worker(sdk::Storage& storage) {
    return std::make_unique<hitl::service::RetrainWorker>(hitl::service::RetrainWorker::Deps{
        app_->config(), app_->plugins(), storage, app_->policies(), app_->metrics(), commit_fn(), {},
        hitl::memory_store(), {}});
  }
  hitl::service::RetrainWorker& gated_worker() {
    if (!worker_) worker_ = worker(gated_);
    return *worker_;
  }
  GatedStorage& gated() { return gated_; }

  // Decisions the model labelled "good", nobody reviewing them yet.
  void decide(int n) {
    sdk::WriteBatch b;
    for (int i = 0; i < n; ++i) {
      sdk::NewDecision nd;
      auto& d = nd.decision;
      d.domain = kDomain;
      d.id = "d" + std::to_string(i);
      d.status = "auto_approved";
      d.reason = "confident";
      d.label = "good";
      d.confidence = 0.9;
      d.input_json = d.meta_json = "{}";
      d.prediction_json = R"({"label":"good","confidence":0.9})";
      d.created_ms = hitl::now_ms();
      b.decisions.push_back(std::move(nd));
    }
    commit(b);
  }
  // A final human outcome of decision `i` committed (as the review's batch writes it): the
  // decision as the final hook hears it.
  sdk::DecisionRecord outcome(int i, const std::string& label) {
    sdk::DecisionRecord d = stored(i);
    const auto now = hitl::now_ms();
    sdk::WriteBatch b;
    b.feedback.push_back({kDomain, d.id, d.input_json, label, d.label, d.confidence, "correct", "alice", now});
    b.finals.push_back({kDomain, d.id, label, "correct", now});
    commit(b);
    d.final_label = label;
    d.final_outcome = "correct";
    d.final_ms = now;
    return d;
  }
  // A first ground truth of decision `i`, reported through governance (which commits it).
  sdk::DecisionRecord truth(int i, const std::string& label) {
    return app_->governance().report_truth(kDomain, "d" + std::to_string(i), label, {"good", "bad"}, "client");
  }
  nlohmann::json stats(hitl::service::RetrainWorker& w) { return w.status(kDomain)["stats"]; }

 private:
  std::function<sdk::Status(sdk::WriteBatch&)> commit_fn() {
    return [w = &app_->writer()](sdk::WriteBatch& b) { return w->submit_sync(b); };
  }
  void commit(sdk::WriteBatch& b) {
    const auto st = app_->writer().submit_sync(b);
    INFO(st.message);
    REQUIRE(st.ok());
  }
  sdk::DecisionRecord stored(int i) {
    std::optional<sdk::DecisionRecord> d;
    REQUIRE(app_->storage().get_decision(kDomain, "d" + std::to_string(i), d).ok());
    REQUIRE(d);
    return *d;
  }

  hitl::test::TestApp app_{"local hitl = require \"hitl\"\nreturn { flag = function(p) return hitl.auto() end }\n",
                           std::string(kDomain) + " = { policy = \"policy.lua\", model = \"down\", labels = { \"good\", \"bad\" } },"};
  GatedStorage gated_;
  std::unique_ptr<hitl::service::RetrainWorker> worker_;
};

}  // namespace

TEST_CASE("the retrain worker's seed counts each outcome and truth once, however they race its read") {
  SeedRace t;
  t.decide(10);
  auto& w = t.gated_worker();
  // Before the read: heard and counted live, then in the read too.
  w.outcome(t.outcome(0, "bad"));
  w.outcome(t.outcome(1, "good"));
  CHECK(t.stats(w)["samples"] == 2);

  t.gated().before_feedback.arm();
  t.gated().after_decisions.arm();
  w.start();
  REQUIRE(t.gated().before_feedback.wait_reached());
  // While the read runs, before it reads them: in the read.
  w.outcome(t.outcome(2, "bad"));
  w.outcome(t.outcome(3, "good"));
  w.truth(t.truth(4, "bad"), true);
  const auto late_in_read = t.outcome(8, "bad");  // committed now, heard once the read is in
  t.gated().before_feedback.open();
  REQUIRE(t.gated().after_decisions.wait_reached());
  // While the read runs, after it read them: not in the read.
  w.outcome(t.outcome(5, "bad"));
  w.truth(t.truth(6, "bad"), true);
  const auto late_after_read = t.outcome(7, "good");
  t.gated().after_decisions.open();
  REQUIRE(hitl::test::eventually([&] { return !t.stats(w).value("seeding", true); }, 30s, 10ms));
  w.outcome(late_in_read);
  w.outcome(late_after_read);

  // Outcomes of d0, d1, d2, d3, d5, d7, d8 and the truths of d4 and d6; corrections where the
  // label is not the model's "good": d0, d2, d4, d5, d6, d8.
  const auto st = t.stats(w);
  INFO(st.dump());
  CHECK(st["samples"] == 9);
  CHECK(st["corrections"] == 6);
  // The same as a read of storage alone, with nothing racing it.
  auto fresh = t.worker(t.gated());
  fresh->start();
  REQUIRE(hitl::test::eventually([&] { return !t.stats(*fresh).value("seeding", true); }, 30s, 10ms));
  CHECK(t.stats(*fresh)["samples"] == st["samples"]);
  CHECK(t.stats(*fresh)["corrections"] == st["corrections"]);
}
