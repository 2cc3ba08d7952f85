// A million pending review tasks (issues 14 and 19). The database is filled straight through
// SQLite before `hitl serve` starts (one prepared statement per table, one transaction), then the
// tests assert behaviour: /metrics gives the right depth, a restart answers /healthz while the
// open tasks are re-queued in the background, queue leases agree with storage after a restart
// (the state a kill -9 between the queue lease and the storage commit of a claim leaves, and a
// real kill -9 under claims), and a burst of SLA breaches is marked completely while HTTP answers.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <sys/types.h>
#include <unistd.h>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kBacklog = 1'000'000;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the database holds besides the plain backlog, by task id.
struct Backlog {
  std::int64_t breaching_first = 0, breaching = 0;  // past their deadline, SLA not yet marked
};

// Pending tasks 1..n of domain "loans" in storage and in the queue (priority < 0.9, half with a
// deadline a day away), plus `breaching` tasks of domain "governed" whose deadline has passed,
// each with its decision (the escalation reads it). The schema is the one `hitl serve` created.
Backlog fill(const fs::path& db_path, std::int64_t n, std::int64_t breaching) {
  SQLite::Database db(db_path.string(), SQLite::OPEN_READWRITE, 10000);
  const std::int64_t now = wall_ms();
  SQLite::Transaction tx(db);
  SQLite::Statement task(db,
                         "INSERT INTO tasks(task_id, domain, decision_id, status, priority, deadline_ms, created_ms, "
                         "updated_ms) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?6)");
  SQLite::Statement item(db,
                         "INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
                         "VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 = 0 THEN 9223372036854775807 ELSE ?4 END, ?5)");
  SQLite::Statement decision(db,
                             "INSERT INTO decisions(domain, id, status, task_id, priority, label, confidence, created_ms) "
                             "VALUES (?1, ?2, 'review', ?3, ?4, 'good', 0.5, ?5)");
  auto add = [&](std::int64_t id, const char* domain, double priority, std::int64_t deadline, std::int64_t created,
                 bool with_decision) {
    const std::string decision_id = "b-" + std::to_string(id);
    task.reset();
    task.bind(1, id);
    task.bind(2, domain);
    task.bind(3, decision_id);
    task.bind(4, priority);
    task.bind(5, deadline);
    task.bind(6, created);
    task.exec();
    item.reset();
    item.bind(1, id);
    item.bind(2, domain);
    item.bind(3, priority);
    item.bind(4, deadline);
    item.bind(5, created);
    item.exec();
    if (!with_decision) return;
    decision.reset();
    decision.bind(1, domain);
    decision.bind(2, decision_id);
    decision.bind(3, id);
    decision.bind(4, priority);
    decision.bind(5, created);
    decision.exec();
  };
  for (std::int64_t id = 1; id <= n; ++id)
    add(id, "loans", static_cast<double>(id % 90) / 100.0, id % 2 ? now + 86'400'000 : 0, now - 1000, false);
  Backlog b{n + 1, breaching};
  for (std::int64_t id = b.breaching_first; id < b.breaching_first + breaching; ++id)
    add(id, "governed", 0.5, now - 1000, now - 600'000, true);
  tx.commit();
  return b;
}

// A task's row in storage as the service left it (read on its own connection).
std::pair<std::string, std::string> task_state(const fs::path& db_path, std::int64_t id) {
  SQLite::Database db(db_path.string(), SQLite::OPEN_READONLY, 10000);
  SQLite::Statement q(db, "SELECT status, assignee FROM tasks WHERE task_id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return {"", ""};
  return {q.getColumn(0).getString(), q.getColumn(1).getString()};
}

std::int64_t metric(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + series.size() + 1));
}

