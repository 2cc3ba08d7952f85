// Several `hitl serve` instances on one PostgreSQL database (issue 20, docs/deploy.md "Several
// instances"): 64 reviewers spread over three instances complete every task exactly once while
// clients keep sending predictions; kill -9 of the leading instance loses no acknowledged
// prediction or outcome, its reviewers' claims return to the queue when their leases run out,
// and a survivor takes the lead. A long-poll waiter hears a review made on another instance.
// Hidden on SQLite ([.instances]: one instance per file there); test-adversarial-postgres runs it.
#include "adversarial.hpp"
#include "support/eventually.hpp"
#include "support/skip.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using hitl::test::count_rows;
using hitl::test::HttpClient;
using hitl::test::Instance;
using hitl::test::Service;
using nlohmann::json;

namespace {

constexpr int kInstances = 3;
constexpr int kReviewers = 64;
constexpr int kTasks = 640;
const char* const kDomain = R"(shared = { policy = "loans.lua", labels = { "good", "bad" }, lease_seconds = 6 },)";

bool on_postgres() {
  const char* b = std::getenv("HITL_TEST_BACKEND");
  return b && std::string(b) == "postgres";
}

bool leads(const Instance& i) { return i.log().find("cluster: this instance leads") != std::string::npos; }

// The reviewers' tokens, made by `hitl token create` eight at a time.
std::vector<std::string> reviewer_tokens(const Service& s) {
  std::vector<std::string> tokens(kReviewers);
  std::vector<std::thread> makers;
  for (int t = 0; t < 8; ++t)
    makers.emplace_back([&, t] {
      for (int i = t; i < kReviewers; i += 8) tokens[i] = s.token("reviewer", "r" + std::to_string(i), "shared");
    });
  for (auto& m : makers) m.join();
  return tokens;
}

json flagged_batch(int from, int n) {
  json batch = json::array();
  for (int i = from; i < from + n; ++i)
    batch.push_back({{"id", "t-" + std::to_string(i)}, {"input", {{"amount", i}}},
                     {"prediction", {{"label", "good"}, {"confidence", 0.5}}}});
  return batch;
}

// What the reviewers and clients saw acknowledged, and the claims each reviewer holds.
struct Ledger {
  std::mutex mu;
  std::multiset<long long> outcomes;
  std::set<std::string> predictions;
  std::vector<long long> held = std::vector<long long>(kReviewers, 0);
  std::vector<int> held_on = std::vector<int>(kReviewers, -1);
};

}  // namespace

