// Tests of the queue-sqlite plugin, always through the real queue-sqlite.so loaded with
// Boost.DLL (as the host loads it), on real SQLite files in a temporary folder.
#include "support/backend.hpp"
#include <hitl/plugin_api.hpp>

#include "queue_sql.hpp"

#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>

#include <limits>

#include "queue_rules.hpp"
#include <nlohmann/json.hpp>
#include <SQLiteCpp/SQLiteCpp.h>

#include "support/temp_dir.hpp"
#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <sqlite3.h>
#include <variant>

namespace fs = std::filesystem;
using namespace hitl::sdk;

namespace {

// The suite runs on queue-sqlite, or with HITL_TEST_BACKEND=postgres (registered a second time
// so, as test-queue-postgres-suite) on queue-postgres and the throw-away PostgreSQL server; cases
// tagged [sqlite-only] read SQLite internals and are left out there.
using hitl::test::on_postgres;

const char* const kPluginPath =
    on_postgres() ? HITL_PLUGIN_DIR "/queue-postgres.so" : HITL_PLUGIN_DIR "/queue-sqlite.so";

// The library stays loaded until the process exits, after every queue it made is destroyed.
const PluginDescriptor& plugin() {
  static auto entry = boost::dll::import_alias<const PluginDescriptor*()>(
      boost::dll::fs::path(kPluginPath), HITL_PLUGIN_ENTRY_SYMBOL, boost::dll::load_mode::rtld_now);
  static const PluginDescriptor* d = entry();
  return *d;
}

// A fresh folder per test, removed afterwards; the queue's database in a subfolder (which
// checks that the plugin makes missing folders).
using hitl::test::TempDir;
// On PostgreSQL, a fresh database per folder.
std::string db_of(const TempDir& tmp) {
#if HITL_TEST_WITH_POSTGRES
  if (on_postgres()) return hitl::test::pg::database_for_folder(tmp.path.string());
#endif
  return (tmp.path / "sub" / "hitl.db").string();
}

Status create(const std::string& config_json, std::unique_ptr<Queue>& out) {
  return plugin().create_queue(config_json.c_str(), out);
}

std::unique_ptr<Queue> open_queue(const std::string& path) {
  std::unique_ptr<Queue> q;
  const Status st = create(nlohmann::json{{on_postgres() ? "url" : "path", path}}.dump(), q);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(q);
  return q;
}

QueueItem item(std::int64_t id, const std::string& domain, double priority = 0, std::int64_t deadline = 0,
               std::int64_t created = 1000) {
  return QueueItem{id, domain, priority, deadline, created};
}

// Claims everything in `domain`, acking each, and returns the task ids in claim order.
std::vector<std::int64_t> drain(Queue& q, const std::string& domain, std::int64_t now = 5000) {
  std::vector<std::int64_t> order;
  for (;;) {
    std::optional<Lease> lease;
    REQUIRE(q.claim(domain, "alice", now, 60000, lease).ok());
    if (!lease) return order;
    order.push_back(lease->task_id);
    REQUIRE(q.ack(lease->task_id, "alice", now).ok());
  }
}

std::optional<Lease> claim(Queue& q, const std::string& domain, const std::string& who, std::int64_t now,
                           std::int64_t lease_ms = 1000) {
  std::optional<Lease> lease;
  const Status st = q.claim(domain, who, now, lease_ms, lease);
  INFO(st.message);
  REQUIRE(st.ok());
  return lease;
}

QueueDepth depth(Queue& q, const std::string& domain, std::int64_t now) {
  QueueDepth d;
  REQUIRE(q.depth(domain, now, d).ok());
  return d;
}

}  // namespace

