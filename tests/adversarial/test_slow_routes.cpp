// Slow routes against a real `hitl serve` over a large database (issue 14, finding 3): two
// reports over 200k decisions at once must neither stall /healthz and ingest (they run on the
// slow lane, not on the I/O threads) nor hold the decisions in memory (the report is streamed).
#include "support.hpp"
#include "transport_support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <future>
#include <thread>
#include <vector>

using namespace hitl::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kDecisions = 200'000;

// Straight into the SQLite file (ingesting 200k records over HTTP would take minutes): `n`
// decisions of the governed domain with a ~600-byte input, every 5th with a completed review task.
void fill(const Service& s, int n = kDecisions) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READWRITE);
  SQLite::Transaction tx(db);
  SQLite::Statement dec(db,
                        "INSERT INTO decisions(domain, id, status, reason, task_id, label, confidence, input_json, "
                        "prediction_json, meta_json, policy_hash, created_ms, input_hash) "
                        "VALUES('governed', ?, ?, ?, ?, 'good', 0.6, ?, '{}', '{}', 'p1', ?, 'h')");
  SQLite::Statement task(db,
                         "INSERT INTO tasks(task_id, domain, decision_id, status, created_ms, updated_ms) "
                         "VALUES(?, 'governed', ?, 'completed', ?, ?)");
  const std::string notes(480, 'n');
  const std::int64_t t0 = 1'700'000'000'000;
  std::int64_t next_task = 1'000'000;
  for (int i = 0; i < n; ++i) {
    const std::string id = "big-" + std::to_string(i);
    const std::int64_t created = t0 + i * std::int64_t{10};
    const bool flagged = i % 5 == 0;
    const std::int64_t task_id = flagged ? next_task++ : 0;
    dec.bind(1, id);
    dec.bind(2, flagged ? "pending_review" : "auto_approved");
    dec.bind(3, flagged ? "low_confidence" : "");
    dec.bind(4, static_cast<std::int64_t>(task_id));
    dec.bind(5, R"({"segment":"s)" + std::to_string(i % 7) + R"(","amount":)" + std::to_string(i % 5000) +
                    R"(,"name":"applicant )" + std::to_string(i) + R"(","notes":")" + notes + "\"}");
    dec.bind(6, created);
    dec.exec();
    dec.reset();
    if (flagged) {
      task.bind(1, task_id);
      task.bind(2, id);
      task.bind(3, created);
      task.bind(4, created + std::int64_t{1000} * (1 + i % 600));
      task.exec();
      task.reset();
    }
  }
  tx.commit();
}

std::chrono::milliseconds timed_healthz(int port) {
  const auto t0 = std::chrono::steady_clock::now();
  HttpClient c(port);  // a new connection each time, as a load balancer's check would
  const auto r = c.request("GET", "/healthz", "");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return r.status == 200 ? took : std::chrono::milliseconds::max();
}

}  // namespace

