// The retrain jobs' store (learning/retrain_jobs.hpp) on each place it keeps them: in memory
// (an instance alone), in the blobs of the SQLite storage plugin, and -- registered a second time
// as test-learning-jobs-postgres -- in the blobs of the PostgreSQL one under the cluster's lock
// across instances, where two stores on one database (two instances) queue concurrently.
#include "learning/retrain_jobs.hpp"

#include "cluster/cluster.hpp"
#include "common/file_store.hpp"
#include "plugin/plugin_registry.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/backend.hpp"
#include "support/temp_dir.hpp"

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

using hitl::service::JobState;
using hitl::service::RetrainJob;
using hitl::service::RetrainJobs;

namespace {

// The stores of one test's jobs: on SQLite, storages of one file (each test its own) and one
// instance's lock (SQLite is one instance's: several are threads of it); on PostgreSQL, each
// its own storage and cluster (an instance) on one fresh database per test.
struct Backend {
  hitl::test::TempDir dir{"hitl-jobs"};
  hitl::plugin::LoadedPlugins plugins = hitl::plugin::load_plugin_dirs({HITL_PLUGIN_DIR});
  std::string plugin = hitl::test::on_postgres() ? "postgres" : "sqlite";
  std::string config;
  std::vector<std::shared_ptr<hitl::sdk::Storage>> storages;
  std::vector<std::shared_ptr<hitl::cluster::Cluster>> clusters;

  Backend() {
#if HITL_TEST_WITH_POSTGRES
    if (hitl::test::on_postgres()) {
      config = nlohmann::json{{"url", hitl::test::pg::database_for_folder(dir.path.string())}}.dump();
      return;
    }
#endif
    config = nlohmann::json{{"path", (dir.path / "hitl.db").string()}}.dump();
  }
  // Another instance's store of the same jobs.
  RetrainJobs instance(std::size_t keep = RetrainJobs::kKeepPerDomain) {
    storages.push_back(plugins.registry->create_storage(plugin, config));
    if (clusters.empty() || hitl::test::on_postgres()) clusters.push_back(hitl::cluster::open(plugin, config));
    auto c = clusters.back();
    return RetrainJobs(hitl::blob_store(dir.path, storages.back(), "retrain-jobs/",
                                        [c](const std::string& name) { return c->lock(name); }),
                       keep);
  }
};

RetrainJob asked(const std::string& domain, const std::string& reason = "") {
  RetrainJob j;
  j.domain = domain;
  j.trigger = "admin:alice";
  j.reason = reason;
  j.promote = false;
  return j;
}

// The behaviour every store shares.
void check_lifecycle(RetrainJobs& jobs) {
  bool queued = false;
  const auto first = jobs.add(asked("loans", "one"), 100, queued);
  REQUIRE(queued);
  CHECK(first.id == 1);
  CHECK(first.status == JobState::queued);
  CHECK(first.created_ms == 100);
  // One queued-or-running job per domain: a second request gets it back.
  const auto again = jobs.add(asked("loans", "two"), 101, queued);
  CHECK_FALSE(queued);
  CHECK(again.id == first.id);
  CHECK(again.reason == "one");
  const auto other = jobs.add(asked("fraud"), 102, queued);
  REQUIRE(queued);
  CHECK(other.id == 2);
  CHECK(jobs.active("loans"));
  CHECK(jobs.any_queued());

  // Oldest first; each job is handed out once.
  auto running = jobs.start_next(200);
  REQUIRE(running);
  CHECK(running->id == first.id);
  CHECK(running->status == JobState::running);
  CHECK(running->started_ms == 200);
  CHECK(jobs.find(first.id)->status == JobState::running);
  CHECK(jobs.add(asked("loans"), 201, queued).id == first.id);  // running counts as busy too
  CHECK_FALSE(queued);
  CHECK_THROWS_WITH(jobs.cancel(first.id, "bob", 202), Catch::Contains("is running"));

  // A queued one is withdrawn and never handed out.
  const auto cancelled = jobs.cancel(other.id, "bob", 203);
  REQUIRE(cancelled);
  CHECK(cancelled->status == JobState::cancelled);
  CHECK(cancelled->error == "cancelled by bob");
  CHECK(cancelled->finished_ms == 203);
  CHECK_FALSE(jobs.start_next(204));
  CHECK_FALSE(jobs.any_queued());
  CHECK_THROWS_WITH(jobs.cancel(other.id, "bob", 205), Catch::Contains("is already cancelled"));
  CHECK_FALSE(jobs.cancel(999, "bob", 205));
  CHECK_FALSE(jobs.find(999));

  // Its end is recorded with its result; the domain is free again.
  running->status = JobState::done;
  running->finished_ms = 300;
  running->result = std::make_shared<const nlohmann::json>(nlohmann::json{{"candidate_id", "loans-m1"}});
  jobs.finish(*running);
  const auto found = jobs.find(first.id);
  REQUIRE(found);
  CHECK(found->status == JobState::done);
  CHECK((*found->result)["candidate_id"] == "loans-m1");
  CHECK_FALSE(jobs.active("loans"));
  const auto next = jobs.add(asked("loans", "three"), 400, queued);
  CHECK(queued);
  CHECK(next.id == 3);  // ids are never given twice
  const auto listed = jobs.of_domain("loans");
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].id == next.id);  // the queued one, then the finished ones newest first
  CHECK(listed[1].id == first.id);
  CHECK(to_json(listed[1]) == to_json(*found));
}

}  // namespace

