// Hostile bodies, ids and query values for every write route: each gets a clear 4xx, nothing is
// stored or audited for it, and the service keeps answering.
#include "adversarial.hpp"

#include <string>
#include <thread>
#include <vector>

using hitl::test::check_error;
using hitl::test::check_healthy;
using hitl::test::count_rows;
using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;

namespace {

// {"m":{"a":{"a":...1...}}} with `levels` objects inside meta: the body's depth is levels + 2.
std::string nested_meta(int levels) {
  std::string open, close;
  for (int i = 0; i < levels; ++i) {
    open += R"({"a":)";
    close += "}";
  }
  return R"({"id":"deep","input":{},"prediction":{"label":"good","confidence":0.5},"meta":{"m":)" + open + "1" + close +
         "}}";
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kPred = R"("prediction":{"label":"good","confidence":0.5})";

std::string record(const std::string& id_json, const std::string& extra = kPred) {
  return R"({"id":)" + id_json + R"(,"input":{"amount":1},)" + extra + "}";
}

}  // namespace

TEST_CASE("deeply nested JSON is refused with 422 too_deep on every route, and nothing crashes", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string url = "/v1/domains/loans/predictions";
  // The issue's repro: 60,000 levels inside meta (~300 KB), under every size limit.
  check_error(c.request("POST", url, s.client, nested_meta(60000)), 422, "too_deep");
  const std::string deep_input = R"({"id":"x","input":{"a":)" + repeat("[", 60000) + repeat("]", 60000) + "}}";
  check_error(c.request("POST", url, s.client, deep_input), 422, "too_deep");
  check_error(c.request("POST", url, s.client, repeat("[", 100000)), 422, "too_deep");
  check_error(c.request("POST", url, s.client, record(R"("ok")") + "\n" + nested_meta(60000), "application/x-ndjson"),
              422, "too_deep");
  // The limit is exact: max_json_depth (64) levels are accepted, one more is refused.
  CHECK(c.request("POST", url, s.client, nested_meta(62)).status == 200);
  check_error(c.request("POST", url, s.client, nested_meta(63)), 422, "too_deep");
  const std::string deep_obj = repeat(R"({"a":)", 60000) + "1" + repeat("}", 60000);
  check_error(c.request("POST", "/v1/review/tasks/1/outcome", s.reviewer, deep_obj), 422, "too_deep");
  check_error(c.request("POST", "/v1/review/tasks/1/release", s.reviewer, deep_obj), 422, "too_deep");
  check_error(c.request("PUT", "/v1/domains/loans/decisions/deep/truth", s.client, deep_obj), 422, "too_deep");
  check_error(c.request("POST", "/v1/admin/reviewers", s.admin, deep_obj), 422, "too_deep");
  check_error(c.request("POST", "/v1/admin/domains/loans/retrain", s.admin, deep_obj), 422, "too_deep");
  check_healthy(s);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 1);
  hitl::test::check_audit_matches_decisions(s);
}

TEST_CASE("hitl ingest skips a deeply nested line and keeps going", "[adversarial]") {
  Service s;
  const auto file = s.dir.write("deep.jsonl", record(R"("a")") + "\n" + nested_meta(60000) + "\n" + record(R"("b")") + "\n");
  auto r = run_hitl("ingest --config " + s.config.string() + " --domain loans " + file.string());
  INFO(r.out.substr(0, 2000));
  CHECK(r.exit_code == 1);  // one invalid line: not a crash (a signal would not give 1)
  CHECK(r.out.find("deep.jsonl:2: skipped") != std::string::npos);
  CHECK(r.out.find("2 auto_approved") == std::string::npos);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 2);
}

TEST_CASE("bodies with NUL bytes, invalid UTF-8 or trailing bytes get 400", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string url = "/v1/domains/loans/predictions";
  check_error(c.request("POST", url, s.client, record(R"("n1")") + std::string(1, '\0') + "garbage"), 400,
              "malformed_json");
  check_error(c.request("POST", url, s.client, record(R"("n2")") + std::string(1, '\0')), 400, "malformed_json");
  check_error(c.request("POST", url, s.client, record("\"bad\xff\xfe\"")), 400, "malformed_json");
  check_error(c.request("POST", url, s.client, record("\"over\xc0\xaf\"")), 400, "malformed_json");
  check_error(c.request("POST", url, s.client, record(R"("t")") + " trailing"), 400, "malformed_json");
  check_error(c.request("POST", "/v1/review/tasks/1/outcome", s.reviewer, std::string(R"({"outcome":"approve"})") + '\0' + "x"),
              400, "malformed_json");
  check_healthy(s);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 0);
}

