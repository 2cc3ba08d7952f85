// What queue-postgres does beyond the shared queue suite (plugins/queue-sqlite/tests, run on
// PostgreSQL as test-queue-postgres-suite): its config, and several instances -- queue objects
// with connections of their own -- claiming from one database, each item exactly once, a dead
// instance's leases returning to the others. Loaded through Boost.DLL; the throw-away server.
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/plugin_testing.hpp"
#include "support/postgres.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace sdk = hitl::sdk;

namespace {

const sdk::PluginDescriptor& plugin() { return hitl::test::plugin_descriptor("queue-postgres.so"); }

std::unique_ptr<sdk::Queue> open_queue(const std::string& url) {
  std::unique_ptr<sdk::Queue> q;
  const auto st = plugin().create_queue(nlohmann::json{{"url", url}, {"pool_size", 4}}.dump().c_str(), q);
  INFO(st.message);
  REQUIRE(st.ok());
  return q;
}

}  // namespace

TEST_CASE("descriptor: queue kind named postgres, the PostgreSQL options documented, bad config refused") {
  const auto& d = plugin();
  CHECK(d.kind == sdk::PluginKind::queue);
  CHECK(std::string(d.name) == "postgres");
  CHECK(d.api.minor == HITL_SDK_QUEUE_API_MINOR);
  std::set<std::string> names;
  for (const auto& o : nlohmann::json::parse(d.config_doc)) names.insert(o.at("name").get<std::string>());
  CHECK(names == std::set<std::string>{"url", "pool_size", "statement_timeout_ms", "connect_timeout_s"});
  std::unique_ptr<sdk::Queue> q;
  auto st = d.create_queue(R"({"path": "x.db"})", q);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK_THAT(st.message, Catch::Contains("queue-postgres") && Catch::Contains("unknown config key \"path\""));
  st = d.create_queue(R"({"url": "postgresql://hitl:pw@127.0.0.1:1/x", "connect_timeout_s": 2})", q);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK_THAT(st.message, !Catch::Contains("pw@"));
}

TEST_CASE("three instances with 8 claimers each take 1500 items, each exactly once") {
  HITL_PG_DATABASE(url);
  std::vector<std::unique_ptr<sdk::Queue>> instances;
  for (int i = 0; i < 3; ++i) instances.push_back(open_queue(url));
  constexpr int kItems = 1500;
  std::vector<sdk::QueueItem> items;
  for (int i = 1; i <= kItems; ++i) items.push_back({i, "credit", static_cast<double>(i % 7), 0, 1000 + i});
  REQUIRE(instances[0]->push(items).ok());

  std::mutex mu;
  std::multiset<std::int64_t> acked;
  std::atomic<int> failures{0};
  std::vector<std::thread> claimers;
  for (int t = 0; t < 24; ++t)
    claimers.emplace_back([&, t] {
      auto& q = *instances[t % 3];
      const std::string who = "reviewer-" + std::to_string(t);
      for (;;) {
        std::optional<sdk::Lease> lease;
        if (!q.claim("credit", who, 5000, 60000, lease).ok()) { ++failures; return; }
        if (!lease) return;
        if (!q.ack(lease->task_id, who, 5000).ok()) { ++failures; return; }
        std::lock_guard lock(mu);
        acked.insert(lease->task_id);
      }
    });
  for (auto& c : claimers) c.join();
  CHECK(failures == 0);
  CHECK(acked.size() == kItems);
  CHECK(std::set<std::int64_t>(acked.begin(), acked.end()).size() == kItems);  // no task twice
  sdk::QueueDepth d;
  REQUIRE(instances[1]->depth("credit", 5000, d).ok());
  CHECK(d.ready == 0);
  CHECK(d.leased == 0);
}

TEST_CASE("a dead instance's leases expire and another instance claims them") {
  HITL_PG_DATABASE(url);
  auto survivor = open_queue(url);
  {
    auto dying = open_queue(url);
    REQUIRE(dying->push({{1, "credit", 1, 0, 1000}, {2, "credit", 2, 0, 1000}}).ok());
    std::optional<sdk::Lease> lease;
    REQUIRE(dying->claim("credit", "alice", 1000, 500, lease).ok());
    REQUIRE(lease);
    CHECK(lease->task_id == 2);
  }  // the instance goes away holding the lease
  sdk::QueueDepth d;
  REQUIRE(survivor->depth("credit", 1200, d).ok());
  CHECK(d.ready == 1);
  CHECK(d.leased == 1);
  std::vector<std::int64_t> expired;
  REQUIRE(survivor->expire(2000, expired).ok());
  CHECK(expired == std::vector<std::int64_t>{2});
  std::optional<sdk::Lease> lease;
  REQUIRE(survivor->claim("credit", "bob", 2000, 500, lease).ok());
  REQUIRE(lease);
  CHECK(lease->task_id == 2);
  CHECK(survivor->ack(2, "alice", 2100).code == sdk::Code::conflict);  // no longer alice's
  CHECK(survivor->ack(2, "bob", 2100).ok());
}
