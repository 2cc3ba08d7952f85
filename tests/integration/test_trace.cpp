// GET /v1/domains/{d}/decisions/{id}/trace against a real `hitl serve`: the provenance of a
// decision (model, policy, task, reviews, final outcome, its audit records) and its access rules.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <regex>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;

namespace {

json prediction(const std::string& id, double amount, const std::string& label, double confidence) {
  return {{"id", id}, {"input", {{"amount", amount}}}, {"prediction", {{"label", label}, {"confidence", confidence}}}};
}

std::vector<std::string> actions(const json& trace) {
  std::vector<std::string> out;
  for (auto& a : trace["audit"]) out.push_back(a["action"]);
  return out;
}

bool is_hex64(const json& v) {
  static const std::regex hex("[0-9a-f]{64}");
  return v.is_string() && std::regex_match(v.get<std::string>(), hex);
}

// Each traced audit record is exactly the stored row (same seq, hashes and detail), and where two
// traced records are consecutive in the trail, the later one's prev_hash is the earlier's hash.
void check_audit_matches_storage(const Service& s, const json& trace) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT actor, action, entity, entity_id, detail_json, prev_hash, hash FROM audit WHERE seq = ?");
  const json* prev = nullptr;
  for (auto& a : trace["audit"]) {
    INFO(a.dump());
    CHECK(is_hex64(a["hash"]));
    CHECK(is_hex64(a["prev_hash"]));
    q.reset();
    q.bind(1, a["seq"].get<std::int64_t>());
    REQUIRE(q.executeStep());
    CHECK(a["actor"] == q.getColumn(0).getString());
    CHECK(a["action"] == q.getColumn(1).getString());
    CHECK(a["entity"] == q.getColumn(2).getString());
    CHECK(a["entity_id"] == q.getColumn(3).getString());
    CHECK(a["detail"] == json::parse(q.getColumn(4).getString()));
    CHECK(a["prev_hash"] == q.getColumn(5).getString());
    CHECK(a["hash"] == q.getColumn(6).getString());
    if (prev) {
      CHECK(a["seq"].get<long long>() > (*prev)["seq"].get<long long>());
      if (a["seq"].get<long long>() == (*prev)["seq"].get<long long>() + 1) CHECK(a["prev_hash"] == (*prev)["hash"]);
    }
    prev = &a;
  }
}

}  // namespace

TEST_CASE("trace of an auto-approved decision: one decision.created record and no task", "[trace]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("a-1", 500, "good", 0.97).dump()).status == 200);

  auto r = c.request("GET", "/v1/domains/loans/decisions/a-1/trace", s.client);
  REQUIRE(r.status == 200);
  auto t = r.json();
  CHECK(t["decision"] == c.request("GET", "/v1/domains/loans/decisions/a-1", s.client).json());
  CHECK(t["model"]["version"] == "");
  CHECK(t["model"]["scored_by_model"] == false);
  CHECK(is_hex64(t["policy"]["hash"]));  // sha256 of the policy file
  CHECK(t["policy"]["hash"] == t["decision"]["policy_hash"]);
  CHECK(t["task"].is_null());
  CHECK(t["reviews"] == json::array());
  CHECK(t["final"].is_null());
  REQUIRE(t["audit"].size() == 1);
  auto& a = t["audit"][0];
  CHECK(a["action"] == "decision.created");
  CHECK(a["entity"] == "decision");
  CHECK(a["entity_id"] == "a-1");
  CHECK(a["actor"] == "app");
  CHECK(a["detail"]["status"] == "auto_approved");
  CHECK(a["detail"]["review_task"] == false);
  CHECK(a["ts_ms"].get<long long>() == t["decision"]["created_ms"].get<long long>());
  check_audit_matches_storage(s, t);
}

TEST_CASE("trace of a model-scored decision names the model version", "[trace]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json input = {{"Seniority", 9}, {"Home", "rent"}, {"Time", 60}, {"Age", 30}, {"Marital", "married"},
                {"Records", "no_rec"}, {"Job", "freelance"}, {"Expenses", 73}, {"Income", 129},
                {"Assets", 0}, {"Debt", 0}, {"Amount", 800}, {"Price", 846}};
  REQUIRE(c.request("POST", "/v1/domains/credit_risk/predictions", s.client, json{{"id", "c-1"}, {"input", input}}.dump()).status == 200);
  auto t = c.request("GET", "/v1/domains/credit_risk/decisions/c-1/trace", s.client).json();
  CHECK(t["model"]["scored_by_model"] == true);
  CHECK(t["model"]["version"].get<std::string>().rfind("logreg-", 0) == 0);
  CHECK(t["model"]["version"] == t["decision"]["model_version"]);
  REQUIRE(t["audit"].size() >= 1);
  CHECK(t["audit"][0]["detail"]["model_version"] == t["model"]["version"]);
}

