// The routes the web UI needs, against a real `hitl serve`: who a token is, lease renewal, the
// report series' parameters, token creation and revocation (API and CLI), and who may use them.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;

namespace {

void check_error(const hitl::test::HttpResponse& r, int status, const std::string& code) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.json()["error"]["code"] == code);
}

const std::string kFlagged = R"({"id":"%","input":{"amount":500},"prediction":{"label":"good","confidence":0.5}})";

std::string flagged(const std::string& id) {
  std::string s = kFlagged;
  s.replace(s.find('%'), 1, id);
  return s;
}

}  // namespace

TEST_CASE("GET /v1/me names the token, its role and its domains with their labels", "[ui]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto me = c.request("GET", "/v1/me", s.other_reviewer).json();
  CHECK(me["name"] == "carol");
  CHECK(me["role"] == "reviewer");
  REQUIRE(me["domains"].size() == 1);
  CHECK(me["domains"][0]["name"] == "credit_risk");
  CHECK(me["domains"][0]["labels"] == json::array({"good", "bad"}));
  CHECK(me["domains"][0]["policy_hash"].get<std::string>().size() == 64);
  CHECK(c.request("GET", "/v1/me", s.admin).json()["domains"].size() > 1);
  check_error(c.request("GET", "/v1/me", "hitl_nope"), 401, "unauthorized");
  check_error(c.request("POST", "/v1/me", s.admin, "{}"), 405, "method_not_allowed");
  auto figures = c.request("GET", "/v1/me/figures", s.reviewer);
  CHECK(figures.status == 200);
  CHECK(figures.json()["domains"]["loans"]["reviewed_today"] == 0);
  check_error(c.request("GET", "/v1/me/figures", s.client), 403, "forbidden");
}

TEST_CASE("the lease holder renews the lease, nobody else, and never a lost one", "[ui]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, flagged("r-1")).status == 200);
  auto claim = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
  const auto task = std::to_string(claim["task_id"].get<long long>());
  const long long first = claim["lease_expires_ms"];
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto renewed = c.request("POST", "/v1/review/tasks/" + task + "/renew", s.reviewer, "");
  REQUIRE(renewed.status == 200);
  CHECK(renewed.json()["lease_expires_ms"].get<long long>() > first);
  auto listed = c.request("GET", "/v1/review/tasks?domain=loans&status=assigned", s.reviewer).json();
  CHECK(listed["tasks"][0]["lease_expires_ms"] == renewed.json()["lease_expires_ms"]);
  check_error(c.request("POST", "/v1/review/tasks/" + task + "/renew", s.reviewer2, ""), 409, "lease_not_held");
  check_error(c.request("POST", "/v1/review/tasks/" + task + "/renew", s.client, ""), 403, "forbidden");
  check_error(c.request("POST", "/v1/review/tasks/999/renew", s.reviewer, ""), 404, "not_found");
  check_error(c.request("GET", "/v1/review/tasks/" + task + "/renew", s.reviewer), 405, "method_not_allowed");
  // The review still counts its work time from the claim, and the renewal is in the trail.
  REQUIRE(c.request("POST", "/v1/review/tasks/" + task + "/outcome", s.reviewer, R"({"outcome":"approve"})").status == 200);
  auto trace = c.request("GET", "/v1/domains/loans/decisions/r-1/trace", s.admin).json();
  CHECK(trace["reviews"][0]["started_ms"].get<long long>() <= first - 60000 + 5);
  bool audited = false;
  for (auto& a : trace["audit"]) audited = audited || a["action"] == "task.lease_renewed";
  CHECK(audited);
  check_error(c.request("POST", "/v1/review/tasks/" + task + "/renew", s.reviewer, ""), 409, "illegal_transition");
}

TEST_CASE("report series: parameters are checked and the steps add up to the report", "[ui]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, flagged("s-" + std::to_string(i))).status == 200);
  auto series = c.request("GET", "/v1/domains/loans/report/series", s.admin);
  REQUIRE(series.status == 200);
  auto j = series.json();
  CHECK(j["buckets"].size() == 48);  // the last day in 30-minute steps by default
  CHECK(j["bucket_ms"] == 1800000);
  long long predictions = 0;
  for (auto& b : j["buckets"]) predictions += b["predictions"].get<long long>();
  CHECK(predictions == 3);
  CHECK(j["buckets"].back()["queue_depth"]["low"] == 3);  // priority 500/100000
  CHECK(j["events"].is_array());
  check_error(c.request("GET", "/v1/domains/loans/report/series?bucket=30s", s.admin), 422, "invalid_field");
  check_error(c.request("GET", "/v1/domains/loans/report/series?bucket=1m&from=2020-01-01", s.admin), 422, "invalid_field");
  check_error(c.request("GET", "/v1/domains/loans/report/series?from=2024-02-01&to=2024-01-01", s.admin), 422, "invalid_field");
  check_error(c.request("GET", "/v1/domains/loans/report/series?bucket=soon", s.admin), 422, "invalid_field");
  check_error(c.request("GET", "/v1/domains/loans/report/series", s.reviewer), 403, "forbidden");
  check_error(c.request("GET", "/v1/domains/nope/report/series", s.admin), 404, "unknown_domain");
}

TEST_CASE("tokens: an unscoped admin creates and revokes them through the API, the CLI revokes too", "[ui]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto made = c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"dora","role":"reviewer","domains":["loans"]})");
  REQUIRE(made.status == 201);
  const std::string secret = made.json()["token"];
  CHECK(c.request("GET", "/v1/me", secret).json()["name"] == "dora");
  REQUIRE(c.request("POST", "/v1/admin/tokens/dora/revoke", s.admin, "").status == 200);
  check_error(c.request("GET", "/v1/me", secret), 401, "unauthorized");  // at once, despite the cache

  check_error(c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"x","role":"owner"})"), 422, "invalid_field");
  check_error(c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"a/b","role":"client"})"), 422, "invalid_field");
  check_error(c.request("POST", "/v1/admin/tokens", s.admin, R"({"name":"x","role":"client","domains":["nope"]})"), 422,
              "invalid_field");
  const std::string scoped = s.token("admin", "loans-admin", "loans");
  check_error(c.request("POST", "/v1/admin/tokens", scoped, R"({"name":"x","role":"admin"})"), 403, "forbidden");
  check_error(c.request("POST", "/v1/admin/tokens", s.reviewer, R"({"name":"x","role":"admin"})"), 403, "forbidden");

  const std::string eve = s.token("client", "eve");
  CHECK(c.request("GET", "/v1/me", eve).status == 200);
  auto r = run_hitl("token revoke --config " + s.config.string() + " --name eve");
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  int status = 200;
  for (int i = 0; i < 70 && status == 200; ++i) {  // the service's cache holds a token 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = c.request("GET", "/v1/me", eve).status;
  }
  CHECK(status == 401);
}