// The pid of the `hitl serve` child started for `config` (the support class keeps it private).
pid_t server_pid(const fs::path& config) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (!(stat >> pid >> comm >> state >> ppid) || ppid != ::getpid()) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (line.find(config.string()) != std::string::npos) return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// Every live queue lease is backed by storage (the task assigned to the same reviewer) and
// every task storage has assigned with a live lease holds that lease in the queue.
void check_leases_agree(const fs::path& db_path) {
  SQLite::Database db(db_path.string(), SQLite::OPEN_READONLY, 10000);
  const std::int64_t now = wall_ms();
  SQLite::Statement unbacked(db,
                             "SELECT COUNT(*) FROM queue_items q WHERE q.leased_by IS NOT NULL AND q.lease_expires >= ?1 "
                             "AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = q.task_id AND t.status = 'assigned' "
                             "AND t.assignee = q.leased_by)");
  unbacked.bind(1, now);
  REQUIRE(unbacked.executeStep());
  CHECK(unbacked.getColumn(0).getInt64() == 0);
  SQLite::Statement unheld(db,
                           "SELECT COUNT(*) FROM tasks t WHERE t.status = 'assigned' AND t.lease_expires_ms > ?1 "
                           "AND NOT EXISTS (SELECT 1 FROM queue_items q WHERE q.task_id = t.task_id "
                           "AND q.leased_by = t.assignee AND q.lease_expires >= ?1)");
  unheld.bind(1, now + 2000);  // a lease ending within the check may be expired already
  REQUIRE(unheld.executeStep());
  CHECK(unheld.getColumn(0).getInt64() == 0);
}

// A service whose database holds the backlog (the schema made by one start and stop).
struct BacklogService {
  Service s;
  Backlog b;
  explicit BacklogService(std::int64_t breaching = 0) {
    s.start();
    s.stop();
    b = fill(s.db, kBacklog, breaching);
  }
};

}  // namespace

TEST_CASE("backlog: a restart answers at once and /metrics counts a million pending tasks", "[adversarial]") {
  BacklogService f;
  const auto started = std::chrono::steady_clock::now();
  f.s.start();
  HttpClient c(f.s.port());
  REQUIRE(c.request("GET", "/healthz", "").status == 200);
  const auto answered = std::chrono::steady_clock::now() - started;
  // Generous for a loaded 2-core machine; re-queueing the million first took over 10 s.
  CHECK(answered < std::chrono::seconds(5));

  auto m = c.request("GET", "/metrics", f.s.admin);
  REQUIRE(m.status == 200);
  CHECK(metric(m.body, R"(hitl_queue_depth{domain="loans",state="ready"})") == kBacklog);
  CHECK(metric(m.body, R"(hitl_queue_depth{domain="loans",state="leased"})") == 0);

  // Ingest and claims move the gauges by exactly what they did.
  json batch = json::array();
  for (int i = 0; i < 10; ++i)
    batch.push_back({{"id", "new-" + std::to_string(i)}, {"input", {{"amount", 99999}}},
                     {"prediction", {{"label", "good"}, {"confidence", 0.5}}}});
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", f.s.client, batch.dump()).status == 200);
  auto next = c.request("GET", "/v1/review/next?domain=loans", f.s.reviewer);
  REQUIRE(next.status == 200);
  CHECK(next.json()["task_id"].get<std::int64_t>() > kBacklog);  // the new ones rank first (priority ~1)
  REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(next.json()["task_id"].get<std::int64_t>()) + "/outcome",
                    f.s.reviewer, R"({"outcome":"approve"})").status == 200);
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", f.s.reviewer2).status == 200);
  m = c.request("GET", "/metrics", f.s.admin);
  CHECK(metric(m.body, R"(hitl_queue_depth{domain="loans",state="ready"})") == kBacklog + 10 - 2);
  CHECK(metric(m.body, R"(hitl_queue_depth{domain="loans",state="leased"})") == 1);
}

