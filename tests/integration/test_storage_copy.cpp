// `hitl storage copy`: an SQLite service's history copied into an empty database, SQLite
// (test-integration) or PostgreSQL (test-integration-postgres), record for record, with an audit
// chain that verifies and the tokens (hash, expiry, revocation, last use) that authenticate on the
// copy as on the source; a non-empty destination is refused.
#include "support.hpp"
#include "support/eventually.hpp"

#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Rows = std::vector<std::vector<std::string>>;

// The columns both schemas share, as text, in a fixed order: what "the same records" means here.
const std::vector<std::string> kSameRecords = {
    "SELECT domain, id, status, reason, task_id, label, final_label, final_outcome, final_ms, created_ms, input_json "
    "FROM decisions ORDER BY domain, id",
    "SELECT task_id, domain, decision_id, status, assignee, lease_expires_ms, created_ms, updated_ms "
    "FROM tasks ORDER BY task_id",
    "SELECT review_id, task_id, decision_id, reviewer, outcome, final_label, created_ms FROM reviews ORDER BY review_id",
    "SELECT domain, decision_id, final_label, outcome, reviewer, created_ms FROM feedback ORDER BY domain, decision_id, created_ms",
    "SELECT seq, ts_ms, actor, action, entity_id, prev_hash, hash FROM audit ORDER BY seq",
    "SELECT name, hash, created_ms FROM tokens ORDER BY name",
    "SELECT name, role, domains, created_ms, expires_ms, last_used_ms, revoked_ms FROM token_life ORDER BY name",
};

Rows sqlite_rows(const fs::path& db, const std::string& sql) {
  SQLite::Database raw(db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(raw, sql);
  Rows rows;
  while (q.executeStep()) {
    rows.emplace_back();
    for (int i = 0; i < q.getColumnCount(); ++i) rows.back().push_back(q.getColumn(i).getString());
  }
  return rows;
}

// The destination: a second SQLite file, or a fresh PostgreSQL database under the postgres run.
struct Destination {
  fs::path config;
  fs::path db;         // the SQLite file ("" on PostgreSQL)
  std::string pg_url;  // "" on SQLite
  std::string env() const { return pg_url.empty() ? "" : "HITL_PG_URL='" + pg_url + "'"; }
  Rows rows(const std::string& sql) const {
#if HITL_TEST_WITH_POSTGRES
    if (!pg_url.empty()) {
      pqxx::connection c(pg_url);
      pqxx::nontransaction tx(c);
      Rows rows;
      for (const auto& r : tx.exec(sql)) {
        rows.emplace_back();
        for (const auto& f : r) rows.back().emplace_back(f.c_str(), f.size());
      }
      return rows;
    }
#endif
    return sqlite_rows(db, sql);
  }
};

// The source's config with its storage and queue moved to the destination.
Destination destination_of(const Service& s) {
  std::ifstream in(s.config);
  std::stringstream text;
  text << in.rdbuf();
  std::string lua = text.str();
  Destination d;
  d.db = s.dir.path / "copy.db";
#if HITL_TEST_WITH_POSTGRES
  if (hitl::test::pg::backend_is_postgres()) {
    d.pg_url = hitl::test::pg::database_for_folder((s.dir.path / "copy").string());
    d.db.clear();
  }
#endif
  // Both lines of support.cpp's SQLite backend ("storage = ...", "queue   = ...").
  static const std::regex sqlite_line(R"re((storage|queue)( *)= \{ plugin = "sqlite", config = \{ path = "hitl.db" \} \})re");
  const std::string to = d.pg_url.empty() ? R"($1$2= { plugin = "sqlite", config = { path = "copy.db" } })"
                                          : R"($1$2= { plugin = "postgres", config = { url = env("HITL_PG_URL") } })";
  const std::string moved = std::regex_replace(lua, sqlite_line, to);
  REQUIRE(moved != lua);
  lua = moved;
  d.config = s.dir.write("copy.lua", lua);
  return d;
}

// The source is SQLite in both runs (the history to move); the destination follows the backend.
std::unique_ptr<Service> sqlite_source() {
  const char* backend = std::getenv("HITL_TEST_BACKEND");
  const std::string saved = backend ? backend : "";
  ::unsetenv("HITL_TEST_BACKEND");
  auto s = std::make_unique<Service>();
  if (!saved.empty()) ::setenv("HITL_TEST_BACKEND", saved.c_str(), 1);
  return s;
}

// A source with history: 300 predictions (auto-approved, rejected, pending review), 40 reviewed
// (some corrected), one claimed and left assigned.
void fill(Service& s) {
  HttpClient c(s.port());
  json batch = json::array();
  for (int i = 0; i < 300; ++i) {
    const double confidence = i % 3 == 0 ? 0.97 : 0.5;
    const double amount = i % 10 == 1 ? -5 : 100 + i;
    batch.push_back({{"id", "p-" + std::to_string(i)}, {"input", {{"amount", amount}, {"purpose", "car"}}},
                     {"prediction", {{"label", "good"}, {"confidence", confidence}}}});
  }
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump()).status == 200);
  for (int i = 0; i < 40; ++i) {
    auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
    const json answer = i % 4 == 0 ? json{{"outcome", "correct"}, {"correction", {{"label", "bad"}}}, {"comment", "too low"}} : json{{"outcome", "approve"}};
    REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(t["task_id"].get<long long>()) + "/outcome",
                      s.reviewer, answer.dump())
                .status == 200);
  }
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer2).status == 200);  // left assigned
}