TEST_CASE("trace of a reviewed decision: created, claimed, reviewed in order, hashes chained", "[trace]") {
  Service s;
  s.start();
  HttpClient client(s.port()), alice(s.port());
  auto r = client.request("POST", "/v1/domains/loans/predictions", s.client, prediction("u-1", 40000, "good", 0.62).dump());
  REQUIRE(r.status == 200);
  const auto task_id = r.json()["task_id"].get<long long>();

  // Before review: the task is open and nothing is final.
  auto before = client.request("GET", "/v1/domains/loans/decisions/u-1/trace", s.client).json();
  REQUIRE(before["task"].is_object());
  CHECK(before["task"]["task_id"] == task_id);
  CHECK(before["task"]["status"] == "pending");
  CHECK(before["task"]["reason"] == "low_confidence");
  CHECK(before["task"]["priority"].get<double>() == Approx(0.4));
  CHECK(before["reviews"] == json::array());
  CHECK(before["final"].is_null());
  CHECK(actions(before) == std::vector<std::string>{"decision.created"});

  REQUIRE(alice.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);
  auto out = alice.request("POST", "/v1/review/tasks/" + std::to_string(task_id) + "/outcome", s.reviewer,
                           R"({"outcome":"correct","correction":{"label":"bad"},"comment":"income too low"})");
  REQUIRE(out.status == 200);

  // A reviewer in the domain may read the trace too.
  auto resp = alice.request("GET", "/v1/domains/loans/decisions/u-1/trace", s.reviewer);
  REQUIRE(resp.status == 200);
  auto t = resp.json();
  CHECK(t["decision"]["final_label"] == "bad");
  CHECK(t["task"]["status"] == "completed");
  CHECK(t["task"]["assignee"] == "alice");
  CHECK(t["task"]["updated_ms"].get<long long>() >= t["task"]["created_ms"].get<long long>());
  REQUIRE(t["reviews"].size() == 1);
  CHECK(t["reviews"][0]["reviewer"] == "alice");
  CHECK(t["reviews"][0]["outcome"] == "correct");
  CHECK(t["reviews"][0]["final_label"] == "bad");
  CHECK(t["reviews"][0]["comment"] == "income too low");
  REQUIRE(t["final"].is_object());
  CHECK(t["final"]["label"] == "bad");
  CHECK(t["final"]["outcome"] == "correct");
  CHECK(t["final"]["reviewed_ms"] == t["reviews"][0]["created_ms"]);

  REQUIRE(actions(t) == std::vector<std::string>{"decision.created", "task.claimed", "review.submitted"});
  auto& audit = t["audit"];
  CHECK(audit[0]["entity"] == "decision");
  CHECK(audit[0]["entity_id"] == "u-1");
  for (int i : {1, 2}) {
    CHECK(audit[i]["entity"] == "task");
    CHECK(audit[i]["entity_id"] == std::to_string(task_id));
    CHECK(audit[i]["actor"] == "alice");
  }
  CHECK(audit[1]["detail"]["decision_id"] == "u-1");
  CHECK(audit[2]["detail"]["outcome"] == "correct");
  CHECK(audit[2]["detail"]["model_label"] == "good");
  // Nothing else happened in between (only token creations came before), so the three records
  // are consecutive in the trail and chain onto each other and onto the record before them.
  const auto seq0 = audit[0]["seq"].get<std::int64_t>();
  CHECK(audit[1]["seq"] == seq0 + 1);
  CHECK(audit[2]["seq"] == seq0 + 2);
  CHECK(audit[1]["prev_hash"] == audit[0]["hash"]);
  CHECK(audit[2]["prev_hash"] == audit[1]["hash"]);
  if (seq0 == 1) {
    CHECK(audit[0]["prev_hash"] == std::string(64, '0'));  // the genesis hash
  } else {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT hash FROM audit WHERE seq = ?");
    q.bind(1, seq0 - 1);
    REQUIRE(q.executeStep());
    CHECK(audit[0]["prev_hash"] == q.getColumn(0).getString());
  }
  check_audit_matches_storage(s, t);
}

