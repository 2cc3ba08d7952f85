// `hitl migrate` on the service's backend: SQLite (test-integration) or PostgreSQL
// (test-integration-postgres). On an empty database, run by three at once (as three machines'
// upgrade scripts might), it applies every migration of the storage and queue plugins once and
// prints the storage's schema version; run again it changes nothing; a database a newer hitl
// migrated is refused with exit status 1.
#include "support/backend.hpp"
#include "support.hpp"

#if HITL_TEST_WITH_POSTGRES
#include "support/postgres.hpp"
#endif

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <array>
#include <fstream>
#include <sstream>
#include <thread>

using hitl::test::run_hitl;
using hitl::test::Service;
namespace fs = std::filesystem;

namespace {

using hitl::test::on_postgres;

// Runs statements that write (sql_rows reads a SQLite file read-only).
void exec_sql(const Service& s, const std::string& sql) {
  if (on_postgres()) {
    s.sql_rows(sql);
    return;
  }
  SQLite::Database raw(s.db.string(), SQLite::OPEN_READWRITE);
  raw.exec(sql);
}

// The service's database as new: no table at all.
void empty_database(Service& s) {
  if (on_postgres()) {
    exec_sql(s, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    return;
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(s.db.string() + suffix);
}

std::string one(const Service& s, const std::string& sql) { return s.sql_rows(sql).at(0).at(0); }

}  // namespace

TEST_CASE("migrate: an empty database gets every migration once, a second run changes nothing, a newer one is refused",
          "[migrate]") {
  Service s;
  empty_database(s);
  const std::string plugin = on_postgres() ? "postgres" : "sqlite";
  const std::string cmd = "migrate --config " + s.config.string();

  std::array<hitl::test::RunResult, 3> runs;
  {
    std::vector<std::jthread> at_once;
    for (auto& run : runs) at_once.emplace_back([&run, &cmd] { run = run_hitl(cmd); });
  }
  const auto& r = runs[0];
  INFO(r.out);
  for (const auto& run : runs) {
    CHECK(run.exit_code == 0);
    CHECK(run.out == r.out);
  }
  REQUIRE(r.exit_code == 0);
  const std::string version = one(s, "SELECT MAX(version) FROM schema_migrations WHERE component = 'storage'");
  CHECK(std::stoi(version) >= 4);
  CHECK(r.out.find("storage " + plugin + ": schema version " + version + "\n") != std::string::npos);
  CHECK(r.out.find("queue " + plugin + ": migrated") != std::string::npos);
  CHECK(one(s, "SELECT COUNT(*) FROM schema_migrations WHERE component = 'queue'") != "0");
  const std::string applied = one(s, "SELECT COUNT(*) FROM schema_migrations");

  auto again = run_hitl(cmd);
  CHECK(again.exit_code == 0);
  CHECK(again.out == r.out);
  CHECK(one(s, "SELECT COUNT(*) FROM schema_migrations") == applied);

  // The service starts on the migrated database and a token made there works (tables in place).
  const std::string admin = s.token("admin", "ops");
  s.start();
  hitl::test::HttpClient c(s.port());
  CHECK(c.request("GET", "/v1/admin/tokens", admin).status == 200);
  s.stop();

  exec_sql(s, "INSERT INTO schema_migrations(component, version, applied_ms) VALUES('storage', 9999, 0)");
  auto newer = run_hitl(cmd);
  INFO(newer.out);
  CHECK(newer.exit_code == 1);
  CHECK(newer.out.find("hitl migrate: ") != std::string::npos);
  CHECK(newer.out.find("written by a newer hitl") != std::string::npos);

  // docs/deploy.md's upgrade shows this command.
  std::ifstream doc(std::string(HITL_SOURCE_DIR) + "/docs/deploy.md");
  std::stringstream deploy;
  deploy << doc.rdbuf();
  CHECK(deploy.str().find("hitl migrate --config /srv/hitl/hitl.lua") != std::string::npos);
}