// `hitl token create` with extra arguments, run with `env`; answers the token.
std::string create_token(const Service& s, const std::string& args, const std::string& env = "") {
  auto r = run_hitl("token create --config " + s.config.string() + " " + args, env);
  INFO(r.out);
  std::smatch m;
  static const std::regex token_re("hitl_[0-9a-f]{48}");
  REQUIRE(r.exit_code == 0);
  REQUIRE(std::regex_search(r.out, m, token_re));
  return m.str();
}

// Tokens in every state the copy must keep: one that expires in 30 days, one that expired an hour
// ago (created with the clock two hours back), and bob's, revoked.
struct MoreTokens {
  std::string later, expired;
};
MoreTokens add_tokens(const Service& s) {
  MoreTokens t;
  t.later = create_token(s, "--role client --name later --expires-in 30d");
  t.expired = create_token(s, "--role client --name expired --expires-in 60m", "HITL_CLOCK_OFFSET_MS=-7200000");
  REQUIRE(run_hitl("token revoke --config " + s.config.string() + " --name bob").exit_code == 0);
  return t;
}

// On the service of the copy: the source's tokens authenticate (a reviewer, a client, one that
// expires later), the revoked and the expired one are refused.
void check_tokens_on_copy(const Service& s, const MoreTokens& more) {
  HttpClient c(s.port());
  const json p = {{"id", "after-copy"}, {"input", {{"amount", 100}}}, {"prediction", {{"label", "good"}, {"confidence", 0.97}}}};
  CHECK(c.request("POST", "/v1/domains/loans/predictions", s.client, p.dump()).status == 200);
  CHECK(c.request("GET", "/v1/domains/loans/decisions/after-copy", more.later).status == 200);
  CHECK(c.request("GET", "/v1/domains/loans/decisions/after-copy", more.expired).status == 401);
  CHECK(c.request("GET", "/v1/review/next?domain=loans", s.reviewer2).status == 401);  // bob, revoked
}

}  // namespace