TEST_CASE("trace of a decision whose policy failed shows the policy error", "[trace]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json rec = {{"id", "x-1"}, {"input", {{"v", 1}}}, {"prediction", {{"label", "yes"}, {"confidence", 0.999}}}};
  REQUIRE(c.request("POST", "/v1/domains/broken/predictions", s.client, rec.dump()).status == 200);
  // A reviewer may take this open task: their trace is blind (no audit records, no reviews).
  auto blind = c.request("GET", "/v1/domains/broken/decisions/x-1/trace", s.reviewer);
  REQUIRE(blind.status == 200);
  CHECK(blind.json()["blind"] == true);
  CHECK(blind.json()["audit"].empty());
  CHECK(blind.json()["decision"]["reason"] == "policy_error");
  auto r = c.request("GET", "/v1/domains/broken/decisions/x-1/trace", s.client);
  REQUIRE(r.status == 200);
  auto t = r.json();
  CHECK(t["blind"] == false);
  CHECK(t["decision"]["reason"] == "policy_error");
  REQUIRE(t["task"].is_object());
  CHECK(t["task"]["status"] == "pending");
  CHECK(t["task"]["reason"] == "policy_error");
  CHECK(t["final"].is_null());
  REQUIRE(t["audit"].size() == 1);
  auto& detail = t["audit"][0]["detail"];
  CHECK(detail["rule"] == "policy_error");
  CHECK(detail["review_task"] == true);
  REQUIRE(detail["policy_error"].is_string());
  CHECK(detail["policy_error"].get<std::string>().find("boom: no rule for broken") != std::string::npos);
}

TEST_CASE("trace answers 404, 403, 405 and 401 like the decision route", "[trace]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("k-1", 1, "good", 0.99).dump()).status == 200);

  auto missing = c.request("GET", "/v1/domains/loans/decisions/nope/trace", s.admin);
  CHECK(missing.status == 404);
  CHECK(missing.json()["error"]["code"] == "not_found");
  CHECK(missing.json()["error"]["field"] == "id");
  auto no_domain = c.request("GET", "/v1/domains/nowhere/decisions/k-1/trace", s.admin);
  CHECK(no_domain.status == 404);
  CHECK(no_domain.json()["error"]["code"] == "unknown_domain");

  // carol reviews credit_risk only: loans is out of scope, and so is a domain that does not
  // exist (scope is checked first, so she cannot probe which domains exist).
  auto carol = c.request("GET", "/v1/domains/loans/decisions/k-1/trace", s.other_reviewer);
  CHECK(carol.status == 403);
  CHECK(carol.json()["error"]["code"] == "forbidden");
  CHECK(carol.json()["error"]["field"] == "domain");
  CHECK(carol.body.find("k-1") == std::string::npos);
  CHECK(c.request("GET", "/v1/domains/nowhere/decisions/k-1/trace", s.other_reviewer).status == 403);
  CHECK(c.request("GET", "/v1/domains/loans/decisions/k-1/trace", s.reviewer).status == 200);

  auto post = c.request("POST", "/v1/domains/loans/decisions/k-1/trace", s.admin, "{}");
  CHECK(post.status == 405);
  CHECK(post.json()["error"]["code"] == "method_not_allowed");
  CHECK(c.request("GET", "/v1/domains/loans/decisions/k-1/trace", "").status == 401);
  CHECK(c.request("GET", "/v1/domains/loans/decisions/k-1/trace/more", s.admin).status == 404);
}

TEST_CASE("a decision id that equals a task number does not pick up that task's audit", "[trace]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  // p-1 opens task T1; then a decision named after T1 opens its own task T2.
  auto first = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("p-1", 100, "good", 0.5).dump()).json();
  const auto t1 = first["task_id"].get<long long>();
  const std::string lookalike = std::to_string(t1);
  auto second = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction(lookalike, 200, "good", 0.5).dump()).json();
  const auto t2 = second["task_id"].get<long long>();
  REQUIRE(t1 != t2);
  // And an auto-approved decision named after T2, which has no task of its own.
  const std::string lookalike2 = std::to_string(t2);
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, prediction(lookalike2, 1, "good", 0.99).dump()).status == 200);
  for (int i = 0; i < 2; ++i) {
    auto next = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
    REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(next["task_id"].get<long long>()) + "/outcome",
                      s.reviewer, R"({"outcome":"approve"})").status == 200);
  }

  // Each trace holds its own decision's records and its own task's, nothing else.
  auto check_trace = [&](const std::string& id, long long task) {
    INFO("decision " << id);
    auto t = c.request("GET", "/v1/domains/loans/decisions/" + id + "/trace", s.client).json();
    CHECK(actions(t) == std::vector<std::string>{"decision.created", "task.claimed", "review.submitted"});
    for (auto& a : t["audit"]) {
      INFO(a.dump());
      if (a["entity"] == "decision") CHECK(a["entity_id"] == id);
      else CHECK((a["entity"] == "task" && a["entity_id"] == std::to_string(task)));
    }
    CHECK(t["reviews"].size() == 1);
    check_audit_matches_storage(s, t);
  };
  check_trace("p-1", t1);
  check_trace(lookalike, t2);

  auto auto_t = c.request("GET", "/v1/domains/loans/decisions/" + lookalike2 + "/trace", s.client).json();
  CHECK(auto_t["task"].is_null());
  REQUIRE(auto_t["audit"].size() == 1);
  CHECK(auto_t["audit"][0]["entity"] == "decision");
  CHECK(auto_t["audit"][0]["entity_id"] == lookalike2);
}
