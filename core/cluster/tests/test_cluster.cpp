// Instances sharing one database (cluster/cluster.hpp), on the tests' PostgreSQL server: one
// leader among several, the lead moving when its holder goes, events reaching the other
// instances and never the sender; and the events' payloads, whatever arrives on the channel.
#include "cluster/cluster.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/eventually.hpp"
#include "support/postgres.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

using hitl::cluster::Event;
using hitl::cluster::EventKind;

namespace {

std::unique_ptr<hitl::cluster::Cluster> instance(const std::string& url) {
  return hitl::cluster::open("postgres", nlohmann::json{{"url", url}}.dump());
}

// Conditions here hold within a second when all is well; the limit only bounds a failure.
bool within(const std::function<bool()>& cond) { return hitl::test::eventually(cond, std::chrono::seconds(10)); }

int leaders(const std::vector<std::unique_ptr<hitl::cluster::Cluster>>& all) {
  int n = 0;
  for (auto& c : all) n += c->leader() ? 1 : 0;
  return n;
}

struct Heard {
  std::mutex mu;
  std::vector<Event> events;
  std::function<void(const Event&)> sink() {
    return [this](const Event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    };
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return events.size();
  }
  std::size_t count(const std::string& id) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.id == id; }));
  }
};

}  // namespace

TEST_CASE("cluster: an instance whose storage is not postgres is alone and always leads", "[cluster]") {
  auto c = hitl::cluster::open("sqlite", R"({"path":"x.db"})");
  CHECK_FALSE(c->shared());
  CHECK(c->leader());
  CHECK_FALSE(c->refresh());
  CHECK(c->leader());
}

TEST_CASE("cluster: a postgres config without a url is refused naming the key", "[cluster]") {
  CHECK_THROWS_WITH(hitl::cluster::open("postgres", "{}"), Catch::Contains("url"));
}

TEST_CASE("cluster: events survive encoding, and anything else on the channel is no event", "[cluster]") {
  const Event truth{EventKind::ground_truth, "credit", "id \"7\"\n\xc3\xa9", true};
  const auto r = hitl::cluster::decode(hitl::cluster::encode(truth, "abc"));
  REQUIRE(r);
  CHECK(r->from == "abc");
  CHECK(r->event.kind == EventKind::ground_truth);
  CHECK(r->event.domain == truth.domain);
  CHECK(r->event.id == truth.id);
  CHECK(r->event.first);
  const auto asked = hitl::cluster::decode(hitl::cluster::encode({EventKind::retrain_requested, "", "", false}, "abc"));
  REQUIRE(asked);
  CHECK(asked->event.kind == EventKind::retrain_requested);
  for (const char* bad : {"", "x", "[]", "{}", R"({"from":"a","kind":"drop_tables"})",
                          R"({"from":"a","kind":"final_outcome","domain":"d"})",
                          R"({"from":"a","kind":"final_outcome","domain":"","id":"1"})",
                          R"({"from":1,"kind":"model_promoted"})",
                          R"({"from":"a","kind":"ground_truth","domain":"d","id":"1"})"})
    CHECK_FALSE(hitl::cluster::decode(bad));
}

TEST_CASE("cluster: one leader among three, and the lead moves to a survivor when its holder goes", "[cluster]") {
  HITL_PG_DATABASE(url);
  std::vector<std::unique_ptr<hitl::cluster::Cluster>> all;
  for (int i = 0; i < 3; ++i) all.push_back(instance(url));
  CHECK(leaders(all) == 0);  // nobody leads before asking
  for (int round = 0; round < 3; ++round)
    for (auto& c : all) c->refresh();
  REQUIRE(leaders(all) == 1);
  std::size_t first = 0;
  while (!all[first]->leader()) ++first;
  all[first]->stop();  // its connection closes: the server releases the lock
  CHECK_FALSE(all[first]->leader());
  all.erase(all.begin() + static_cast<std::ptrdiff_t>(first));
  // The server ends the closed session a moment later; the next refreshes find the lock free.
  CHECK(within([&] {
    for (auto& c : all) c->refresh();
    return leaders(all) == 1;
  }));
  for (auto& c : all) CHECK_FALSE((c->leader() && c->refresh()));  // a leader keeps the lead
  CHECK(leaders(all) == 1);
}

TEST_CASE("cluster: a lead taken by a connection that dies is released by the server", "[cluster]") {
  HITL_PG_DATABASE(url);
  auto a = instance(url), b = instance(url);
  REQUIRE(a->refresh());
  REQUIRE(a->leader());
  b->refresh();
  REQUIRE_FALSE(b->leader());
  // As a kill -9 would: the server ends a's backends (a never says goodbye).
  {
    pqxx::connection admin(url);
    pqxx::nontransaction tx(admin);
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
  }
  CHECK(within([&] { b->refresh(); return b->leader(); }));
  CHECK(a->refresh());  // a finds its connection gone and gives the lead up
  CHECK_FALSE(a->leader());
}