TEST_CASE("the .so exports a queue descriptor through Boost.DLL and creates a WAL database", "[sqlite-only]") {
  auto entry = boost::dll::import_alias<const PluginDescriptor*()>(boost::dll::fs::path(kPluginPath),
                                                                  "hitl_plugin_descriptor");
  const PluginDescriptor* d = entry();
  REQUIRE(d != nullptr);
  CHECK(d->abi_version == HITL_SDK_ABI_VERSION);
  CHECK(d->struct_size == sizeof(PluginDescriptor));
  CHECK(d->kind == PluginKind::queue);
  CHECK(std::string(d->name) == "sqlite");
  CHECK(d->create_queue != nullptr);
  CHECK(d->create_model == nullptr);
  CHECK(d->create_storage == nullptr);

  // config_doc is a JSON array documenting exactly the keys the factory accepts.
  const auto doc = nlohmann::json::parse(d->config_doc);
  REQUIRE(doc.is_array());
  std::set<std::string> names;
  for (const auto& opt : doc) {
    for (const char* field : {"name", "type", "default", "description"}) CHECK(opt.contains(field));
    names.insert(opt.at("name").get<std::string>());
  }
  CHECK(names == std::set<std::string>{"path", "busy_timeout_ms"});

  TempDir tmp;
  std::unique_ptr<Queue> q;
  const Status st = d->create_queue(nlohmann::json{{"path", db_of(tmp)}, {"busy_timeout_ms", 250}}.dump().c_str(), q);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(fs::exists(db_of(tmp)));
  q.reset();  // before `entry` (and with it maybe the library) goes away

  SQLite::Database db(db_of(tmp), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(db.execAndGet("SELECT MAX(version) FROM schema_migrations WHERE component = 'queue'").getInt() == 2);
}

TEST_CASE("claim order: priority, then earliest deadline (none last), then oldest, then smallest id") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  // Pushed scrambled; the expected claim order is by task id 1..8.
  REQUIRE(q->push({
                      item(8, "d", 1.0, 0, 100),     // low priority, no deadline
                      item(3, "d", 5.0, 0, 100),     // no deadline sorts after any deadline
                      item(2, "d", 5.0, 9000, 500),  // later deadline than 1
                      item(1, "d", 5.0, 2000, 900),  // earliest deadline wins despite being newest
                      item(5, "d", 5.0, 0, 300),     // same as 4 but newer
                      item(4, "d", 5.0, 0, 200),
                      item(7, "d", 5.0, 0, 300),     // ties with 5 on created: smaller id (5) first
                      item(6, "d", 5.0, 0, 300),
                      item(9, "d", -2.0, 1, 1),      // negative priority: last despite its deadline
                  })
              .ok());
  CHECK(drain(*q, "d") == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("claim order ranks priorities to two decimals: closer ones go by deadline, then age") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({
                      item(3, "d", 0.509, 9000, 100),  // ranks 0.51 like 1 and 2: latest deadline of the three
                      item(1, "d", 0.505, 2000, 300),  // 0.51: earliest deadline first, despite the lower priority
                      item(2, "d", 0.514, 2000, 400),  // 0.51, same deadline as 1, newer
                      item(4, "d", 0.504, 1, 1),       // ranks 0.50: after every 0.51, despite its deadline
                      item(5, "d", 0.52, 0, 900),      // 0.52, no deadline: first of all
                  })
              .ok());
  CHECK(drain(*q, "d") == std::vector<std::int64_t>{5, 1, 2, 3, 4});
}

TEST_CASE("priorities near the limits of a double are queued and ordered, not turned into infinities") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  const double huge = std::numeric_limits<double>::max();
  CHECK(hitl::queue_common::dispatch_rank(huge) == huge);  // the rank the plugins store
  CHECK(hitl::queue_common::dispatch_rank(-huge) == -huge);
  CHECK(hitl::queue_common::dispatch_rank(0.504) == Approx(0.5));
  REQUIRE(q->push({item(2, "d", -huge), item(1, "d", huge), item(3, "d", 0.5)}).ok());
  CHECK(drain(*q, "d") == std::vector<std::int64_t>{1, 3, 2});
}

