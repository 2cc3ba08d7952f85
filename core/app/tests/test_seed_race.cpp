// The seeds of the learning loop: at its start the retrain worker reads the labelled cases since
// the last training from storage (learning/seed_hold.hpp), and the live guard the audit samples
// since the predecessor went live (each decision once, with its latest outcome), on the worker's
// thread, while outcomes and ground truths go on being committed and heard. Each must be counted
// once: the test holds a read at its steps (a
// forwarding Storage over the App's real SQLite storage, whose reads wait until the test lets
// them go) and commits and hears cases before, during and after it, some heard only once the
// read is in. The figures must equal what a read of storage alone gives.
#include <catch2/catch.hpp>

#include "support/app_testing.hpp"
#include "support/eventually.hpp"

#include "gated_storage.hpp"

#include "common/file_store.hpp"
#include "governance/governance.hpp"
#include "learning/live_guard.hpp"
#include "learning/retrain_worker.hpp"
#include "registry/registry.hpp"
#include "report/report.hpp"
#include "store/writer.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

namespace {
using namespace std::chrono_literals;
namespace sdk = hitl::sdk;
using hitl::test::GatedStorage;

constexpr const char* kDomain = "scored";  // a domain with a model: the worker counts its cases

class SeedRace {
 public:
  SeedRace() : gated_(app_->storage(), kDomain) {}
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

