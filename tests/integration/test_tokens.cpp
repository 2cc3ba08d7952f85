// The token life cycle against a real `hitl serve` (storage 1.1): expiry set through the API and
// the CLI and refused at once, revocation refused at once and shown in the list, last use shown
// at once by the service and written by its shutdown.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;

namespace {

json listed(HttpClient& c, const Service& s, const std::string& name) {
  auto r = c.request("GET", "/v1/admin/tokens", s.admin);
  REQUIRE(r.status == 200);
  const json body = r.json();  // held: the loop must not run over a destroyed temporary
  for (auto& t : body["tokens"])
    if (t["name"] == name) return t;
  FAIL("token " << name << " not listed: " << r.body);
  return {};
}

json cli_listed(const Service& s, const std::string& name) {
  auto r = run_hitl("token list --json --config " + s.config.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json body = json::parse(r.out);
  for (auto& t : body["tokens"])
    if (t["name"] == name) return t;
  FAIL("token " << name << " not listed by the CLI");
  return {};
}

}  // namespace

TEST_CASE("tokens: an expired token is refused at once, with the reason", "[tokens]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto made = c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"brief","role":"client","expires_in":"2s"})");
  INFO(made.body);
  REQUIRE(made.status == 201);
  const std::string secret = made.json()["token"];
  const std::int64_t expires = made.json()["expires_ms"];
  CHECK(c.request("GET", "/v1/me", secret).status == 200);  // cached from here on
  CHECK(listed(c, s, "brief")["state"] == "active");
  CHECK(listed(c, s, "brief")["expires_ms"] == expires);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  auto refused = c.request("GET", "/v1/me", secret);
  CHECK(refused.status == 401);
  CHECK(refused.json()["error"]["message"].get<std::string>().find("token \"brief\" expired at") == 0);
  CHECK(listed(c, s, "brief")["state"] == "expired");

  for (auto body : {R"({"name":"x","role":"client","expires_in":"soon"})", R"({"name":"x","role":"client","expires_in":"0d"})",
                    R"({"name":"x","role":"client","expires_in":"3651d"})", R"({"name":"x","role":"client","expires_at":"2001-01-01"})",
                    R"({"name":"x","role":"client","expires_in":"1d","expires_at":"2100-01-01"})"}) {
    auto r = c.request("POST", "/v1/admin/tokens", s.admin, body);
    INFO(body << " -> " << r.body);
    CHECK(r.status == 422);
  }
  auto at = c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"until","role":"client","expires_at":"2100-01-01"})");
  REQUIRE(at.status == 201);
  CHECK(at.json()["expires_ms"] == 4102444800000LL);
}

TEST_CASE("tokens: the CLI creates one with an expiry and lists it, and a revoked one is refused at once", "[tokens]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto r = run_hitl("token create --config " + s.config.string() + " --role reviewer --name cora --domains loans --expires-in 30d");
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const std::string secret = r.out.substr(0, r.out.find('\n'));
  const json cora = cli_listed(s, "cora");
  CHECK(cora["role"] == "reviewer");
  CHECK(cora["domains"] == json::array({"loans"}));
  CHECK(cora["state"] == "active");
  CHECK(cora["last_used_ms"].is_null());
  const std::int64_t lifetime = cora["expires_ms"].get<std::int64_t>() - cora["created_ms"].get<std::int64_t>();
  CHECK(std::abs(lifetime - 30LL * 86'400'000) < 1000);  // counted from the command's start
  CHECK(run_hitl("token create --config " + s.config.string() + " --role client --name x --expires-in 5w").exit_code != 0);

  CHECK(c.request("GET", "/v1/me", secret).status == 200);
  REQUIRE(c.request("POST", "/v1/admin/tokens/cora/revoke", s.admin, "").status == 200);
  CHECK(c.request("GET", "/v1/me", secret).status == 401);
  const json revoked = listed(c, s, "cora");
  CHECK(revoked["state"] == "revoked");
  CHECK(revoked["role"] == "reviewer");  // what it was, not the revocation's placeholder
  CHECK(revoked["revoked_ms"].is_number());
  CHECK(revoked["created_ms"] == cora["created_ms"]);
}

TEST_CASE("tokens: last use is shown at once and written once a minute or at shutdown, not per request", "[tokens]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string user = s.token("client", "busy");
  CHECK(cli_listed(s, "busy")["last_used_ms"].is_null());
  for (int i = 0; i < 5; ++i) CHECK(c.request("GET", "/v1/me", user).status == 200);
  const json shown = listed(c, s, "busy");
  REQUIRE(shown["last_used_ms"].is_number());
  CHECK(cli_listed(s, "busy")["last_used_ms"].is_null());  // not written per request
  s.stop();
  const json stored = cli_listed(s, "busy");
  REQUIRE(stored["last_used_ms"].is_number());
  CHECK(stored["last_used_ms"].get<std::int64_t>() >= shown["last_used_ms"].get<std::int64_t>() - 1000);
}

TEST_CASE("tokens: only an unscoped admin lists them, and the list holds no secret", "[tokens]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string scoped = s.token("admin", "loans-admin", "loans");
  CHECK(c.request("GET", "/v1/admin/tokens", scoped).status == 403);
  CHECK(c.request("GET", "/v1/admin/tokens", s.reviewer).status == 403);
  auto r = c.request("GET", "/v1/admin/tokens", s.admin);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("hitl_") == std::string::npos);
  CHECK(r.body.find("hash") == std::string::npos);
  const json body = r.json();
  for (auto& t : body["tokens"]) CHECK(t.size() == 8);
}