TEST_CASE("storage copy: every record of an SQLite database lands in an empty one, the chain verifies", "[copy]") {
  auto source = sqlite_source();
  Service& s = *source;
  s.start();
  fill(s);
  REQUIRE(run_hitl("reviewer add --config " + s.config.string() + " --id alice --roles reviewer,senior --skills cars")
              .exit_code == 0);
  s.stop();  // records the tokens' last use
  const MoreTokens more = add_tokens(s);
  const auto used = sqlite_rows(s.db, "SELECT count(*) FROM token_life WHERE last_used_ms > 0");
  REQUIRE(used.at(0).at(0) != "0");
  const auto revoked = sqlite_rows(s.db, "SELECT revoked_ms FROM token_life WHERE name = 'bob'");
  REQUIRE(revoked.at(0).at(0) != "0");
  const Destination d = destination_of(s);

  auto r = run_hitl("storage copy --from " + s.config.string() + " --to " + d.config.string() + " --page 64", d.env());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("copied 300 decisions") != std::string::npos);
  CHECK(r.out.find("audit records (0 rehashed), 7 tokens") != std::string::npos);
  CHECK(r.out.find("not copied") == std::string::npos);
  for (const auto& sql : kSameRecords) {
    INFO(sql);
    auto source = sqlite_rows(s.db, sql);
    auto copied = d.rows(sql);
    CHECK(!source.empty());
    if (sql.find("FROM audit") != std::string::npos) {
      // The copy adds one record of its own at the end of the trail.
      REQUIRE(copied.size() == source.size() + 1);
      copied.pop_back();
    }
    CHECK(copied == source);
  }
  auto last = d.rows("SELECT action, entity FROM audit ORDER BY seq DESC LIMIT 1");
  CHECK(last == Rows{{"storage.copied", "storage"}});

  auto verify = run_hitl("audit verify --config " + d.config.string(), d.env());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.find("audit chain ok") != std::string::npos);

  // The service on the copy serves a task that was pending in the source (it re-queues every
  // open task at start) to alice with her token of the source.
  const auto pending = sqlite_rows(s.db, "SELECT task_id FROM tasks WHERE status = 'pending' ORDER BY task_id");
  REQUIRE(!pending.empty());
  if (!d.pg_url.empty()) ::setenv("HITL_PG_URL", d.pg_url.c_str(), 1);
  s.config = d.config;
  const std::string alice = s.reviewer;
  s.start();
  check_tokens_on_copy(s, more);
  HttpClient c(s.port());
  hitl::test::HttpResponse next;
  // The requeue runs on its own thread at start: /v1/review/next may answer 204 until it has.
  REQUIRE(hitl::test::eventually(
      [&] { return (next = c.request("GET", "/v1/review/next?domain=loans", alice)).status == 200; },
      std::chrono::seconds(30), std::chrono::milliseconds(50)));
  CHECK(std::find(pending.begin(), pending.end(), std::vector<std::string>{std::to_string(next.json()["task_id"].get<long long>())}) != pending.end());
  s.stop();

  auto again = run_hitl("storage copy --from " + s.config.string() + " --to " + d.config.string(), d.env());
  CHECK(again.exit_code == 1);
  CHECK(again.out.find("the destination database is not empty") != std::string::npos);

  // docs/deploy.md shows this command and quotes this refusal.
  std::ifstream doc(std::string(HITL_SOURCE_DIR) + "/docs/deploy.md");
  std::stringstream deploy;
  deploy << doc.rdbuf();
  CHECK(deploy.str().find("hitl storage copy --from hitl.lua --to hitl-postgres.lua") != std::string::npos);
  CHECK(deploy.str().find("(`the destination database is not empty`)") != std::string::npos);
}

TEST_CASE("storage copy: a source whose task ids have a gap is refused, naming the first id that moved", "[copy]") {
  auto source = sqlite_source();
  Service& s = *source;
  s.start();
  auto post = [&](const std::string& id) {  // a prediction that opens a review task
    HttpClient c(s.port());
    const json p = {{"id", id}, {"input", {{"amount", 100}}}, {"prediction", {{"label", "good"}, {"confidence", 0.5}}}};
    REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, p.dump()).status == 200);
  };
  post("g-1");
  s.stop();
  {  // burn task ids 2..6, as refused duplicates do (AUTOINCREMENT never reuses them)
    SQLite::Database raw(s.db.string(), SQLite::OPEN_READWRITE);
    raw.exec("UPDATE sqlite_sequence SET seq = seq + 5 WHERE name = 'tasks'");
  }
  s.start();
  post("g-2");
  s.stop();
  const Destination d = destination_of(s);
  auto r = run_hitl("storage copy --from " + s.config.string() + " --to " + d.config.string(), d.env());
  INFO(r.out);
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("task 7 became 2 in the destination") != std::string::npos);
}