TEST_CASE("push is idempotent per task_id and re-ranks an item pushed again") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "a", 1.0), item(2, "a", 2.0)}).ok());
  // Same ids again: still one item each, in its first domain; the new priority re-ranks it
  // (an escalation raising a task's priority pushes it again).
  REQUIRE(q->push({item(1, "b", 9.0), item(2, "a", 0.0), item(3, "a", 1.5)}).ok());
  CHECK(depth(*q, "a", 0).ready == 3);
  CHECK(depth(*q, "b", 0).ready == 0);
  CHECK(drain(*q, "a") == std::vector<std::int64_t>{1, 3, 2});

  // Pushing a task that is currently leased does not reset its lease.
  REQUIRE(q->push({item(10, "a")}).ok());
  auto lease = claim(*q, "a", "alice", 100);
  REQUIRE(lease);
  REQUIRE(q->push({item(10, "a")}).ok());
  CHECK(depth(*q, "a", 100).leased == 1);
  CHECK(q->ack(10, "alice", 100).ok());
}

TEST_CASE("claim on an empty queue or domain returns no lease") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  CHECK_FALSE(claim(*q, "d", "alice", 0));
  REQUIRE(q->push({item(1, "d")}).ok());
  CHECK(claim(*q, "d", "alice", 0));
  CHECK_FALSE(claim(*q, "d", "bob", 0));  // the only item is leased
}

TEST_CASE("domains are isolated") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "credit", 1.0), item(2, "claims", 9.0), item(3, "credit", 2.0)}).ok());
  CHECK(drain(*q, "credit") == std::vector<std::int64_t>{3, 1});
  CHECK(depth(*q, "claims", 0).ready == 1);
  CHECK(drain(*q, "claims") == std::vector<std::int64_t>{2});
  CHECK(drain(*q, "moderation").empty());
}

TEST_CASE("ack by the lease holder removes the task, others get conflict or not_found with a reason") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(7, "d"), item(8, "d"), item(9, "d")}).ok());

  SECTION("holder acks, also at exactly the expiry time") {
    auto lease = claim(*q, "d", "alice", 1000, 500);
    REQUIRE(lease);
    CHECK(lease->task_id == 7);
    CHECK(lease->reviewer == "alice");
    CHECK(lease->expires_ms == 1500);
    CHECK(q->ack(7, "alice", 1500).ok());
    const Status again = q->ack(7, "alice", 1500);
    CHECK(again.code == Code::not_found);
    CHECK(again.message == "task 7 is not in the queue");
    CHECK(depth(*q, "d", 1500).ready == 2);
  }
  SECTION("another reviewer is refused and the lease survives") {
    REQUIRE(claim(*q, "d", "bob", 1000));
    const Status st = q->ack(7, "alice", 1200);
    CHECK(st.code == Code::conflict);
    CHECK(st.message == "task 7 is leased by bob");
    CHECK(q->ack(7, "bob", 1200).ok());
  }
  SECTION("after the lease expired") {
    REQUIRE(claim(*q, "d", "alice", 1000, 500));
    const Status st = q->ack(7, "alice", 1501);
    CHECK(st.code == Code::conflict);
    CHECK_THAT(st.message, Catch::StartsWith("lease on task 7 expired"));
    CHECK(depth(*q, "d", 1501).ready == 3);  // the task is still there, ready again
  }
  SECTION("a task that is not leased") {
    const Status st = q->ack(7, "alice", 1000);
    CHECK(st.code == Code::conflict);
    CHECK(st.message == "task 7 is not leased");
  }
  SECTION("an unknown task") {
    const Status st = q->ack(12345, "alice", 1000);
    CHECK(st.code == Code::not_found);
    CHECK_THAT(st.message, Catch::Contains("12345"));
  }
}

