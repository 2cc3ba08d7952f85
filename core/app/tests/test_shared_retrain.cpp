// Two instances (two Apps, each with its own folder) on one PostgreSQL database, with their retrain
// workers running and one of them leading (learning/retrain_jobs.hpp, cluster/cluster.hpp): a
// training asked on the instance that does not lead is run once, by the leader, and both show the
// job and how it ended; asking again on either gets the same job; a queued job is withdrawn from
// the other instance; a job a stopped leader left running is ended failed by the next one; and
// versions registered on both at once get distinct numbers (the registry's lock across instances).
#include <catch2/catch.hpp>

#include "app/app.hpp"
#include "cluster/cluster.hpp"
#include "common/file_store.hpp"
#include "config/service_config.hpp"
#include "learning/retrain_jobs.hpp"
#include "learning/retrain_worker.hpp"
#include "metrics/metrics.hpp"
#include "plugin/plugin_registry.hpp"
#include "registry/registry.hpp"
#include "store/writer.hpp"

#include "support/eventually.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"
#include "shared_instance.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <thread>

using nlohmann::json;
using hitl::service::JobState;
using hitl::service::RetrainJob;

namespace {
using namespace std::chrono_literals;

using hitl::test::cut_artifact;

// One instance: its own folder, storage and queue on the shared database, its retrain worker
// started and hearing the other's events (as `hitl serve` runs them: app/housekeeping.cpp).
struct Instance {
  hitl::test::TempDir dir{"hitl-shared-retrain"};
  std::unique_ptr<hitl::service::App> app;

  explicit Instance(const std::string& url) : app(hitl::test::shared_instance(dir, url, "retrain = { promote = false, check_seconds = 0 }")) {}
  ~Instance() { app->cluster().stop(); }  // no event reaches a worker going away
  void start() {
    app->retrain().start();
    app->cluster().listen([this](const hitl::cluster::Event& e) { app->hear(e); });
  }
  hitl::registry::Registry registry() const { return hitl::registry::Registry(app->config().registry_dir); }
  std::uint64_t trainings() { return app->metrics().domain("loans")->trainings_kept.load(); }
  RetrainJob ask(const std::string& who, bool& queued) {
    return app->retrain().request("loans", "admin:" + who, "asked on one instance", std::nullopt, queued);
  }
  JobState state_of(std::int64_t id) { return app->retrain().job(id).value().status; }
};

// Final outcomes of the domain, enough to train on: x above 0.5 is "bad".
void give_feedback(Instance& on, int n) {
  hitl::sdk::WriteBatch batch;
  for (int i = 0; i < n; ++i) {
    hitl::sdk::FeedbackRecord f;
    f.domain = "loans";
    f.decision_id = "d" + std::to_string(i);
    const double x = double(i) / n;
    f.input_json = json{{"x", x}}.dump();
    f.final_label = f.model_label = x > 0.5 ? "bad" : "good";
    f.model_confidence = 0.9;
    f.outcome = "approve";
    f.reviewer = "alice";
    f.created_ms = 1000 + i;
    batch.feedback.push_back(f);
  }
  const auto st = on.app->writer().submit_sync(batch);
  INFO(st.message);
  REQUIRE(st.ok());
}

void lead(Instance& leader, Instance& follower) {
  REQUIRE(leader.app->cluster().refresh());
  REQUIRE(leader.app->cluster().leader());
  follower.app->cluster().refresh();
  REQUIRE_FALSE(follower.app->cluster().leader());
}

bool finished(JobState s) { return s != JobState::queued && s != JobState::running; }

}  // namespace

TEST_CASE("a training asked on the instance that does not lead is run once, by the leader, and both show it") {
  const auto url = hitl::test::pg::database_for_folder("shared-retrain-once");
  Instance a(url), b(url);
  give_feedback(b, 40);
  a.start();  // nobody leads yet: the job waits (a training of these 40 rows takes milliseconds)
  b.start();

  bool queued = false;
  const auto job = b.ask("bob", queued);
  REQUIRE(queued);
  CHECK(job.status == JobState::queued);
  // Asked again, on either instance, while it waits: the same job.
  bool again = true;
  CHECK(b.ask("bob", again).id == job.id);
  CHECK_FALSE(again);
  CHECK(a.ask("alice", again).id == job.id);
  CHECK_FALSE(again);
  CHECK(a.state_of(job.id) == JobState::queued);
  lead(a, b);

  REQUIRE(hitl::test::eventually([&] { return finished(b.state_of(job.id)); }, 60s, 100ms));
  const auto on_a = a.app->retrain().job(job.id), on_b = b.app->retrain().job(job.id);
  REQUIRE(on_a);
  INFO(hitl::service::to_json(*on_a).dump());
  CHECK(on_a->status == JobState::done);
  CHECK(hitl::service::to_json(*on_a) == hitl::service::to_json(*on_b));
  CHECK(on_a->trigger == "admin:bob");
  CHECK((*on_a->result)["decision"].get<std::string>().find("registered only") != std::string::npos);
  // Exactly one training, on the leader: one version, counted there and not on b.
  const auto versions = b.registry().list("loans");
  REQUIRE(versions.size() == 1);
  CHECK(versions[0].id == "loans-m1");
  CHECK(versions[0].trigger == "admin:bob");
  CHECK(a.trainings() == 1);
  CHECK(b.trainings() == 0);
  CHECK(a.app->metrics().domain("loans")->trainings_failed == 0);
  // The status route's jobs, the same on both.
  const auto status_a = a.app->retrain().status("loans"), status_b = b.app->retrain().status("loans");
  REQUIRE(status_a["jobs"].size() == 1);
  CHECK(status_a["jobs"] == status_b["jobs"]);
  // The domain is free again: a new request on b is a new job, with a number of its own, which
  // the leader hears of (the retrain_requested event, or its poll) and runs.
  const auto next = b.ask("bob", queued);
  CHECK(queued);
  CHECK(next.id == job.id + 1);
  REQUIRE(hitl::test::eventually([&] { return finished(b.state_of(next.id)); }, 60s, 100ms));
  CHECK(b.state_of(next.id) == JobState::done);
  CHECK(a.registry().list("loans").size() == 2);
  CHECK(a.trainings() == 2);
  CHECK(b.trainings() == 0);
}