TEST_CASE("backlog: after a crash mid-claim the restart makes queue leases agree with storage", "[adversarial]") {
  BacklogService f;
  const std::int64_t now = wall_ms();
  // What a kill -9 between the two steps of a claim leaves: task 7 leased in the queue, pending in
  // storage. Task 8: assigned in storage with a live lease the queue lost (the reverse); task 9:
  // assigned in storage, its lease run out while the service was down.
  {
    SQLite::Database db(f.s.db.string(), SQLite::OPEN_READWRITE, 10000);
    db.exec("UPDATE queue_items SET priority = 1.0, leased_by = 'alice', lease_expires = " + std::to_string(now + 3'600'000) +
            " WHERE task_id = 7");
    db.exec("UPDATE tasks SET priority = 1.0 WHERE task_id = 7");
    db.exec("UPDATE queue_items SET priority = 0.99 WHERE task_id IN (8, 9)");
    db.exec("UPDATE tasks SET priority = 0.99, status = 'assigned', assignee = 'alice', lease_expires_ms = " +
            std::to_string(now + 3'600'000) + " WHERE task_id = 8");
    db.exec("UPDATE tasks SET priority = 0.99, status = 'assigned', assignee = 'bob', lease_expires_ms = " +
            std::to_string(now - 1000) + " WHERE task_id = 9");
    db.exec("INSERT INTO decisions(domain, id, status, task_id, priority, label, confidence, created_ms) "
            "VALUES ('loans', 'b-8', 'review', 8, 0.99, 'good', 0.5, 1)");
  }
  f.s.start();
  check_leases_agree(f.s.db);
  CHECK(task_state(f.s.db, 9).first == "pending");
  HttpClient c(f.s.port());
  // Task 7 is claimable at once (not after its stale hour-long lease), by anyone.
  auto next = c.request("GET", "/v1/review/next?domain=loans", f.s.reviewer2);
  REQUIRE(next.status == 200);
  CHECK(next.json()["task_id"] == 7);
  // Task 8 stays alice's: bob is handed task 9 (back to pending), never 8; alice can finish 8.
  next = c.request("GET", "/v1/review/next?domain=loans", f.s.reviewer2);
  REQUIRE(next.status == 200);
  CHECK(next.json()["task_id"] == 9);
  CHECK(c.request("POST", "/v1/review/tasks/8/outcome", f.s.reviewer, R"({"outcome":"approve"})").status == 200);
  CHECK(task_state(f.s.db, 8) == std::make_pair(std::string("completed"), std::string("alice")));

  // A real kill -9 while 8 reviewers claim and release in a loop, then a restart: leases agree.
  std::vector<std::string> tokens;
  for (int i = 0; i < 8; ++i) tokens.push_back(f.s.token("reviewer", "crash" + std::to_string(i), "loans"));
  std::atomic<bool> go{true};
  std::vector<std::thread> claimers;
  for (int i = 0; i < 8; ++i)
    claimers.emplace_back([&, i] {
      try {
        HttpClient cc(f.s.port());
        while (go) {
          auto r = cc.request("GET", "/v1/review/next?domain=loans", tokens[i]);
          if (r.status != 200) continue;
          cc.request("POST", "/v1/review/tasks/" + std::to_string(r.json()["task_id"].get<std::int64_t>()) + "/release",
                     tokens[i], "{}");
        }
      } catch (...) {
        // the server died under us: expected
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const pid_t pid = server_pid(f.s.config);
  REQUIRE(pid > 0);
  ::kill(pid, SIGKILL);
  go = false;
  for (auto& t : claimers) t.join();
  f.s.stop();  // reaps the killed child
  f.s.start();
  check_leases_agree(f.s.db);
}

TEST_CASE("backlog: 21k SLA breaches at once are all marked while HTTP keeps answering", "[adversarial]") {
  constexpr std::int64_t kBreaching = 21'000;
  BacklogService f(kBreaching);
  f.s.start();
  HttpClient c(f.s.port());
  auto breached = [&] {
    SQLite::Database db(f.s.db.string(), SQLite::OPEN_READONLY, 10000);
    return db.execAndGet("SELECT COUNT(*) FROM tasks WHERE domain = 'governed' AND sla_state = 'breached'").getInt64();
  };
  std::chrono::steady_clock::duration slowest{};
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  while (breached() < kBreaching && std::chrono::steady_clock::now() < give_up) {
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(c.request("GET", "/healthz", "").status == 200);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(breached() == kBreaching);
  // Issue 14 saw all HTTP blocked for 2.4 s; escalations in chunks leave room between them.
  CHECK(slowest < std::chrono::seconds(1));
  SQLite::Database db(f.s.db.string(), SQLite::OPEN_READONLY, 10000);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'task.sla_breached'").getInt64() == kBreaching);
  // Nothing of the plain backlog was touched: its deadlines are a day away.
  CHECK(db.execAndGet("SELECT COUNT(*) FROM tasks WHERE domain = 'loans' AND sla_state <> ''").getInt64() == 0);
}