TEST_CASE("release makes a task ready again, only for its holder") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "d", 5.0), item(2, "d", 1.0)}).ok());
  auto lease = claim(*q, "d", "alice", 1000);
  REQUIRE(lease);
  REQUIRE(lease->task_id == 1);

  Status st = q->release(1, "bob");
  CHECK(st.code == Code::conflict);
  CHECK(st.message == "task 1 is leased by alice");
  CHECK(q->release(1, "alice").ok());
  st = q->release(1, "alice");
  CHECK(st.code == Code::conflict);
  CHECK(st.message == "task 1 is not leased");
  CHECK(q->release(99, "alice").code == Code::not_found);

  // Released task 1 is again the best one, for anybody.
  auto next = claim(*q, "d", "bob", 1001);
  REQUIRE(next);
  CHECK(next->task_id == 1);
}

TEST_CASE("renew extends only its holder's live lease (queue 1.1)") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "d", 2.0), item(2, "d", 1.0)}).ok());
  REQUIRE(claim(*q, "d", "alice", 1000, 100)->task_id == 1);  // expires 1100
  std::int64_t expires = 0;
  REQUIRE(q->renew(1, "alice", 1050, 100, expires).ok());
  CHECK(expires == 1150);
  std::vector<std::int64_t> expired;
  REQUIRE(q->expire(1120, expired).ok());  // the old expiry has passed: the renewed lease holds
  CHECK(expired.empty());
  CHECK(q->ack(1, "alice", 1140).ok());

  REQUIRE(claim(*q, "d", "alice", 2000, 100)->task_id == 2);  // expires 2100
  Status st = q->renew(2, "bob", 2050, 100, expires);
  CHECK(st.code == Code::conflict);
  CHECK(st.message == "task 2 is leased by alice");
  st = q->renew(2, "alice", 2101, 100, expires);  // too late: it may be someone else's by now
  CHECK(st.code == Code::conflict);
  CHECK(st.message.find("expired") != std::string::npos);
  CHECK(q->renew(99, "alice", 2000, 100, expires).code == Code::not_found);
  CHECK(q->renew(2, "", 2000, 100, expires).code == Code::invalid_argument);
  CHECK(claim(*q, "d", "bob", 2101)->task_id == 2);  // the expired lease was not extended
}

TEST_CASE("expire lists expired leases, which can then be claimed again") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "d", 3.0), item(2, "d", 2.0), item(3, "d", 1.0), item(4, "e")}).ok());
  REQUIRE(claim(*q, "d", "alice", 1000, 100)->task_id == 1);  // expires 1100
  REQUIRE(claim(*q, "d", "bob", 1000, 500)->task_id == 2);    // expires 1500
  REQUIRE(claim(*q, "e", "carol", 1000, 50)->task_id == 4);   // expires 1050

  std::vector<std::int64_t> expired;
  REQUIRE(q->expire(1100, expired).ok());  // "before now": 1100 itself is still valid
  CHECK(expired == std::vector<std::int64_t>{4});
  REQUIRE(q->expire(1101, expired).ok());
  CHECK(expired == std::vector<std::int64_t>{1});
  REQUIRE(q->expire(1101, expired).ok());
  CHECK(expired.empty());

  CHECK(claim(*q, "d", "carol", 1101)->task_id == 1);
  CHECK(q->ack(1, "alice", 1101).code == Code::conflict);  // alice's lease is gone
  // An expired lease is ready even before expire() runs.
  CHECK(claim(*q, "d", "dave", 1600)->task_id == 2);
  CHECK(q->ack(2, "dave", 1600).ok());
}

TEST_CASE("depth counts ready and leased items per domain, expired leases as ready") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "a"), item(2, "a"), item(3, "a"), item(4, "b")}).ok());
  REQUIRE(claim(*q, "a", "alice", 1000, 100));
  REQUIRE(claim(*q, "a", "bob", 1000, 900));

  QueueDepth d = depth(*q, "a", 1050);
  CHECK(d.ready == 1);
  CHECK(d.leased == 2);
  d = depth(*q, "a", 1200);  // alice's lease expired
  CHECK(d.ready == 2);
  CHECK(d.leased == 1);
  d = depth(*q, "b", 1200);
  CHECK(d.ready == 1);
  CHECK(d.leased == 0);
  d = depth(*q, "", 1200);  // "" = all domains
  CHECK(d.ready == 3);
  CHECK(d.leased == 1);
  d = depth(*q, "nope", 1200);
  CHECK(d.ready == 0);
  CHECK(d.leased == 0);
}