TEST_CASE("retrain jobs in memory: queued, run once, withdrawn, finished", "[jobs]") {
  RetrainJobs jobs(hitl::memory_store());
  check_lifecycle(jobs);
}

TEST_CASE("retrain jobs in the storage's blobs: queued, run once, withdrawn, finished", "[jobs][blobs]") {
  Backend b;
  auto jobs = b.instance();
  check_lifecycle(jobs);
  // Another instance (another storage object on the same database) sees the same jobs.
  auto other = b.instance();
  REQUIRE(other.find(1));
  CHECK(other.find(1)->status == JobState::done);
  CHECK(other.of_domain("loans").size() == 2);
}

TEST_CASE("retrain jobs keep the newest finished ones of each domain", "[jobs][blobs]") {
  Backend b;
  auto jobs = b.instance(3);
  bool queued = false;
  for (int i = 0; i < 5; ++i) {
    jobs.add(asked("loans"), i, queued);
    REQUIRE(queued);
    auto j = jobs.start_next(i);
    REQUIRE(j);
    j->status = JobState::failed;
    j->error = "no feedback yet";
    jobs.finish(*j);
  }
  jobs.add(asked("fraud"), 9, queued);
  const auto kept = jobs.of_domain("loans");
  REQUIRE(kept.size() == 3);
  CHECK(kept[0].id == 5);
  CHECK(kept[2].id == 3);
  CHECK_FALSE(jobs.find(1));  // trimmed: not found, as an id never given
  CHECK(jobs.of_domain("fraud").size() == 1);  // another domain's are its own
}

TEST_CASE("retrain jobs a stopped instance left running are ended as failed, and then run no more", "[jobs][blobs]") {
  Backend b;
  auto old_leader = b.instance();
  bool queued = false;
  old_leader.add(asked("loans"), 1, queued);
  old_leader.add(asked("fraud"), 2, queued);
  auto running = old_leader.start_next(3);
  REQUIRE(running);
  auto new_leader = b.instance();
  const auto failed = new_leader.fail_running(10);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].id == running->id);
  const auto seen = old_leader.find(running->id);
  CHECK(seen->status == JobState::failed);
  CHECK(seen->error == hitl::service::kRunnerStopped);
  CHECK(seen->finished_ms == 10);
  CHECK_FALSE(new_leader.active("loans"));
  CHECK(new_leader.fail_running(11).empty());
  // The queued one behind it is run, by whoever leads now.
  const auto next = new_leader.start_next(12);
  REQUIRE(next);
  CHECK(next->domain == "fraud");
  // The old leader, alive after all, records what its training did: that stands.
  running->status = JobState::done;
  running->finished_ms = 20;
  old_leader.finish(*running);
  CHECK(new_leader.find(running->id)->status == JobState::done);
  CHECK(new_leader.of_domain("loans").size() == 1);
}

