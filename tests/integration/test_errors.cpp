// Bad input against a real `hitl serve`: a clear JSON error, nothing stored, the service stays up.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

using hitl::test::HttpClient;
using hitl::test::HttpResponse;
using hitl::test::Service;
using nlohmann::json;

namespace {

void check_error(const HttpResponse& r, int status, const std::string& code, const std::string& field = "") {
  INFO(r.body);
  CHECK(r.status == status);
  auto j = json::parse(r.body, nullptr, false);
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
  CHECK(j["error"]["message"].is_string());
  CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
  if (!field.empty()) CHECK(j["error"]["field"] == field);
}

long long decisions_stored(const Service& s) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  return db.execAndGet("SELECT count(*) FROM decisions").getInt64();
}

const std::string kGood = R"({"id":"g","input":{"amount":1},"prediction":{"label":"good","confidence":0.95}})";

}  // namespace

TEST_CASE("malformed JSON gets 400 and stores nothing", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  check_error(c.request("POST", "/v1/domains/loans/predictions", s.client, R"({"id": "x", "input": {)"), 400,
              "malformed_json");
  check_error(c.request("POST", "/v1/domains/loans/predictions", s.client, "not json at all"), 400, "malformed_json");
  std::string nd = kGood + "\n{broken\n";
  check_error(c.request("POST", "/v1/domains/loans/predictions", s.client, nd, "application/x-ndjson"), 400,
              "malformed_json", "line 2");
  check_error(c.request("POST", "/v1/review/tasks/1/outcome", s.reviewer, "{oops"), 400, "malformed_json");
  CHECK(decisions_stored(s) == 0);
  CHECK(c.request("POST", "/v1/domains/loans/predictions", s.client, kGood).status == 200);
}

TEST_CASE("wrong types and missing fields get 422 naming the field", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto post = [&](const std::string& body) { return c.request("POST", "/v1/domains/loans/predictions", s.client, body); };
  check_error(post(R"({"id":7,"input":{}})"), 422, "invalid_field", "id");
  check_error(post(R"({"input":{}})"), 422, "invalid_field", "id");
  check_error(post(R"({"id":"a/b","input":{}})"), 422, "invalid_field", "id");
  check_error(post(R"({"id":"a","input":[1,2]})"), 422, "invalid_field", "input");
  check_error(post(R"({"id":"a","input":{},"prediction":{"label":"good","confidence":"high"}})"), 422,
              "invalid_field", "prediction.confidence");
  check_error(post(R"({"id":"a","input":{},"prediction":{"label":"good","confidence":1.5}})"), 422,
              "invalid_field", "prediction.confidence");
  check_error(post(R"({"id":"a","input":{},"prediction":{"confidence":0.5}})"), 422, "invalid_field",
              "prediction.label");
  check_error(post(R"({"id":"a","input":{},"extra":1})"), 422, "invalid_field", "extra");
  check_error(post(R"([{"id":"ok","input":{}},{"id":"b","input":"x"}])"), 422, "invalid_field", "records[1].input");
  check_error(post("[]"), 422, "invalid_field");
  check_error(post("42"), 422, "invalid_field");
  // A domain without a model needs the client's prediction.
  check_error(post(R"({"id":"a","input":{"amount":1}})"), 422, "invalid_field", "prediction");
  // One bad record refuses the whole request: the good one in the same array is not stored.
  CHECK(decisions_stored(s) == 0);
}

TEST_CASE("an unknown domain gets 404, unknown routes 404, wrong methods 405", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  check_error(c.request("POST", "/v1/domains/nope/predictions", s.client, kGood), 404, "unknown_domain", "domain");
  check_error(c.request("GET", "/v1/domains/nope/decisions/x", s.admin), 404, "unknown_domain");
  check_error(c.request("GET", "/v1/domains/loans/decisions/missing", s.admin), 404, "not_found", "id");
  check_error(c.request("GET", "/v1/nothing", s.admin), 404, "not_found");
  check_error(c.request("GET", "/v1/domains/loans/predictions", s.client), 405, "method_not_allowed");
  check_error(c.request("POST", "/v1/review/tasks/999/outcome", s.reviewer, R"({"outcome":"approve"})"), 404,
              "not_found", "task_id");
  check_error(c.request("POST", "/v1/review/tasks/abc/outcome", s.reviewer, R"({"outcome":"approve"})"), 404,
              "not_found");
  check_error(c.request("GET", "/v1/review/next", s.reviewer), 422, "invalid_field", "domain");
  check_error(c.request("GET", "/v1/review/next?domain=nope", s.admin), 404, "unknown_domain");
}

TEST_CASE("an oversize body gets 413 and the service keeps serving", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  std::string huge = R"({"id":"big","input":{"blob":")" + std::string(2u << 20, 'x') + R"("}})";
  check_error(c.request("POST", "/v1/domains/loans/predictions", s.client, huge), 413, "payload_too_large");
  CHECK(decisions_stored(s) == 0);
  HttpClient fresh(s.port());
  CHECK(fresh.request("POST", "/v1/domains/loans/predictions", s.client, kGood).status == 200);
}

TEST_CASE("missing, unknown and under-privileged tokens get 401 or 403", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  check_error(c.request("POST", "/v1/domains/loans/predictions", "", kGood), 401, "unauthorized");
  check_error(c.request("POST", "/v1/domains/loans/predictions", "hitl_" + std::string(48, '0'), kGood), 401,
              "unauthorized");
  check_error(c.request("GET", "/metrics", ""), 401, "unauthorized");
  // Clients ingest only; reviewers review only their domains; metrics are for admins.
  check_error(c.request("GET", "/v1/review/next?domain=loans", s.client), 403, "forbidden");
  check_error(c.request("POST", "/v1/domains/loans/predictions", s.reviewer, kGood), 403, "forbidden");
  check_error(c.request("GET", "/v1/review/next?domain=loans", s.other_reviewer), 403, "forbidden");
  check_error(c.request("GET", "/metrics", s.reviewer), 403, "forbidden");
  CHECK(c.request("GET", "/metrics", s.admin).status == 200);
  CHECK(decisions_stored(s) == 0);
  // Tokens are stored hashed: the secret itself is nowhere in the database.
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT count(*) FROM tokens WHERE hash = ? OR name = ?");
  q.bind(1, s.client);
  q.bind(2, s.client);
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getInt() == 0);
}

TEST_CASE("review outcomes are validated against the domain's label set", "[errors]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto task_id = c.request("POST", "/v1/domains/loans/predictions", s.client,
                           R"({"id":"v","input":{"amount":1},"prediction":{"label":"good","confidence":0.5}})")
                     .json()["task_id"].get<long long>();
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);
  std::string url = "/v1/review/tasks/" + std::to_string(task_id) + "/outcome";
  check_error(c.request("POST", url, s.reviewer, R"({"outcome":"maybe"})"), 422, "invalid_field", "outcome");
  check_error(c.request("POST", url, s.reviewer, R"({"outcome":"correct"})"), 422, "invalid_field", "correction.label");
  check_error(c.request("POST", url, s.reviewer, R"({"outcome":"correct","correction":{"label":"ugly"}})"), 422,
              "invalid_field", "correction.label");
  check_error(c.request("POST", url, s.reviewer, R"({"outcome":"approve","comment":5})"), 422, "invalid_field", "comment");
  check_error(c.request("POST", url, s.other_reviewer, R"({"outcome":"approve"})"), 403, "forbidden");
  // After all that the task is still the reviewer's and can be completed.
  CHECK(c.request("POST", url, s.reviewer, R"({"outcome":"correct","correction":{"label":"bad"}})").status == 200);
}