TEST_CASE("items and leases persist across reopening the file", "[sqlite-only]") {
  TempDir tmp;
  {
    auto q = open_queue(db_of(tmp));
    REQUIRE(q->push({item(1, "d", 1.0), item(2, "d", 2.0), item(3, "d", 3.0)}).ok());
    REQUIRE(claim(*q, "d", "alice", 1000, 10000)->task_id == 3);
  }
  auto q = open_queue(db_of(tmp));
  CHECK(q->ack(3, "alice", 2000).ok());  // the lease survived
  CHECK(drain(*q, "d", 2000) == std::vector<std::int64_t>{2, 1});

  // Reopening does not re-apply migrations.
  SQLite::Database db(db_of(tmp), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM schema_migrations WHERE component = 'queue'").getInt() == 2);
}

TEST_CASE("shares the file with another schema_migrations user and refuses a newer queue schema", "[sqlite-only]") {
  TempDir tmp;
  fs::create_directories(fs::path(db_of(tmp)).parent_path());
  SQLite::Database other(db_of(tmp), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
  other.exec("PRAGMA journal_mode=WAL");
  // What storage-sqlite does: the same shared table, its own component and tables.
  other.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT NOT NULL, version INTEGER NOT NULL, "
      "applied_ms INTEGER NOT NULL, PRIMARY KEY(component, version))");
  other.exec("INSERT INTO schema_migrations VALUES ('storage', 1, 1), ('storage', 2, 2)");
  other.exec("CREATE TABLE tasks(task_id INTEGER PRIMARY KEY, status TEXT)");

  {
    auto q = open_queue(db_of(tmp));
    REQUIRE(q->push({item(1, "d")}).ok());
    // The other connection keeps writing its own tables while the queue works.
    other.exec("INSERT INTO tasks VALUES (1, 'pending')");
    REQUIRE(claim(*q, "d", "alice", 10));
    SQLite::Transaction tx(other);
    other.exec("UPDATE tasks SET status = 'assigned' WHERE task_id = 1");
    tx.commit();
    CHECK(q->ack(1, "alice", 10).ok());
  }
  CHECK(other.execAndGet("SELECT COUNT(*) FROM schema_migrations WHERE component = 'storage'").getInt() == 2);
  CHECK(other.execAndGet("SELECT MAX(version) FROM schema_migrations WHERE component = 'queue'").getInt() == 2);
  CHECK(other.execAndGet("SELECT status FROM tasks WHERE task_id = 1").getString() == "assigned");

  // A database written by a future queue-sqlite is refused, and left untouched.
  other.exec("INSERT INTO schema_migrations VALUES ('queue', 99, 3)");
  std::unique_ptr<Queue> q;
  const Status st = create(nlohmann::json{{"path", db_of(tmp)}}.dump(), q);
  CHECK(st.code == Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("version 99") && Catch::Contains("newer than this plugin supports (2)") &&
                             Catch::Contains(db_of(tmp)));
  CHECK_FALSE(q);
}

TEST_CASE("bad config and bad arguments are refused with a message naming what is wrong", "[sqlite-only]") {
  TempDir tmp;
  const std::string path = db_of(tmp);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{}", "'path' is required"},
      {"", "'path' is required"},
      {"[1,2]", "must be a JSON object, got array"},
      {"{\"path\": ", "not valid JSON"},
      {R"({"path": 5})", "'path' must be a string, got number"},
      {R"({"path": ""})", "'path' must not be empty"},
      {R"({"path": "x.db", "busy_timeout_ms": "fast"})", "'busy_timeout_ms' must be an integer, got string"},
      {R"({"path": "x.db", "busy_timeout_ms": 2.5})", "'busy_timeout_ms' must be an integer"},
      {R"({"path": "x.db", "busy_timeout_ms": -1})", "'busy_timeout_ms' must be between 0 and 2147483647"},
      {R"({"path": "x.db", "busy_timout_ms": 10})", "unknown key 'busy_timout_ms'"},
      {R"({"path": "/dev/null/sub/x.db"})", "cannot create folder /dev/null/sub"},
  };
  for (const auto& [config, expected] : cases) {
    INFO("config: " << config);
    std::unique_ptr<Queue> q;
    const Status st = create(config, q);
    CHECK(st.code == Code::invalid_argument);
    CHECK_THAT(st.message, Catch::Contains(expected));
    CHECK_FALSE(q);
  }
  {  // A float with an integral value is fine (Lua numbers may arrive as 5000.0).
    std::unique_ptr<Queue> q;
    CHECK(create(R"({"path": ")" + path + R"(", "busy_timeout_ms": 5000.0})", q).ok());
  }

  auto q = open_queue(path);
  std::optional<Lease> lease;
  CHECK_THAT(q->claim("d", "alice", 0, 0, lease).message, Catch::Contains("lease_ms must be positive"));
  CHECK_THAT(q->claim("", "alice", 0, 10, lease).message, Catch::Contains("domain must not be empty"));
  CHECK_THAT(q->claim("d", "", 0, 10, lease).message, Catch::Contains("reviewer must not be empty"));
  Status st = q->push({item(1, "d"), item(0, "d")});
  CHECK(st.code == Code::invalid_argument);
  CHECK_THAT(st.message, Catch::Contains("item 1 (task_id 0): task_id must be positive"));
  st = q->push({item(2, "d", std::nan(""))});
  CHECK_THAT(st.message, Catch::Contains("priority must be a finite number"));
  CHECK(depth(*q, "d", 0).ready == 0);  // a refused batch inserts nothing
}