TEST_CASE("two reports over 200k decisions leave /healthz and ingest responsive and memory flat",
          "[adversarial][slow]") {
  Service s;
  set_top_level(s, "slow_threads = 2,");
  s.start();  // creates the schema
  s.stop();
  fill(s);
  s.start();
  REQUIRE(timed_healthz(s.port()) < 1s);
  const long hwm_before = proc_status_kib(s.pid(), "VmHWM");
  REQUIRE(hwm_before > 0);

  auto report = [&] {
    HttpClient c(s.port());
    return c.request("GET", "/v1/domains/governed/report", s.admin);
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto a = std::async(std::launch::async, report);
  auto b = std::async(std::launch::async, report);

  std::chrono::milliseconds worst{0};
  int probes = 0, ingested = 0;
  HttpClient ingest(s.port());
  while (a.wait_for(50ms) != std::future_status::ready || b.wait_for(0ms) != std::future_status::ready) {
    worst = std::max(worst, timed_healthz(s.port()));
    ++probes;
    if (probes % 10 == 0) {
      json p = {{"id", "during-" + std::to_string(probes)}, {"input", {{"amount", 10}}},
                {"prediction", {{"label", "good"}, {"confidence", 0.95}}}};
      if (ingest.request("POST", "/v1/domains/loans/predictions", s.client, p.dump()).status == 200) ++ingested;
    }
    if (std::chrono::steady_clock::now() - t0 > 300s) break;
  }
  const auto reports_took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  const auto ra = a.get(), rb = b.get();
  const long hwm_after = proc_status_kib(s.pid(), "VmHWM");
  WARN("reports took " << reports_took.count() << " ms; /healthz worst " << worst.count() << " ms over " << probes
                       << " probes; " << ingested << " ingested; VmHWM " << hwm_before / 1024 << " -> "
                       << hwm_after / 1024 << " MiB");

  REQUIRE(ra.status == 200);
  REQUIRE(rb.status == 200);
  CHECK(ra.json()["predictions"] == kDecisions);
  CHECK(ra.json()["flagged"] == kDecisions / 5);
  CHECK(ra.json()["turnaround"]["completed"] == kDecisions / 5);
  CHECK(rb.json()["predictions"] == kDecisions);
  CHECK(probes >= 3);  // the reports took long enough to be probed during
  CHECK(worst < 500ms);
  CHECK(ingested == probes / 10);
  // 200k decisions with their ~600-byte inputs are over 200 MiB in memory; streamed, the two
  // reports hold a page each.
  CHECK(hwm_after - hwm_before < 64 * 1024);
}

TEST_CASE("slow routes past the slow lane's queue get 503 busy at once, the others their report",
          "[adversarial][slow]") {
  Service s;
  set_top_level(s, "slow_threads = 1,");  // one thread, 8 queued: the 10th report cannot wait
  s.start();
  s.stop();
  fill(s, 50'000);  // a report still takes long enough for the 10 requests to arrive during the first
  s.start();
  std::vector<std::future<HttpResponse>> reports;
  for (int i = 0; i < 10; ++i)
    reports.push_back(std::async(std::launch::async, [&] {
      HttpClient c(s.port());
      return c.request("GET", "/v1/domains/governed/report", s.admin);
    }));
  int ok = 0, busy = 0;
  for (auto& f : reports) {
    const auto r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 503 && r.json()["error"]["code"] == "busy") ++busy;
  }
  CHECK(busy >= 1);
  CHECK(ok + busy == 10);
  CHECK(ok >= 8);  // the queue held 8 while the thread worked on one
  HttpClient c(s.port());
  const auto m = c.request("GET", "/metrics", s.admin);
  CHECK(metric(m.body, "hitl_slow_lane_busy_total") == busy);
}

namespace {
// assign() spins about a second in domain "slowassign": a claim there is in flight that long.
const char* kSlowAssign = R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("always") end,
  assign = function(task, candidates)
    local x = 0
    for i = 1, 150000000 do x = x + i end
    return nil
  end,
})";

// The Service's config with a policy budget that lets kSlowAssign's loop run.
void allow_long_policies(Service& s) {
  replace_in_config(s, "policy = { instruction_budget = 200000 },",
                    "policy = { instruction_budget = 100000000000, deadline_ms = 120000 },");
}
}  // namespace

// Release, renew, send-back, cancel, assign and reassign take the review service's exclusive
// turn, which waits until no claim is in flight, and a claim of a domain with assign() runs the
// policy. On an I/O thread such a move held the thread for the whole of a slow assign(): with one
// I/O thread, /healthz waited ~0.9 s behind it. They run on the slow lane.
TEST_CASE("a move waiting behind a slow assign() claim holds no I/O thread: /healthz answers meanwhile",
          "[adversarial][slow]") {
  TempDir policies;  // written before the Service checks its config
  const auto policy = policies.write("slowassign.lua", kSlowAssign);
  Service s("slowassign = { policy = \"" + policy.string() + "\", labels = { \"good\", \"bad\" } },");
  allow_long_policies(s);
  set_top_level(s, "http_threads = 1,");
  const std::string dave = s.token("reviewer", "dave", "slowassign");
  s.start();
  HttpClient c(s.port());
  const json p = {{"id", "s1"}, {"input", {{"amount", 10}}}, {"prediction", {{"label", "good"}, {"confidence", 0.6}}}};
  REQUIRE(c.request("POST", "/v1/domains/slowassign/predictions", s.client, p.dump()).status == 200);

  const auto t0 = std::chrono::steady_clock::now();
  auto claim = std::async(std::launch::async, [&] {
    HttpClient mine(s.port());
    return mine.request("GET", "/v1/review/next?domain=slowassign", dave);
  });
  std::this_thread::sleep_for(150ms);  // the claim is in assign() now
  auto release = std::async(std::launch::async, [&] {
    HttpClient mine(s.port());
    return mine.request("POST", "/v1/review/tasks/424242/release", s.admin, R"({"reason":"test"})");
  });
  std::this_thread::sleep_for(150ms);  // the release waits for the claim's turn to end
  const auto healthz = timed_healthz(s.port());
  const auto claimed = claim.get();
  const auto claim_took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  const auto released = release.get();
  INFO("/healthz " << healthz.count() << " ms while the claim took " << claim_took.count() << " ms");
  REQUIRE(claimed.status == 200);
  REQUIRE(claim_took > 600ms);  // assign() was slow enough to matter
  CHECK(released.status == 404);  // no such task: answered once the claim's turn ended
  CHECK(healthz < claim_took / 3);
}
