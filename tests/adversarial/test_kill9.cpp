// kill -9 under load, for ingest and for reviews: every acknowledged write survives, nothing is
// stored twice, the audit chain verifies, and after a restart the work carries on at once.
#include "adversarial.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using hitl::test::count_rows;
using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;

namespace {

json batch_of(int thread, int round, int size) {
  json batch = json::array();
  for (int i = 0; i < size; ++i)
    batch.push_back({{"id", "k-" + std::to_string(thread) + "-" + std::to_string(round) + "-" + std::to_string(i)},
                     {"input", {{"amount", i}}},
                     {"prediction", {{"label", "good"}, {"confidence", i % 2 ? 0.95 : 0.5}}}});
  return batch;
}

void check_audit_verifies(const Service& s) {
  auto verify = run_hitl("audit verify --config " + s.config.string());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);
}

}  // namespace

TEST_CASE("kill -9 during ingest loses no acknowledged decision and leaves one audit record each", "[adversarial]") {
  Service s;
  s.start();
  std::mutex mu;
  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      try {
        HttpClient c(s.port());
        for (int round = 0; !stop; ++round) {
          json batch = batch_of(t, round, 20);
          auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump());
          if (r.status != 200) continue;
          std::lock_guard lock(mu);
          for (auto& rec : batch) acked.insert(rec["id"].get<std::string>());
        }
      } catch (const std::exception&) {
        // the connection died with the server: expected
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  s.kill_hard();
  stop = true;
  for (auto& th : clients) th.join();
  REQUIRE(acked.size() > 100);

  // Every acknowledged id is stored once, with its creation in the trail.
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT count(*) FROM decisions WHERE domain = 'loans' AND id = ?");
  std::size_t missing = 0;
  for (auto& id : acked) {
    q.reset();
    q.bind(1, id);
    q.executeStep();
    if (q.getColumn(0).getInt() != 1) ++missing;
  }
  CHECK(missing == 0);
  hitl::test::check_audit_matches_decisions(s);
  check_audit_verifies(s);

  // After a restart a client's retry of an acknowledged batch is answered as duplicates.
  s.start();
  HttpClient c(s.port());
  auto retry = c.request("POST", "/v1/domains/loans/predictions", s.client, batch_of(0, 0, 20).dump());
  REQUIRE(retry.status == 200);
  for (auto& r : retry.json()["results"]) CHECK(r["duplicate"] == true);
  hitl::test::check_audit_matches_decisions(s);
}