TEST_CASE("8 threads claiming and acking 2000 items ack each exactly once") {
  TempDir tmp;
  // Two queue objects = two connections on one file, as with two host processes.
  auto q1 = open_queue(db_of(tmp));
  auto q2 = open_queue(db_of(tmp));
  constexpr int kItems = 2000;
  std::vector<QueueItem> items;
  for (int i = 1; i <= kItems; ++i) items.push_back(item(i, "d", i % 7, (i % 3) ? 0 : 100000 + i, i));
  REQUIRE(q1->push(items).ok());

  std::mutex mu;
  std::map<std::int64_t, int> acked;  // task id -> times acked
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Queue& q = (t % 2) ? *q1 : *q2;
      const std::string me = "reviewer-" + std::to_string(t);
      for (;;) {
        std::optional<Lease> lease;
        Status st = q.claim("d", me, 1000, 600000, lease);
        if (!st.ok()) {
          std::lock_guard lock(mu);
          errors.push_back("claim: " + st.message);
          return;
        }
        if (!lease) return;
        st = q.ack(lease->task_id, me, 1000);
        std::lock_guard lock(mu);
        if (!st.ok()) errors.push_back("ack: " + st.message);
        else ++acked[lease->task_id];
      }
    });
  }
  for (auto& th : threads) th.join();

  CHECK(errors.empty());
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(acked.size() == static_cast<std::size_t>(kItems));
  CHECK(std::all_of(acked.begin(), acked.end(), [](const auto& kv) { return kv.second == 1; }));
  const QueueDepth d = depth(*q1, "d", 1000);
  CHECK(d.ready == 0);
  CHECK(d.leased == 0);
}

// ---------------------------------------------------------------------------------------------
// Queue depth at backlog scale (issue 19): counts kept by triggers, no statement scanning the queue.

