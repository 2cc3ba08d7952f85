// What queue-postgres does beyond the shared queue suite (plugins/queue-sqlite/tests, run on
// PostgreSQL as test-queue-postgres-suite): its config, and several instances -- queue objects
// with connections of their own -- claiming from one database, each item exactly once, a dead
// instance's leases returning to the others. Loaded through Boost.DLL; the throw-away server.
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "pg_queue_sql.hpp"
#include "support/plugin_testing.hpp"
#include "support/postgres.hpp"

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
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

namespace {

// queue_counts as the depth reads it, and the rows it stands for, counted (a test may scan).
std::map<std::string, std::pair<std::int64_t, std::int64_t>> counts_and_rows(const std::string& url) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& r : tx.exec("SELECT domain, items FROM queue_counts")) out[r[0].c_str()].first = r[1].as<std::int64_t>();
  for (const auto& r : tx.exec("SELECT domain, COUNT(*) FROM queue_items GROUP BY domain"))
    out[r[0].c_str()].second = r[1].as<std::int64_t>();
  return out;
}

void check_counts_match_rows(const std::string& url) {
  for (const auto& [domain, c] : counts_and_rows(url)) {
    INFO("domain " << domain);
    CHECK(c.first == c.second);
  }
}

}  // namespace

// Migration 2 counts per statement from transition tables: a push mixing domains, items pushed
// again (re-ranked or unchanged: not counted twice), acks and a refused push keep each domain's
// count equal to its rows.
TEST_CASE("queue counts per statement stay equal to the rows through mixed pushes, re-pushes and acks") {
  HITL_PG_DATABASE(url);
  auto q = open_queue(url);
  std::vector<sdk::QueueItem> items;
  for (int i = 1; i <= 2500; ++i) items.push_back({i, i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c", 1, 0, 1000 + i});
  REQUIRE(q->push(items).ok());  // three statements of up to 1000 rows, every one with all domains
  check_counts_match_rows(url);
  CHECK(counts_and_rows(url)["a"].first == 833);
  // Again: 1000 unchanged, 1000 re-ranked, 500 new.
  for (int i = 1000; i < 2000; ++i) items[static_cast<std::size_t>(i)].priority = 5;
  for (int i = 2501; i <= 3000; ++i) items.push_back({i, "a", 1, 0, 1000 + i});
  REQUIRE(q->push(items).ok());
  check_counts_match_rows(url);
  CHECK(counts_and_rows(url)["a"].first == 833 + 500);
  for (int k = 0; k < 40; ++k) {  // claim and ack across the domains
    std::optional<sdk::Lease> lease;
    const std::string domain = k % 2 ? "a" : "c";
    REQUIRE(q->claim(domain, "alice", 2000, 60000, lease).ok());
    REQUIRE(lease);
    REQUIRE(q->ack(lease->task_id, "alice", 2000).ok());
  }
  // A push refused by the server (a non-finite priority is refused before; a domain of invalid
  // UTF-8 by the server) changes no count.
  CHECK(!q->push({{9001, "a", 1, 0, 1}, {9002, std::string("\xff\xfe", 2), 1, 0, 1}}).ok());
  check_counts_match_rows(url);
  const auto counts = counts_and_rows(url);
  CHECK(counts.at("a").first == 1333 - 20);
  CHECK(counts.at("b").first == 834);
  CHECK(counts.at("c").first == 833 - 20);
  sdk::QueueDepth d;
  REQUIRE(q->depth("", 2000, d).ok());
  CHECK(d.ready == 3000 - 40);
}

// A database the version 1 plugin filled (counted row by row) moves to version 2 with its
// counts, and counts on from there.
TEST_CASE("a version 1 queue database migrates to statement counts with its counts kept") {
  HITL_PG_DATABASE(url);
  {
    hitl::pg::Session s(url, 30000, 10);
    const std::vector<hitl::pg::Migration> v1(hitl::queue_postgres::sql::migrations().begin(),
                                              hitl::queue_postgres::sql::migrations().begin() + 1);
    int version = 0;
    REQUIRE(hitl::pg::migrate(s, "test", "queue", v1, 1, version).ok());
    REQUIRE(version == 1);
    pqxx::work tx(s.conn());
    tx.exec("INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
            "SELECT i, 'd' || (i % 2), 1, 0, 9223372036854775807, i FROM generate_series(1, 300) i");
    tx.commit();
  }
  check_counts_match_rows(url);
  auto q = open_queue(url);  // migrates to the latest version
  CHECK(counts_and_rows(url)["d0"].first == 150);
  std::vector<sdk::QueueItem> more;
  for (int i = 301; i <= 400; ++i) more.push_back({i, "d1", 1, 0, i});
  REQUIRE(q->push(more).ok());
  std::optional<sdk::Lease> lease;
  REQUIRE(q->claim("d0", "bob", 1000, 60000, lease).ok());
  REQUIRE(lease);
  REQUIRE(q->ack(lease->task_id, "bob", 1000).ok());
  check_counts_match_rows(url);
  CHECK(counts_and_rows(url)["d0"].first == 149);
  CHECK(counts_and_rows(url)["d1"].first == 250);
}

// A push of pg::kCopyFromRows (100) items or more tries COPY (new items: ingest's) and falls
// back to the upsert when an item is queued already: in the middle of the push (the COPY fails, the savepoint takes it
// back), or at its ends (the start-up re-queue: COPY not tried). Each way every item is queued
// once, a re-pushed one re-ranked, and the counts stay the rows'.
TEST_CASE("a large push with an item already queued, in the middle or at the ends, queues each item once") {
  HITL_PG_DATABASE(url);
  auto q = open_queue(url);
  REQUIRE(q->push({{150, "d", 1, 0, 1}}).ok());
  std::vector<sdk::QueueItem> items;
  for (int i = 101; i <= 300; ++i) items.push_back({i, "d", i == 150 ? 9.0 : 1.0, 0, 1000 + i});
  REQUIRE(q->push(items).ok());  // 150 is in the middle: the COPY conflicts, the upsert re-ranks it
  std::optional<sdk::Lease> lease;
  REQUIRE(q->claim("d", "alice", 5000, 60000, lease).ok());
  REQUIRE(lease);
  CHECK(lease->task_id == 150);  // re-ranked to 9 by the second push
  REQUIRE(q->push(items).ok());  // everything queued: the ends say so, straight to the upsert
  for (auto& it : items) it.priority = 2;
  items.push_back({301, "d", 1, 0, 1301});
  REQUIRE(q->push(items).ok());  // 301 is new but 101 is not: the upsert again
  check_counts_match_rows(url);
  sdk::QueueDepth d;
  REQUIRE(q->depth("d", 5000, d).ok());
  CHECK(d.ready + d.leased == 201);
  CHECK(d.leased == 1);  // 150's lease survived the re-pushes
}

TEST_CASE("a large push copies COPY's own bytes in a domain as they are, and refuses a NUL byte whole") {
  HITL_PG_DATABASE(url);
  auto q = open_queue(url);
  const std::string domain = "tab\tnew\nline\\N\\.\\";
  std::vector<sdk::QueueItem> items;
  for (int i = 1; i <= 100; ++i) items.push_back({i, domain, 1, 0, i});
  REQUIRE(q->push(items).ok());
  std::optional<sdk::Lease> lease;
  REQUIRE(q->claim(domain, "alice", 5000, 60000, lease).ok());
  REQUIRE(lease);
  CHECK(lease->task_id == 1);
  std::vector<sdk::QueueItem> bad;
  for (int i = 200; i < 300; ++i) bad.push_back({i, i == 250 ? std::string("a\0b", 3) : "e", 1, 0, i});
  const auto st = q->push(bad);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK_THAT(st.message, Catch::Contains("NUL"));
  sdk::QueueDepth d;
  REQUIRE(q->depth("e", 5000, d).ok());
  CHECK(d.ready == 0);  // nothing of the refused push
  check_counts_match_rows(url);
}

// A push below pg::kCopyFromRows (a group commit's tasks) is one INSERT ... ON CONFLICT outside
// a transaction: as atomic as the transaction it replaces, with the upsert's answers.
TEST_CASE("a small push is one statement: new items queued, a leased one re-ranked with its lease, a refused one whole") {
  HITL_PG_DATABASE(url);
  auto q = open_queue(url);
  REQUIRE(q->push({{5, "d", 1, 0, 1}}).ok());
  std::optional<sdk::Lease> lease;
  REQUIRE(q->claim("d", "alice", 5000, 60000, lease).ok());
  REQUIRE(lease);
  std::vector<sdk::QueueItem> items;
  for (int i = 1; i <= 10; ++i) items.push_back({i, "d", i == 5 ? 7.0 : 1.0, 0, 1000 + i});
  REQUIRE(q->push(items).ok());
  sdk::QueueDepth d;
  REQUIRE(q->depth("d", 5000, d).ok());
  CHECK(d.ready == 9);
  CHECK(d.leased == 1);  // 5 is re-ranked, still alice's
  CHECK(q->ack(5, "alice", 5000).ok());
  std::vector<sdk::QueueItem> bad;
  for (int i = 20; i < 30; ++i) bad.push_back({i, i == 25 ? std::string("\xff\xfe", 2) : "e", 1, 0, i});
  CHECK(!q->push(bad).ok());  // invalid UTF-8 in the middle: the server refuses the one statement
  REQUIRE(q->depth("e", 5000, d).ok());
  CHECK(d.ready == 0);
  check_counts_match_rows(url);
}

// Migration 3 sets queue_items's autovacuum to a fixed number of dead rows; docs/deploy.md
// quotes its statement.
TEST_CASE("queue_items is vacuumed after a fixed number of dead rows, as deploy.md says") {
  HITL_PG_DATABASE(url);
  auto q = open_queue(url);  // migrates
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  const auto options = tx.exec1("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'queue_items'")[0].as<std::string>();
  CHECK(options.find("autovacuum_vacuum_scale_factor=0") != std::string::npos);
  CHECK(options.find("autovacuum_vacuum_threshold=5000") != std::string::npos);
  std::ifstream doc(std::string(HITL_SOURCE_DIR) + "/docs/deploy.md");
  const std::string text((std::istreambuf_iterator<char>(doc)), std::istreambuf_iterator<char>());
  CHECK(text.find(hitl::queue_postgres::sql::kAutovacuum) != std::string::npos);
}