TEST_CASE("cluster: an event reaches every other instance and not its sender", "[cluster]") {
  HITL_PG_DATABASE(url);
  auto a = instance(url), b = instance(url), c = instance(url);
  Heard heard_a, heard_b, heard_c;
  a->listen(heard_a.sink());
  b->listen(heard_b.sink());
  c->listen(heard_c.sink());
  // LISTEN takes effect once each listener's connection is up: a sends until both hear one
  // (more of these may still arrive later: they are told apart by kind).
  REQUIRE(within([&] {
    a->publish({EventKind::model_promoted, "", "", false});
    return heard_b.size() > 0 && heard_c.size() > 0;
  }));
  a->publish({EventKind::final_outcome, "credit", "d-42", false});
  REQUIRE(within([&] { return heard_b.count("d-42") == 1 && heard_c.count("d-42") == 1; }));
  // A payload the channel's other users might send is ignored, not delivered; the marker c
  // sends after it reaches a and b, never c.
  {
    pqxx::connection other(url);
    pqxx::nontransaction tx(other);
    tx.exec("SELECT pg_notify('hitl_events', '{\"kind\":\"final_outcome\"}')");
  }
  c->publish({EventKind::ground_truth, "credit", "marker", true});
  REQUIRE(within([&] { return heard_b.count("marker") == 1 && heard_a.count("marker") == 1; }));
  {
    std::lock_guard lock(heard_b.mu);
    for (const Event& e : heard_b.events) {
      INFO("kind " << static_cast<int>(e.kind) << " id " << e.id);
      CHECK((e.kind == EventKind::model_promoted || e.id == "d-42" || e.id == "marker"));
      if (e.id == "d-42") CHECK((e.kind == EventKind::final_outcome && e.domain == "credit"));
      if (e.id == "marker") CHECK((e.kind == EventKind::ground_truth && e.first));
    }
  }
  CHECK(heard_a.size() == 1);  // c's marker only: none of its own
  CHECK(heard_c.count("marker") == 0);
  a->stop();
  b->stop();
  c->stop();
}

TEST_CASE("cluster: a burst of events arrives whole and in order, identical ones included", "[cluster]") {
  HITL_PG_DATABASE(url);
  auto a = instance(url), b = instance(url);
  Heard heard;
  b->listen(heard.sink());
  REQUIRE(within([&] {
    a->publish({EventKind::model_promoted, "", "", false});
    return heard.size() > 0;
  }));
  // Published faster than one round trip each (one statement carries many), and each event twice:
  // PostgreSQL would fold two identical payloads sent in one transaction into one notification.
  constexpr int kEvents = 3000;
  for (int i = 0; i < kEvents; ++i)
    for (int copy = 0; copy < 2; ++copy) a->publish({EventKind::final_outcome, "credit", "e-" + std::to_string(i), false});
  a->publish({EventKind::ground_truth, "credit", "last", true});
  REQUIRE(within([&] { return heard.count("last") == 1; }));
  std::vector<std::string> ids;
  {
    std::lock_guard lock(heard.mu);
    for (const Event& e : heard.events)
      if (e.kind == EventKind::final_outcome) ids.push_back(e.id);
  }
  REQUIRE(ids.size() == 2 * kEvents);
  for (int i = 0; i < kEvents; ++i) {
    INFO("event " << i);
    CHECK(ids[2 * i] == "e-" + std::to_string(i));
    CHECK(ids[2 * i + 1] == "e-" + std::to_string(i));
  }
  // What was published before stop() is sent before it returns.
  a->publish({EventKind::ground_truth, "credit", "at-stop", true});
  a->stop();
  CHECK(within([&] { return heard.count("at-stop") == 1; }));
  b->stop();
}

TEST_CASE("cluster: an instance starting alone knows it, and one starting beside a running one does not", "[cluster]") {
  HITL_PG_DATABASE(url);
  auto a = instance(url), b = instance(url), c = instance(url);
  REQUIRE(a->alone_at_start());
  CHECK_FALSE(b->alone_at_start());  // a holds the presence lock exclusively until it has joined
  a->joined();
  CHECK_FALSE(b->alone_at_start());  // a runs
  b->joined();
  a->stop();
  CHECK_FALSE(c->alone_at_start());  // b still runs
  b->stop();
  CHECK(within([&] { return c->alone_at_start(); }));  // the server ends b's session a moment later
}

// Cluster::lock: what two instances must not do at once. A holder on one instance keeps the other
// instance waiting until it lets go; another name is free meanwhile; a holder whose connection
// the server ends (its instance killed) gives the lock up with it.
TEST_CASE("cluster: a named lock holds every other instance off until its holder lets go", "[cluster]") {
  HITL_PG_DATABASE(url);
  auto a = instance(url), b = instance(url);
  auto held = a->lock("registry/loans");
  std::atomic<bool> taken{false};
  std::thread waiter([&] {
    auto mine = b->lock("registry/loans");
    taken = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(taken);
  CHECK(b->lock("registry/fraud"));  // another name is another lock
  held.reset();
  CHECK(within([&] { return taken.load(); }));
  waiter.join();
  // Held, then its connection ended by the server: the lock goes with it.
  held = a->lock("retrain-jobs/");
  {
    pqxx::connection admin(url);
    pqxx::nontransaction tx(admin);
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())");
  }
  CHECK(b->lock("retrain-jobs/"));
  held.reset();  // its unlock fails on the dead connection: logged, the connection dropped
  CHECK(a->lock("retrain-jobs/"));  // a takes it again on a fresh connection
}

TEST_CASE("cluster: alone, a named lock is a mutex of the process", "[cluster]") {
  auto c = hitl::cluster::open("sqlite", R"({"path":"x.db"})");
  auto held = c->lock("registry/loans");
  std::atomic<bool> taken{false};
  std::thread waiter([&] {
    auto mine = c->lock("registry/loans");
    taken = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(taken);
  CHECK(c->lock("registry/fraud"));
  held.reset();
  waiter.join();
  CHECK(taken);
  held = c->lock("registry/loans");
  c.reset();
  held.reset();  // a hold may outlive its cluster
}