TEST_CASE("ids are 1..256 characters of UTF-8 without control characters", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string url = "/v1/domains/loans/predictions";
  std::string u256, u257;
  for (int i = 0; i < 256; ++i) u256 += "\xc3\xbc";  // 256 characters, 512 bytes
  u257 = u256 + "\xc3\xbc";
  CHECK(c.request("POST", url, s.client, record("\"" + u256 + "\"")).status == 200);
  check_error(c.request("POST", url, s.client, record("\"" + u257 + "\"")), 422, "invalid_field");
  check_error(c.request("POST", url, s.client, record(R"("a\u0000b")")), 422, "invalid_field");
  check_error(c.request("POST", url, s.client, record(R"("line\nbreak")")), 422, "invalid_field");
  check_error(c.request("POST", url, s.client, record(R"("")")), 422, "invalid_field");
  check_healthy(s);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 1);
}

TEST_CASE("a client's prediction uses the domain's labels and known fields only", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string url = "/v1/domains/loans/predictions";
  auto post = [&](const std::string& pred) { return c.request("POST", url, s.client, record(R"("p")", pred)); };
  check_error(post(R"("prediction":{"label":"<script>alert(1)</script>","confidence":0.5})"), 422, "invalid_field");
  check_error(post(R"("prediction":{"label":"GOOD","confidence":0.5})"), 422, "invalid_field");
  check_error(post(R"("prediction":{"label":"good","confidence":0.5,"extra":1})"), 422, "invalid_field");
  check_error(post(R"("prediction":{"label":"good","confidence":0.5,"scores":{"ugly":0.5}})"), 422, "invalid_field");
  check_error(post(R"("prediction":{"label":"good","confidence":0.5,"scores":{"good":7}})"), 422, "invalid_field");
  check_error(post(R"("prediction":{"label":"good","confidence":1e400})"), 400, "malformed_json");  // out of range
  auto ok = post(R"("prediction":{"label":"good","confidence":0.5,"scores":{"good":0.5,"bad":0.5}})");
  CHECK(ok.status == 200);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 1);
}

TEST_CASE("review, truth and reviewer routes refuse unknown fields, control characters and huge names", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto created = c.request("POST", "/v1/domains/loans/predictions", s.client, record(R"("r1")"));
  REQUIRE(created.status == 200);
  const auto task = std::to_string(created.json()["task_id"].get<long long>());
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);
  const std::string outcome = "/v1/review/tasks/" + task + "/outcome";
  check_error(c.request("POST", outcome, s.reviewer, R"({"outcome":"correct","correction":{"label":"bad","why":1}})"),
              422, "invalid_field");
  check_error(c.request("POST", outcome, s.reviewer, R"({"outcome":"approve","comment":"a\u0000b"})"), 422,
              "invalid_field");
  check_error(c.request("POST", "/v1/review/tasks/" + task + "/release", s.reviewer, R"({"reason":"x\u0007"})"), 422,
              "invalid_field");
  check_error(c.request("PUT", "/v1/domains/loans/decisions/r1/truth", s.client, R"({"label":"good","x":1})"), 422,
              "invalid_field");
  check_error(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"eve\u0000admin"})"), 422, "invalid_field");
  check_error(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":")" + std::string(129, 'e') + R"("})"), 422,
              "invalid_field");
  check_error(c.request("POST", "/v1/admin/reviewers", s.admin,
                        R"({"id":"eve","name":")" + std::string(900000, 'n') + R"("})"),
              422, "invalid_field");
  check_error(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"eve","skills":["ok","b\u0001d"]})"), 422,
              "invalid_field");
  check_error(c.request("GET", "/v1/review/tasks?domain=loans&min_priority=nan", s.admin), 422, "invalid_field");
  check_error(c.request("GET", "/v1/review/tasks?domain=loans&min_priority=inf", s.admin), 422, "invalid_field");
  CHECK(count_rows(s, "SELECT count(*) FROM reviewers") == 0);
  // The comment multi-line rule: newlines are fine in free text.
  auto done = c.request("POST", outcome, s.reviewer, R"({"outcome":"approve","comment":"line one\nline two"})");
  CHECK(done.status == 200);
  check_healthy(s);
}

TEST_CASE("a scoped token cannot tell from the gold route whether a domain exists", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string scoped = s.token("reviewer", "scoped", "loans");
  auto missing = c.request("POST", "/v1/domains/no_such_domain/decisions/x/gold", scoped, "{}");
  auto other = c.request("POST", "/v1/domains/governed/decisions/x/gold", scoped, "{}");
  check_error(missing, 403, "forbidden");
  check_error(other, 403, "forbidden");
}

