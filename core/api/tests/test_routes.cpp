// The route table (api/routes.hpp) against the documents that describe it: docs/openapi.json
// (every operation both ways, with its roles and lane) and the route table of docs/http-api.md.
// A route the router serves is in the table, so a route missing from the documents fails here.
#include "api/routes.hpp"
#include "governance/auth.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace hitl::service;
using nlohmann::json;

namespace {

std::string read_file(const std::string& relative) {
  std::ifstream in(std::string(HITL_SOURCE_DIR) + "/" + relative);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string key(std::string_view method, std::string_view path) { return lower(method) + " " + std::string(path); }

std::set<std::string> table_keys() {
  std::set<std::string> out;
  for (const auto& r : route_table()) out.insert(key(r.method, r.pattern));
  return out;
}

std::vector<std::string_view> parts_of(std::string_view path) {
  std::vector<std::string_view> out;
  for (std::size_t i = 1; i <= path.size();) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("openapi: every route of the table is an operation of docs/openapi.json, with its roles and lane") {
  const json doc = json::parse(read_file("docs/openapi.json"));
  std::set<std::string> seen;
  for (const auto& r : route_table()) {
    INFO(r.method << " " << r.pattern);
    CHECK(seen.insert(key(r.method, r.pattern)).second);  // declared once
    REQUIRE(doc["paths"].contains(std::string(r.pattern)));
    const json& item = doc["paths"][std::string(r.pattern)];
    REQUIRE(item.contains(lower(r.method)));
    const json& op = item[lower(r.method)];
    CHECK(op.value("x-hitl-roles", json::array()) == json(access_roles(r.access)));
    CHECK(op.value("x-hitl-slow-lane", false) == (r.lane == Lane::slow));
  }
}

TEST_CASE("openapi: every operation of docs/openapi.json is a route of the table") {
  const json doc = json::parse(read_file("docs/openapi.json"));
  const auto table = table_keys();
  std::size_t operations = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method != "get" && method != "post" && method != "put" && method != "delete") continue;
      ++operations;
      INFO(method << " " << path);
      CHECK(table.count(method + " " + path));
    }
  }
  CHECK(operations == route_table().size());
}

TEST_CASE("openapi: the route table of docs/http-api.md lists exactly the table's routes") {
  // | GET | `/v1/...` |, | PUT (or POST) | `/v1/...?query` |; the UI's files (/ui/...) are not API routes.
  const std::regex row(R"(^\| (GET|POST|PUT|DELETE)( \(or (POST)\))? \| `([^`?]+))");
  std::set<std::string> documented;
  std::istringstream md(read_file("docs/http-api.md"));
  for (std::string line; std::getline(md, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row) || m[4].str().rfind("/ui/", 0) == 0) continue;
    documented.insert(key(m[1].str(), m[4].str()));
    if (m[3].matched) documented.insert(key(m[3].str(), m[4].str()));
  }
  CHECK(documented == table_keys());
}

TEST_CASE("routes: a request matches one route with its parameters, or names the methods of its path") {
  auto m = match_route("GET", parts_of("/v1/domains/loans/decisions/app-1/trace"));
  REQUIRE(m.route);
  CHECK(m.route->pattern == "/v1/domains/{domain}/decisions/{id}/trace");
  CHECK(m.params == std::vector<std::string_view>{"loans", "app-1"});

  m = match_route("PATCH", parts_of("/v1/admin/reviewers"));
  CHECK_FALSE(m.route);
  REQUIRE(m.same_path.size() == 2);  // GET and POST: 405, not 404

  m = match_route("GET", parts_of("/v1/domains/loans/decisions"));
  CHECK_FALSE(m.route);
  CHECK(m.same_path.empty());  // 404

  // A literal segment is never taken for a parameter, nor the other way round.
  m = match_route("POST", parts_of("/v1/admin/domains/loans/models/rollback"));
  REQUIRE(m.route);
  CHECK(m.route->pattern == "/v1/admin/domains/{domain}/models/rollback");
}

TEST_CASE("routes: access is checked by role, and token management needs an unscoped admin") {
  Principal admin{"ops", Role::admin, {}};
  Principal scoped{"loans-ops", Role::admin, {"loans"}};
  Principal reviewer{"alice", Role::reviewer, {}};
  Principal client{"app", Role::client, {}};
  CHECK(allows(Access::unscoped_admin, admin));
  CHECK_FALSE(allows(Access::unscoped_admin, scoped));
  CHECK(allows(Access::admin, scoped));
  CHECK(allows(Access::admin_reviewer, reviewer));
  CHECK_FALSE(allows(Access::admin_reviewer, client));
  CHECK(allows(Access::admin_client, client));
  CHECK_FALSE(allows(Access::admin, reviewer));
  CHECK(allows(Access::any_role, client));
  CHECK_THROWS_WITH(check_access(Access::unscoped_admin, scoped), "only an admin token without --domains may manage tokens");
  CHECK_THROWS_WITH(check_access(Access::admin, client), "role client may not use this route");
}