TEST_CASE("a job queued on one instance is withdrawn on another, and the leader never runs it") {
  const auto url = hitl::test::pg::database_for_folder("shared-retrain-cancel");
  Instance a(url), b(url);
  give_feedback(a, 40);
  a.start();  // nobody leads yet: the job stays queued
  b.start();
  bool queued = false;
  const auto job = b.ask("bob", queued);
  REQUIRE(queued);
  const auto cancelled = a.app->retrain().cancel(job.id, "alice");
  REQUIRE(cancelled);
  CHECK(cancelled->status == JobState::cancelled);
  CHECK(cancelled->error == "cancelled by alice");
  CHECK(b.state_of(job.id) == JobState::cancelled);
  CHECK_THROWS_WITH(b.app->retrain().cancel(job.id, "bob"), Catch::Contains("is already cancelled"));
  // a leads now: it reads the queued jobs at once and finds none.
  lead(a, b);
  std::this_thread::sleep_for(hitl::service::RetrainWorker::kPollJobs + 500ms);
  CHECK(a.state_of(job.id) == JobState::cancelled);
  CHECK(a.registry().list("loans").empty());
  CHECK(a.trainings() + b.trainings() == 0);
}

TEST_CASE("a job a stopped leader left running is ended failed by the next leader, and the domain trains again") {
  const auto url = hitl::test::pg::database_for_folder("shared-retrain-orphan");
  Instance a(url), b(url);
  give_feedback(a, 40);
  // The old leader, as it was when it stopped: it had started a job, and one more was queued.
  const auto& cfg = a.app->config();
  std::shared_ptr<hitl::sdk::Storage> storage = a.app->plugins().create_storage("postgres", cfg.storage.config_json);
  std::shared_ptr<hitl::cluster::Cluster> old_leader = hitl::cluster::open("postgres", cfg.storage.config_json);
  hitl::service::RetrainJobs left(hitl::blob_store(a.dir.path, storage, "retrain-jobs/",
                                                   [old_leader](const std::string& n) { return old_leader->lock(n); }));
  RetrainJob asked;
  asked.domain = "loans";
  asked.trigger = "admin:carol";
  bool queued = false;
  const auto orphan = left.add(asked, 1, queued);
  REQUIRE(left.start_next(2));
  b.start();
  const auto behind = b.ask("bob", queued);
  REQUIRE_FALSE(queued);  // the domain's running job is in the way
  CHECK(behind.id == orphan.id);

  lead(a, b);
  a.start();
  REQUIRE(hitl::test::eventually([&] { return finished(b.state_of(orphan.id)); }, 20s, 100ms));
  const auto ended = b.app->retrain().job(orphan.id).value();
  CHECK(ended.status == JobState::failed);
  CHECK(ended.error == hitl::service::kRunnerStopped);
  CHECK(a.registry().list("loans").empty());  // it was not run again
  // The domain is free: what is asked now runs.
  const auto next = b.ask("bob", queued);
  REQUIRE(queued);
  REQUIRE(hitl::test::eventually([&] { return finished(b.state_of(next.id)); }, 60s, 100ms));
  CHECK(b.state_of(next.id) == JobState::done);
  CHECK(a.trainings() == 1);
}

TEST_CASE("versions of one domain registered on two instances at once get distinct numbers") {
  const auto url = hitl::test::pg::database_for_folder("shared-retrain-numbers");
  Instance a(url), b(url);
  constexpr int kEach = 6;
  std::atomic<int> failures{0};
  std::vector<std::string> ids[2];
  auto register_from = [&](Instance& on, int cut_from, std::vector<std::string>& out) {
    for (int i = 0; i < kEach; ++i) {
      try {
        hitl::registry::ModelVersion v;
        v.domain = "loans";
        v.model = "scorer";
        v.plugin = "logreg";
        v.trigger = "test";
        v.created_ms = 1000 + i;
        out.push_back(on.registry().add(v, cut_artifact(cut_from + i)).id);
      } catch (const std::exception& e) {
        ++failures;
        UNSCOPED_INFO(e.what());
      }
    }
  };
  std::thread ta([&] { register_from(a, 0, ids[0]); }), tb([&] { register_from(b, 100, ids[1]); });
  ta.join();
  tb.join();
  CHECK(failures == 0);
  std::set<std::string> all(ids[0].begin(), ids[0].end());
  all.insert(ids[1].begin(), ids[1].end());
  CHECK(all.size() == 2 * kEach);
  const auto listed = a.registry().list("loans");
  REQUIRE(listed.size() == 2 * kEach);
  CHECK(listed.back().id == "loans-m" + std::to_string(2 * kEach));
  // Each manifest names the artifact its writer stored (no artifact overwritten by the other's).
  for (const auto& v : listed) CHECK_NOTHROW(b.registry().artifact_path("loans", v.id));
}