TEST_CASE("the same id twice in one request or in concurrent requests is audited once", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string url = "/v1/domains/loans/predictions";
  auto twice = c.request("POST", url, s.client, "[" + record(R"("same")") + "," + record(R"("same")") + "]");
  REQUIRE(twice.status == 200);
  CHECK(twice.json()["results"][1]["duplicate"] == true);
  // Concurrent first submissions of the same ids from several connections.
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      HttpClient mine(s.port());
      for (int i = 0; i < 25; ++i) mine.request("POST", url, s.client, record("\"race-" + std::to_string(i) + "\""));
    });
  for (auto& th : threads) th.join();
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 26);
  CHECK(count_rows(s, "SELECT count(*) FROM audit WHERE action = 'decision.created'") == 26);
  hitl::test::check_audit_matches_decisions(s);
  s.stop();
  auto verify = run_hitl("audit verify --config " + s.config.string());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("a model label outside the domain's labels fails closed to review", "[adversarial]") {
  Service s(R"(mislabel = { policy = "loans.lua", model = "const", labels = { "good", "bad" } },)",
            R"(const = { plugin = "fixture-good" },)");  // always predicts "yes"
  s.start();
  HttpClient c(s.port());
  auto r = c.request("POST", "/v1/domains/mislabel/predictions", s.client, R"({"id":"m1","input":{"amount":5}})");
  REQUIRE(r.status == 200);
  CHECK(r.json()["status"] == "pending_review");
  CHECK(r.json()["reason"] == "model_error");
  CHECK(s.log().find("label outside the domain's labels") != std::string::npos);
}

TEST_CASE("every write route answers every generic hostile body with a 4xx, never a 5xx", "[adversarial]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto created = c.request("POST", "/v1/domains/loans/predictions", s.client, record(R"("w1")"));
  REQUIRE(created.status == 200);
  const auto task = std::to_string(created.json()["task_id"].get<long long>());
  struct Route {
    std::string method, target, token;
  };
  const std::vector<Route> routes = {
      {"POST", "/v1/domains/loans/predictions", s.client},
      {"PUT", "/v1/domains/loans/decisions/w1/truth", s.client},
      {"POST", "/v1/review/tasks/" + task + "/outcome", s.reviewer},
      {"POST", "/v1/review/tasks/" + task + "/release", s.reviewer},
      {"POST", "/v1/review/tasks/" + task + "/send-back", s.admin},
      {"POST", "/v1/review/tasks/" + task + "/cancel", s.admin},
      {"POST", "/v1/review/tasks/" + task + "/assign", s.admin},
      {"POST", "/v1/review/tasks/" + task + "/reassign", s.admin},
      {"POST", "/v1/admin/reviewers", s.admin},
      {"POST", "/v1/domains/loans/decisions/w1/gold", s.admin},
      {"POST", "/v1/admin/domains/loans/retrain", s.admin},
  };
  // Bodies no route accepts: each must be refused as malformed (400) or invalid (422).
  const std::vector<std::string> hostile = {
      "{", "[[[[", std::string("{}\0x", 4), "{\"reason\":\"\xff\"}", nested_meta(5000), repeat("[", 70) + repeat("]", 70),
      "{\"a\":1} {\"b\":2}", "\"just a string\"", "12e99999", "[" + repeat("1,", 1000) + "1]"};
  for (const auto& route : routes) {
    for (const auto& body : hostile) {
      auto r = c.request(route.method, route.target, route.token, body);
      INFO(route.method << " " << route.target << " body " << json(body.substr(0, 40)).dump(-1, ' ', true, json::error_handler_t::replace) << " -> " << r.status
                        << " " << r.body.substr(0, 200));
      CHECK((r.status == 400 || r.status == 422));
    }
  }
  check_healthy(s);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 1);
  CHECK(count_rows(s, "SELECT count(*) FROM reviews") == 0);
  CHECK(count_rows(s, "SELECT count(*) FROM reviewers") == 0);
}

TEST_CASE("hitl ingest of a CSV skips rows with invalid UTF-8 or bad ids and stores the rest", "[adversarial]") {
  Service s(R"(csvd = { policy = "loans.lua", model = "const", labels = { "yes", "no" } },)",
            R"(const = { plugin = "fixture-good" },)");
  const auto file = s.dir.write("rows.csv", "id,amount,name\nok-1,5,ann\n\"bad\x01id\",6,bo\nok-2,7,\"\xff\xfe\"\nok-3,8,cy\n");
  auto r = run_hitl("ingest --config " + s.config.string() + " --domain csvd " + file.string());
  INFO(r.out.substr(0, 2000));
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("row 2: skipped") != std::string::npos);
  CHECK(r.out.find("row 3: skipped") != std::string::npos);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions") == 2);
  CHECK(count_rows(s, "SELECT count(*) FROM decisions WHERE id IN ('ok-1', 'ok-3')") == 2);
}