namespace {

// What the queue answers must be what a COUNT over the table says (read on another connection).
QueueDepth counted(SQLite::Database& db, const std::string& domain, std::int64_t now) {
  SQLite::Statement s(db,
                      "SELECT COALESCE(SUM(leased_by IS NULL OR lease_expires < ?2), 0), "
                      "COALESCE(SUM(leased_by IS NOT NULL AND lease_expires >= ?2), 0) FROM queue_items "
                      "WHERE ?1 = '' OR domain = ?1");
  s.bind(1, domain);
  s.bind(2, static_cast<std::int64_t>(now));
  s.executeStep();
  return QueueDepth{s.getColumn(0).getInt64(), s.getColumn(1).getInt64()};
}

// Fills the file straight through SQLite, as an old queue-sqlite would have left it: one
// prepared statement, one transaction. Items alternate over domains "a" and "b".
void bulk_fill(SQLite::Database& db, std::int64_t first, std::int64_t n) {
  SQLite::Transaction tx(db);
  SQLite::Statement ins(db,
                        "INSERT INTO queue_items(task_id, domain, priority, deadline_ms, due_ms, created_ms) "
                        "VALUES (?, ?, ?, 0, 9223372036854775807, ?)");
  for (std::int64_t id = first; id < first + n; ++id) {
    ins.reset();
    ins.bind(1, id);
    ins.bind(2, id % 2 ? "a" : "b");
    ins.bind(3, static_cast<double>(id % 10) / 10.0);
    ins.bind(4, id);
    ins.exec();
  }
  tx.commit();
}

std::vector<std::string> query_plan(SQLite::Database& db, const char* statement) {
  SQLite::Statement s(db, std::string("EXPLAIN QUERY PLAN ") + statement);
  std::vector<std::string> details;
  while (s.executeStep()) details.push_back(s.getColumn(3).getString());
  return details;
}

}  // namespace

TEST_CASE("a million items from a version 1 file: migration 2 seeds the counts, depth stays exact", "[sqlite-only]") {
  TempDir tmp;
  open_queue(db_of(tmp)).reset();  // creates the schema; then wind it back to version 1
  SQLite::Database db(db_of(tmp), SQLite::OPEN_READWRITE, 5000);
  db.exec("DROP TRIGGER queue_counts_insert; DROP TRIGGER queue_counts_delete; DROP TRIGGER queue_counts_move;"
          "DROP TABLE queue_counts; DELETE FROM schema_migrations WHERE component = 'queue' AND version = 2");
  constexpr std::int64_t kItems = 1'000'000;
  bulk_fill(db, 1, kItems);

  auto q = open_queue(db_of(tmp));
  CHECK(db.execAndGet("SELECT MAX(version) FROM schema_migrations WHERE component = 'queue'").getInt() == 2);
  QueueDepth d = depth(*q, "", 1000);
  CHECK(d.ready == kItems);
  CHECK(d.leased == 0);
  CHECK(depth(*q, "a", 1000).ready == kItems / 2);

  // New items, re-pushes (no new row), claims, acks, releases and expiry all keep it exact.
  REQUIRE(q->push({item(kItems + 1, "a"), item(kItems + 2, "c"), item(1, "a", 0.99), item(2, "b", 0.99)}).ok());
  for (int i = 0; i < 50; ++i) REQUIRE(claim(*q, i % 2 ? "a" : "b", "r" + std::to_string(i), 1000, 100 + i * 10));
  REQUIRE(claim(*q, "c", "carol", 1000, 5000));
  std::vector<std::int64_t> expired;
  REQUIRE(q->expire(1300, expired).ok());  // leases that ended before 1300
  CHECK_FALSE(expired.empty());
  std::optional<Lease> mine = claim(*q, "a", "alice", 2000, 60000);
  REQUIRE(mine);
  REQUIRE(q->ack(mine->task_id, "alice", 2000).ok());
  REQUIRE(q->ack(kItems + 2, "carol", 2000).ok());
  for (std::int64_t now : {1000, 1250, 1400, 2000, 9000}) {
    for (const char* dom : {"", "a", "b", "c"}) {
      INFO("domain '" << dom << "' at " << now);
      const QueueDepth want = counted(db, dom, now), got = depth(*q, dom, now);
      CHECK(got.ready == want.ready);
      CHECK(got.leased == want.leased);
    }
  }
}