TEST_CASE("retrain jobs a file of which was altered are refused naming it", "[jobs]") {
  auto files = hitl::memory_store();
  RetrainJobs jobs(files);
  bool queued = false;
  jobs.add(asked("loans"), 1, queued);
  files->replace("jobs/0000000000000000001", R"({"id": 1, "domain": "loans", "status": "sleeping"})");
  CHECK_THROWS_WITH(jobs.find(1), Catch::Contains("memory file jobs/0000000000000000001"));
  files->replace("jobs/0000000000000000001", "[");
  CHECK_THROWS_WITH(jobs.find(1), Catch::Contains("not JSON"));
}

TEST_CASE("retrain jobs queued at once by several instances: one per domain, ids never shared", "[jobs][blobs]") {
  Backend b;
  constexpr int kInstances = 3, kDomains = 4;
  std::vector<RetrainJobs> instances;
  for (int i = 0; i < kInstances; ++i) instances.push_back(b.instance());
  std::vector<std::vector<std::pair<std::int64_t, bool>>> got(kInstances);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kInstances; ++i)
    threads.emplace_back([&, i] {
      try {
        for (int d = 0; d < kDomains; ++d) {
          bool queued = false;
          const auto j = instances[i].add(asked("d" + std::to_string(d)), d, queued);
          got[i].emplace_back(j.id, queued);
        }
      } catch (const std::exception& e) {
        ++failures;
        UNSCOPED_INFO(e.what());
      }
    });
  for (auto& t : threads) t.join();
  REQUIRE(failures == 0);
  std::set<std::int64_t> ids;
  int queued = 0;
  for (int d = 0; d < kDomains; ++d) {
    std::set<std::int64_t> of_domain;
    for (int i = 0; i < kInstances; ++i) {
      of_domain.insert(got[i][d].first);
      queued += got[i][d].second ? 1 : 0;
    }
    CHECK(of_domain.size() == 1);  // every instance got the domain's one job
    ids.insert(of_domain.begin(), of_domain.end());
  }
  CHECK(queued == kDomains);
  CHECK(ids == std::set<std::int64_t>{1, 2, 3, 4});
}

// A blob's bytes and its recorded hash are two reads: a job rewritten by another instance between
// them must read as the old or the new job, never as "altered in the database".
TEST_CASE("retrain jobs read while another instance rewrites them are read whole", "[jobs][blobs]") {
  Backend b;
  auto writer = b.instance();
  auto reader = b.instance();
  bool queued = false;
  auto job = writer.add(asked("loans"), 1, queued);
  REQUIRE(queued);
  std::atomic<bool> done{false};
  // A read never takes a blob replaced under it for an altered one. (Replaced during each of its
  // attempts is a refusal that says so: possible only while a writer rewrites without pause.)
  std::atomic<int> refused{0}, reads{0};
  std::thread read_loop([&] {
    while (!done) {
      try {
        if (reader.find(job.id)) ++reads;
      } catch (const std::exception& e) {
        if (std::string(e.what()).find("replaced during each of") != std::string::npos) continue;
        ++refused;
        UNSCOPED_INFO(e.what());
      }
    }
  });
  // At least 150 rewrites, and on until the reader has read one whole (a loaded machine can
  // give the writer all 150 first: the reads then prove nothing), at most 30 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 150 || (reads == 0 && std::chrono::steady_clock::now() < deadline); ++i) {
    job.reason = "rewritten " + std::to_string(i);
    writer.finish(job);  // rewrites jobs/<id> each time
  }
  done = true;
  read_loop.join();
  CHECK(reads > 0);
  CHECK(refused == 0);
}
