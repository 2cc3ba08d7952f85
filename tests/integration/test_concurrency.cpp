// Many reviewers against one running server: every task is completed exactly once, none is
// held by two reviewers, none is lost -- with the claim and submit steps on the writer thread
// (SQLite's default) and on step threads (writer.step_threads; PostgreSQL's default, and SQLite
// set so). Prints the claim+submit throughput it saw (a figure, not an assertion).
#include "support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;

namespace {
constexpr int kReviewers = 64;
constexpr int kTasks = 1000;

long long count_of(const Service& s, const std::string& sql) { return std::stoll(s.sql_rows(sql).at(0).at(0)); }

// 64 reviewers claim and submit until the queue is empty; then every task is checked in storage.
void review_everything(Service& s) {
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
  CHECK(count_of(s, "SELECT count(*) FROM tasks WHERE domain = 'loans' AND status = 'completed'") == kTasks);
  CHECK(count_of(s, "SELECT count(*) FROM reviews") == kTasks);
  CHECK(count_of(s, "SELECT count(DISTINCT task_id) FROM reviews") == kTasks);
  CHECK(count_of(s, "SELECT count(*) FROM feedback WHERE domain = 'loans'") == kTasks);
  CHECK(count_of(s, "SELECT count(*) FROM decisions WHERE domain = 'loans' AND COALESCE(final_outcome, '') = ''") == 0);
  // Each review was written by the reviewer who was handed the task.
  int mismatched = 0;
  for (auto& row : s.sql_rows("SELECT task_id, reviewer FROM reviews"))
    if (holder[std::stoll(row.at(0))] != row.at(1)) ++mismatched;
  CHECK(mismatched == 0);
}

}  // namespace

// [workflow]: also against PostgreSQL (tests/integration/CMakeLists.txt), where the steps run on
// step threads by default.
TEST_CASE("64 reviewers claim and submit concurrently: each task completed exactly once", "[concurrency][workflow]") {
  Service s;
  review_everything(s);
}

TEST_CASE("64 reviewers on step threads (writer.step_threads = 4): each task completed exactly once", "[concurrency]") {
  Service s;
  hitl::test::set_top_level(s, "writer = { step_threads = 4 },");
  review_everything(s);
  CHECK(s.log().find("claim and submit steps run on 4 step threads") != std::string::npos);
}
