// Many reviewers against one running server: every task is completed exactly once, none is
// held by two reviewers, none is lost. Prints the claim+submit throughput it saw (a figure,
// not an assertion).
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;

TEST_CASE("64 reviewers claim and submit concurrently: each task completed exactly once", "[concurrency]") {
  constexpr int kReviewers = 64;
  constexpr int kTasks = 1000;
  Service s;
  std::vector<std::string> tokens;
  for (int i = 0; i < kReviewers; ++i) tokens.push_back(s.token("reviewer", "rev" + std::to_string(i), "loans"));
  s.start();
  {
    HttpClient c(s.port());
    json batch = json::array();
    for (int i = 0; i < kTasks; ++i)
      batch.push_back({{"id", "t-" + std::to_string(i)}, {"input", {{"amount", i * 10}}},
                       {"prediction", {{"label", "good"}, {"confidence", 0.5}}}});
    auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump());
    REQUIRE(r.status == 200);
  }

  std::mutex mu;
  std::multiset<long long> completed;          // task ids each reviewer completed
  std::map<long long, std::string> holder;     // task id -> who was handed it
  std::atomic<int> double_claims{0}, failures{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kReviewers; ++i) {
    threads.emplace_back([&, i] {
      HttpClient c(s.port());
      const std::string name = "rev" + std::to_string(i);
      for (;;) {
        auto next = c.request("GET", "/v1/review/next?domain=loans", tokens[i]);
        if (next.status == 204) break;
        if (next.status != 200) { failures++; break; }
        const long long id = next.json()["task_id"];
        {
          std::lock_guard lock(mu);
          if (!holder.emplace(id, name).second) double_claims++;  // handed to two reviewers
        }
        auto out = c.request("POST", "/v1/review/tasks/" + std::to_string(id) + "/outcome", tokens[i],
                             i % 2 ? R"({"outcome":"approve"})" : R"({"outcome":"correct","correction":{"label":"bad"}})");
        if (out.status != 200) { failures++; continue; }
        std::lock_guard lock(mu);
        completed.insert(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%d reviewers completed %zu tasks in %.2f s: %.0f claim+submit pairs/s\n", kReviewers,
              completed.size(), secs, completed.size() / secs);

  CHECK(failures == 0);
  CHECK(double_claims == 0);
  CHECK(completed.size() == kTasks);
  CHECK(std::set<long long>(completed.begin(), completed.end()).size() == kTasks);
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT count(*) FROM tasks WHERE domain = 'loans' AND status = 'completed'").getInt() == kTasks);
  CHECK(db.execAndGet("SELECT count(*) FROM reviews").getInt() == kTasks);
  CHECK(db.execAndGet("SELECT count(DISTINCT task_id) FROM reviews").getInt() == kTasks);
  CHECK(db.execAndGet("SELECT count(*) FROM feedback WHERE domain = 'loans'").getInt() == kTasks);
  CHECK(db.execAndGet("SELECT count(*) FROM decisions WHERE domain = 'loans' AND COALESCE(final_outcome, '') = ''").getInt() == 0);
  // Each review was written by the reviewer who was handed the task.
  SQLite::Statement q(db, "SELECT task_id, reviewer FROM reviews");
  int mismatched = 0;
  while (q.executeStep())
    if (holder[q.getColumn(0).getInt64()] != q.getColumn(1).getString()) ++mismatched;
  CHECK(mismatched == 0);
}