TEST_CASE("no statement the queue runs per call scans queue_items, with a million items queued", "[sqlite-only]") {
  TempDir tmp;
  open_queue(db_of(tmp)).reset();
  SQLite::Database db(db_of(tmp), SQLite::OPEN_READWRITE, 5000);
  bulk_fill(db, 1, 1'000'000);
  // Statistics as a long-lived file might have them: the plan must not depend on their absence.
  db.exec("ANALYZE");
  for (const char* statement : hitl::queue_sqlite::sql::kAll) {
    INFO(statement);
    for (const auto& step : query_plan(db, statement)) {
      INFO(step);
      CHECK(step.find("SCAN queue_items") == std::string::npos);
    }
  }
  // A SEARCH can still walk a whole domain (the old per-domain COUNT did): count the virtual
  // machine steps each one takes with a hundred live leases among the million items.
  namespace sql = hitl::queue_sqlite::sql;
  db.exec("UPDATE queue_items SET leased_by = 'r', lease_expires = 5000 WHERE task_id % 10000 = 1");
  using Binds = std::vector<std::variant<std::int64_t, std::string>>;
  const std::pair<const char*, Binds> runs[] = {
      {sql::kItemsDomain, {std::string("a")}},
      {sql::kItemsAll, {}},
      {sql::kLeasedDomain, {std::string("a"), std::int64_t{1000}}},
      {sql::kLeasedAll, {std::int64_t{1000}}},
      {sql::kLookup, {std::int64_t{77}}},
      {sql::kClaim, {std::string("alice"), std::int64_t{9000}, std::string("a"), std::int64_t{1000}}},
      {sql::kExpire, {std::int64_t{6000}}},
  };
  for (const auto& [statement, binds] : runs) {
    INFO(statement);
    sqlite3_stmt* raw = nullptr;  // raw: SQLiteCpp keeps the statement handle private
    REQUIRE(sqlite3_prepare_v2(db.getHandle(), statement, -1, &raw, nullptr) == SQLITE_OK);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
    for (std::size_t i = 0; i < binds.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      if (auto* n = std::get_if<std::int64_t>(&binds[i])) sqlite3_bind_int64(raw, at, *n);
      else sqlite3_bind_text(raw, at, std::get<std::string>(binds[i]).c_str(), -1, SQLITE_TRANSIENT);
    }
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    }
    REQUIRE(rc == SQLITE_DONE);
    // Only the total walks a table: queue_counts, one row per domain (two here).
    CHECK(sqlite3_stmt_status(raw, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) <= 2);
    CHECK(sqlite3_stmt_status(raw, SQLITE_STMTSTATUS_VM_STEP, 0) < 20'000);
  }
}

TEST_CASE("pushing an item again unchanged writes nothing to the file, and a new rank does", "[sqlite-only]") {
  TempDir tmp;
  auto q = open_queue(db_of(tmp));
  REQUIRE(q->push({item(1, "d", 0.5, 9000), item(2, "d", 0.5)}).ok());
  SQLite::Database db(db_of(tmp), SQLite::OPEN_READONLY);
  // data_version moves when another connection commits a change to the file.
  auto version = [&] { return db.execAndGet("PRAGMA data_version").getInt64(); };
  const auto before = version();
  REQUIRE(q->push({item(1, "d", 0.5, 9000), item(2, "d", 0.5)}).ok());
  CHECK(version() == before);
  REQUIRE(q->push({item(1, "d", 0.9, 9000)}).ok());
  CHECK(version() != before);
  CHECK(drain(*q, "d") == std::vector<std::int64_t>{1, 2});
}