TEST_CASE("three instances on one database: 64 reviewers complete every task once, and kill -9 of the leader loses nothing",
          "[adversarial][.instances]") {
  if (!on_postgres()) HITL_SKIP("several instances share a PostgreSQL database only");
  Service s(kDomain);
  const auto tokens = reviewer_tokens(s);
  std::vector<std::unique_ptr<Instance>> inst;
  for (int n = 0; n < kInstances; ++n) inst.push_back(std::make_unique<Instance>(s, n));
  for (auto& i : inst) i->start();
  for (int b = 0; b < kTasks / 64; ++b) {  // the tasks arrive through every instance
    HttpClient c(inst[b % kInstances]->port());
    REQUIRE(c.request("POST", "/v1/domains/shared/predictions", s.client, flagged_batch(b * 64, 64).dump()).status == 200);
  }
  REQUIRE(hitl::test::eventually([&] {
    int n = 0;
    for (auto& i : inst) n += leads(*i);
    return n == 1;
  }, std::chrono::seconds(20)));
  int leader = 0;
  while (!leads(*inst[leader])) ++leader;

  Ledger ledger;
  std::atomic<bool> stop{false}, killed{false};
  // Reviewer i works on instance i % 3; when that instance dies it moves to the next live one,
  // leaving the claim it held there (which must come back to the queue when its lease runs out).
  auto review = [&](int i) {
    int on = i % kInstances;
    while (!stop) {
      if (killed && on == leader) on = (on + 1) % kInstances;
      try {
        HttpClient c(inst[on]->port());
        while (!stop) {
          auto next = c.request("GET", "/v1/review/next?domain=shared", tokens[i]);
          if (next.status != 200) {  // 204: nothing ready now (claims held elsewhere come back later)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
          }
          const long long id = next.json()["task_id"];
          {
            std::lock_guard lock(ledger.mu);
            ledger.held[i] = id;
            ledger.held_on[i] = on;
          }
          auto out = c.request("POST", "/v1/review/tasks/" + std::to_string(id) + "/outcome", tokens[i],
                               R"({"outcome":"correct","correction":{"label":"bad"}})");
          if (out.status != 200) continue;
          std::lock_guard lock(ledger.mu);
          ledger.outcomes.insert(id);
          ledger.held[i] = 0;
        }
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // its instance died: move on
      }
    }
  };
  // Clients keep sending predictions (answered at once: high confidence) to every instance.
  auto send = [&](int t) {
    for (int round = 0; !stop; ++round) {
      const int on = (t + round) % kInstances;
      if (killed && on == leader) continue;
      try {
        HttpClient c(inst[on]->port());
        json batch = json::array();
        for (int k = 0; k < 20; ++k)
          batch.push_back({{"id", "p-" + std::to_string(t) + "-" + std::to_string(round) + "-" + std::to_string(k)},
                           {"input", {{"amount", k}}}, {"prediction", {{"label", "good"}, {"confidence", 0.95}}}});
        if (c.request("POST", "/v1/domains/shared/predictions", s.client, batch.dump()).status != 200) continue;
        std::lock_guard lock(ledger.mu);
        for (auto& r : batch) ledger.predictions.insert(r["id"].get<std::string>());
      } catch (const std::exception&) {
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kReviewers; ++i) threads.emplace_back(review, i);
  for (int t = 0; t < 2; ++t) threads.emplace_back(send, t);

  // Kill the leader once a third of the tasks are done, under load.
  REQUIRE(hitl::test::eventually([&] {
    std::lock_guard lock(ledger.mu);
    return ledger.outcomes.size() >= kTasks / 3;
  }, std::chrono::seconds(120)));
  std::vector<long long> abandoned;  // claims held on the killed instance at its death
  {
    std::lock_guard lock(ledger.mu);
    inst[leader]->kill_hard();
    killed = true;
    for (int i = 0; i < kReviewers; ++i)
      if (ledger.held[i] && ledger.held_on[i] == leader) abandoned.push_back(ledger.held[i]);
  }
  // A survivor takes the lead (the server released the dead one's lock with its connection).
  CHECK(hitl::test::eventually([&] {
    for (int n = 0; n < kInstances; ++n)
      if (n != leader && leads(*inst[n])) return true;
    return false;
  }, std::chrono::seconds(20)));
  // Every task ends completed, the dead instance's claims included once their leases run out.
  const auto completed = [&] {
    return count_rows(s, "SELECT count(*) FROM tasks WHERE domain = 'shared' AND status = 'completed'");
  };
  CHECK(hitl::test::eventually([&] { return completed() == kTasks; }, std::chrono::seconds(120)));
  stop = true;
  for (auto& th : threads) th.join();

  INFO("outcomes acknowledged: " << ledger.outcomes.size() << ", claims abandoned at the kill: " << abandoned.size()
                                 << ", predictions acknowledged: " << ledger.predictions.size());
  CHECK(std::set<long long>(ledger.outcomes.begin(), ledger.outcomes.end()).size() == ledger.outcomes.size());
  CHECK(completed() == kTasks);
  CHECK(count_rows(s, "SELECT count(*) FROM reviews r JOIN tasks t ON t.task_id = r.task_id WHERE t.domain = 'shared'") == kTasks);
  CHECK(count_rows(s, "SELECT count(DISTINCT r.task_id) FROM reviews r JOIN tasks t ON t.task_id = r.task_id WHERE t.domain = 'shared'") == kTasks);
  for (long long id : abandoned)
    CHECK(count_rows(s, "SELECT count(*) FROM tasks WHERE status = 'completed' AND task_id = " + std::to_string(id)) == 1);
  // No acknowledged prediction is lost, whichever instance took it.
  std::set<std::string> stored;
  for (const auto& row : s.sql_rows("SELECT id FROM decisions WHERE domain = 'shared' AND id LIKE 'p-%'")) stored.insert(row[0]);
  std::size_t lost = 0;
  for (auto& id : ledger.predictions) lost += stored.count(id) == 0;
  CHECK(lost == 0);
  // One chain, whichever instance wrote each record.
  hitl::test::check_audit_matches_decisions(s);
  auto verify = hitl::test::run_hitl("audit verify --config " + s.config.string());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("a long-poll waiter on one instance hears the review made on another", "[adversarial][.instances]") {
  if (!on_postgres()) HITL_SKIP("several instances share a PostgreSQL database only");
  Service s;
  Instance a(s, 0), b(s, 1);
  a.start();
  b.start();
  auto waited = std::async(std::launch::async, [&] {
    HttpClient c(a.port());
    return c.request("POST", "/v1/domains/loans/predictions?wait=30s", s.client,
                     R"({"id":"w-1","input":{"amount":5},"prediction":{"label":"good","confidence":0.5}})");
  });
  HttpClient c(b.port());
  long long id = 0;
  REQUIRE(hitl::test::eventually([&] {
    auto next = c.request("GET", "/v1/review/next?domain=loans", s.reviewer);
    if (next.status == 200) id = next.json()["task_id"];
    return id != 0;
  }, std::chrono::seconds(20)));
  const auto reviewed = std::chrono::steady_clock::now();
  REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(id) + "/outcome", s.reviewer,
                    R"({"outcome":"correct","correction":{"label":"bad"}})").status == 200);
  auto r = waited.get();
  const auto heard_after = std::chrono::steady_clock::now() - reviewed;
  REQUIRE(r.status == 200);
  INFO(r.body);
  CHECK(r.json()["final_outcome"] == "correct");
  CHECK(r.json()["timed_out"] == false);
  // Heard through the event, not at the 30 s deadline.
  CHECK(heard_after < std::chrono::seconds(10));
}
