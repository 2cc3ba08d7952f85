#pragma once
// The throw-away PostgreSQL server of the tests (tests/support/pg-test-server.sh, started once
// per ctest run by the fixture hitl_pg), and a fresh database on it per test.
//
// The fixture writes its state to <build>/pg-test/state (HITL_TEST_PG_STATE overrides the path);
// HITL_TEST_PG_URL (a libpq URL of a server whose user may CREATE DATABASE) overrides both, e.g.
// to run a test binary by hand. When none names a running server the test prints why and is
// reported SKIPPED (HITL_SKIP), never passed.
#include "support/skip.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <unistd.h>

namespace hitl::test::pg {

struct Server {
  std::string url;          // to the server's maintenance database
  std::string unavailable;  // why there is none ("" when there is)
};

inline Server server() {
  if (const char* url = std::getenv("HITL_TEST_PG_URL"); url && *url) return {url, ""};
  const char* given = std::getenv("HITL_TEST_PG_STATE");
  const std::string state = given && *given ? given : HITL_BINARY_DIR "/pg-test/state";
  std::ifstream in(state);
  if (!in) return {"", "no PostgreSQL test server: " + state + " is missing (the ctest fixture hitl_pg did not run)"};
  Server s;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("url=", 0) == 0) s.url = line.substr(4);
    if (line.rfind("unavailable=", 0) == 0) s.unavailable = line.substr(12);
  }
  if (s.url.empty() && s.unavailable.empty()) s.unavailable = state + " names no server";
  return s;
}

// `url` with its database replaced by `db` (the URLs here end in "/<database>").
inline std::string with_database(const std::string& url, const std::string& db) {
  return url.substr(0, url.rfind('/') + 1) + db;
}

// A new, empty database named after this process and `tag`; its URL. Dropped with the server.
inline std::string fresh_database(const Server& s, const std::string& tag = "") {
  static std::atomic<int> n{0};
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++n) + (tag.empty() ? "" : "_" + tag);
  pqxx::connection admin(s.url);
  pqxx::nontransaction tx(admin);
  tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name));
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return with_database(s.url, name);
}

// Whether a suite written for both backends runs on PostgreSQL (HITL_TEST_BACKEND=postgres:
// hitl_discover_postgres_tests in the top CMakeLists.txt registers it so) or on SQLite.
inline bool backend_is_postgres() {
  const char* b = std::getenv("HITL_TEST_BACKEND");
  return b && std::string(b) == "postgres";
}

// The database standing for a test's folder: fresh at the first call for `folder`, the same at
// later ones (a suite reopening "its file" reopens it). Without a server the case can do nothing:
// it says why and ends the process, which ctest reports skipped (SKIP_REGULAR_EXPRESSION).
inline std::string database_for_folder(const std::string& folder) {
  static std::map<std::string, std::string> urls;
  if (auto it = urls.find(folder); it != urls.end()) return it->second;
  const auto s = server();
  if (s.url.empty()) {
    std::cout << "HITL_SKIPPED: " << s.unavailable << std::endl;
    std::exit(0);
  }
  return urls.emplace(folder, fresh_database(s)).first->second;
}

}  // namespace hitl::test::pg

// In a TEST_CASE: `url` becomes a fresh database's URL, or the case reports itself skipped.
#define HITL_PG_DATABASE(url)                                                 \
  std::string url;                                                            \
  do {                                                                        \
    const auto hitl_pg_server_ = ::hitl::test::pg::server();                  \
    if (hitl_pg_server_.url.empty()) HITL_SKIP(hitl_pg_server_.unavailable);  \
    url = ::hitl::test::pg::fresh_database(hitl_pg_server_);                  \
  } while (0)