  // Decisions the model labelled "good", nobody reviewing them yet: audit samples (sent to review
  // at random) of model version v1 (even i) or v2 (odd i).
  void decide(int n) {
    sdk::WriteBatch b;
    for (int i = 0; i < n; ++i) {
      sdk::NewDecision nd;
      auto& d = nd.decision;
      d.domain = kDomain;
      d.id = "d" + std::to_string(i);
      d.status = "auto_approved";
      d.reason = hitl::report::kAuditReason;
      d.model_version = i % 2 ? "v2" : "v1";
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

  // The registry's m1 (plugin version v1) promoted, then m2 (v2) over it: the pair the live guard
  // judges, on the audit samples since m1 went live (at 1000, before every decision).
  void promote_pair() {
    hitl::registry::Registry reg(app_->config().registry_dir);
    for (int v = 1; v <= 2; ++v) {
      hitl::registry::ModelVersion m;
      m.domain = kDomain;
      m.model = "down";
      m.plugin = "fixture-failing";
      m.plugin_version = "v" + std::to_string(v);
      m.created_ms = v * 100;
      reg.promote(kDomain, reg.add(m, "{}").id, files_.path / "scored.json", v * 1000, "test", "seed race");
    }
  }
  // An admin's rollback to the version live before (`hitl model rollback`).
  void rollback() {
    hitl::registry::Registry(app_->config().registry_dir)
        .rollback(kDomain, files_.path / "scored.json", hitl::now_ms(), "test", "seed race");
  }
  // A live guard of the App's config on `storage`.
  std::unique_ptr<hitl::learning::LiveGuard> guard(sdk::Storage& storage) {
    return std::make_unique<hitl::learning::LiveGuard>(hitl::learning::LiveGuard::Deps{app_->config(), storage, commit_fn(), {}});
  }
  // A guard's figures, "v1 <samples>/<right>, v2 <samples>/<right>".
  static std::string figures(const hitl::learning::LiveGuard& g) {
    const auto v1 = g.counts(kDomain, "v1"), v2 = g.counts(kDomain, "v2");
    return "v1 " + std::to_string(v1.samples) + "/" + std::to_string(v1.right) + ", v2 " + std::to_string(v2.samples) +
           "/" + std::to_string(v2.right);
  }
  // The figures of a fresh guard's start-up read of storage alone, with nothing racing it.
  std::string fresh_figures() {
    auto fresh = guard(gated_);
    fresh->seed(kDomain);
    return figures(*fresh);
  }

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
                           std::string(kDomain) + " = { policy = \"policy.lua\", model = \"down\", labels = { \"good\", \"bad\" },"
                                                  " retrain = { guard_min_samples = 4 } },"};
  hitl::test::TempDir files_{"hitl-seed-race"};  // the artifact a promotion installs
  GatedStorage gated_;
  std::unique_ptr<hitl::service::RetrainWorker> worker_;
};

}  // namespace

TEST_CASE("the retrain worker's seed counts each outcome and truth once, however they race its read") {
  SeedRace t;
  t.decide(10);
  auto& w = t.gated_worker();
  // Before the read: heard and counted live, then in the read too.
  const auto first_of_d0 = t.outcome(0, "bad");
  w.outcome(first_of_d0);
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
  // d0's task sent back and answered again: a new outcome of a decision the read had one of.
  while (hitl::now_ms() <= first_of_d0.final_ms) std::this_thread::sleep_for(1ms);
  w.outcome(t.outcome(0, "good"));

  // Outcomes of d0 (twice), d1, d2, d3, d5, d7, d8 and the truths of d4 and d6; corrections
  // where the label is not the model's "good": d0's first, d2, d4, d5, d6, d8.
  const auto st = t.stats(w);
  INFO(st.dump());
  CHECK(st["samples"] == 10);
  CHECK(st["corrections"] == 6);
  // The same as a read of storage alone, with nothing racing it.
  auto fresh = t.worker(t.gated());
  fresh->start();
  REQUIRE(hitl::test::eventually([&] { return !t.stats(*fresh).value("seeding", true); }, 30s, 10ms));
  CHECK(t.stats(*fresh)["samples"] == st["samples"]);
  CHECK(t.stats(*fresh)["corrections"] == st["corrections"]);
}

namespace {

// LiveGuard::seed(kDomain) on a thread of its own, as the worker runs it. However the test ends,
// the gates open and the thread is joined.
class SeedThread {
 public:
  SeedThread(hitl::learning::LiveGuard& guard, GatedStorage& gated) : gated_(gated) {
    thread_ = std::thread([this, &guard] {
      try {
        guard.seed(kDomain);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
    });
  }
  ~SeedThread() { join(); }
  // Waits for the seed to end; what it threw ("" when nothing).
  std::string join() {
    gated_.before_decisions.open();
    gated_.after_decisions.open();
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  GatedStorage& gated_;
  std::thread thread_;
  std::string error_;
};

}  // namespace

TEST_CASE("the live guard's seed counts each audit outcome once, however they race its read") {
  SeedRace t;
  t.decide(10);
  t.promote_pair();
  auto guard = t.guard(t.gated());
  // Before the read: heard and counted live, then in the read too.
  CHECK(guard->outcome(t.outcome(0, "bad")));
  CHECK(guard->outcome(t.outcome(1, "good")));
  CHECK(guard->counts(kDomain, "v1").samples == 1);

  t.gated().before_decisions.arm();
  t.gated().after_decisions.arm();
  SeedThread seed(*guard, t.gated());
  REQUIRE(t.gated().before_decisions.wait_reached());
  // While the read runs, before it reads them: counted now, and in the read too.
  CHECK(guard->outcome(t.outcome(2, "good")));
  CHECK(guard->outcome(t.outcome(3, "bad")));
  const auto late_in_read = t.outcome(9, "good");  // committed now, heard once the read is in
  t.gated().before_decisions.open();
  REQUIRE(t.gated().after_decisions.wait_reached());
  // While the read runs, after it read them: not in the read.
  CHECK(guard->outcome(t.outcome(4, "bad")));
  CHECK(guard->outcome(t.outcome(6, "good")));
  const auto late_after_read = t.outcome(7, "bad");
  REQUIRE(seed.join().empty());
  CHECK_FALSE(guard->outcome(late_in_read));  // the read had it
  CHECK(guard->outcome(late_after_read));

  // v1 decided d0 (wrong), d2, d4 (wrong), d6; v2 decided d1, d3 (wrong), d7 (wrong), d9.
  CHECK(SeedRace::figures(*guard) == "v1 4/2, v2 4/2");
  CHECK(t.fresh_figures() == SeedRace::figures(*guard));  // as a read of storage alone gives
  // And the guard judges m2 on them: as good as m1 on its samples, so kept.
  const auto verdict = guard->judge(kDomain);
  INFO(verdict);
  CHECK(verdict.rfind("kept scored-m2: audited accuracy 0.5000 (2 of 4)", 0) == 0);
}

namespace {
// Waits until now_ms() has passed `ms`: a task sent back and answered again is answered later.
void after(std::int64_t ms) {
  while (hitl::now_ms() <= ms) std::this_thread::sleep_for(1ms);
}
}  // namespace

TEST_CASE("the live guard counts a sent-back audit sample once, with its latest outcome, live and after a restart alike") {
  SeedRace t;
  t.decide(6);
  t.promote_pair();
  auto guard = t.guard(t.gated());
  // Live, no restart: d0 answered right, sent back and answered wrong; one sample, wrong.
  const auto d0_right = t.outcome(0, "good");
  CHECK(guard->outcome(d0_right));
  after(d0_right.final_ms);
  CHECK(guard->outcome(t.outcome(0, "bad")));
  CHECK(SeedRace::figures(*guard) == "v1 1/0, v2 0/0");
  // d1's two answers heard out of order (the first one's notice late): the latest counts.
  const auto d1_right = t.outcome(1, "good");
  after(d1_right.final_ms);
  CHECK(guard->outcome(t.outcome(1, "bad")));
  CHECK_FALSE(guard->outcome(d1_right));  // older than the outcome counted: changes nothing
  // d2 answered right before the start-up read (which counts it), then wrong after it.
  const auto d2_right = t.outcome(2, "good");
  guard->seed(kDomain);
  after(d2_right.final_ms);
  CHECK(guard->outcome(t.outcome(2, "bad")));
  CHECK_FALSE(guard->outcome(d2_right));  // its notice comes late: the read and the re-answer had it
  // d3 answered wrong, then right, both heard after the read.
  const auto d3_wrong = t.outcome(3, "bad");
  CHECK(guard->outcome(d3_wrong));
  after(d3_wrong.final_ms);
  CHECK(guard->outcome(t.outcome(3, "good")));

  // v1 decided d0 (wrong at last), d2 (wrong at last); v2 decided d1 (wrong at last), d3 (right).
  CHECK(SeedRace::figures(*guard) == "v1 2/0, v2 2/1");
  // The same as a fresh start-up read of storage (each decision once, with its final outcome).
  CHECK(t.fresh_figures() == SeedRace::figures(*guard));
}

TEST_CASE("the live guard keeps the audit samples of the models it may still judge, and reads them when a promotion asks") {
  SeedRace t;
  t.decide(8);
  auto guard = t.guard(t.gated());
  guard->seed(kDomain);  // nothing promoted: the configured model is never judged, nothing is kept
  CHECK(guard->outcome(t.outcome(0, "good")));  // judge() is asked: a promotion may have come
  CHECK(guard->counts(kDomain, "v1").samples == 0);
  t.promote_pair();
  CHECK(guard->judge(kDomain).empty());  // m2 over m1: the samples since m1 went live are read
  CHECK(guard->counts(kDomain, "v1").samples == 1);
  for (int i : {2, 1, 3, 5, 7}) CHECK(guard->outcome(t.outcome(i, "good")));
  CHECK(guard->counts(kDomain, "v1").samples == 2);
  const auto verdict = guard->judge(kDomain);
  INFO(verdict);
  CHECK(verdict.rfind("kept scored-m2: audited accuracy 1.0000 (4 of 4)", 0) == 0);
  // m2 judged: m1's samples are no longer kept (nor counted); m2's are, for its successor.
  CHECK(guard->judge(kDomain).empty());
  CHECK(SeedRace::figures(*guard) == "v1 0/0, v2 4/4");
  CHECK(guard->outcome(t.outcome(0, "bad")));  // not kept; judge() is asked (a promotion may have come)
  CHECK(guard->counts(kDomain, "v1").samples == 0);
  CHECK(guard->judge(kDomain).empty());  // m2 is judged once
  // Rolled back to m1 (a promotion now): v1 joins the window again with its decisions from now
  // on, as a read of storage finds them; v2 leaves it. An older sample of v1 answered again does
  // not count.
  t.rollback();
  CHECK(guard->judge(kDomain).empty());  // a rollback is not judged
  CHECK(guard->outcome(t.outcome(2, "bad")));  // judge() is asked, nothing counted
  CHECK(SeedRace::figures(*guard) == "v1 0/0, v2 0/0");
  CHECK(t.fresh_figures() == SeedRace::figures(*guard));
}
