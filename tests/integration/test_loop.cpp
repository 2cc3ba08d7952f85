// The whole loop against a real `hitl serve` process: ingest, policy, review, feedback, audit.
#include "support.hpp"
#include "support/eventually.hpp"

#include <catch2/catch.hpp>

#include <set>

using hitl::test::HttpClient;
using hitl::test::Service;
using nlohmann::json;

namespace {

json prediction(const std::string& id, double amount, const std::string& label, double confidence) {
  return {{"id", id}, {"input", {{"amount", amount}, {"purpose", "car"}}},
          {"prediction", {{"label", label}, {"confidence", confidence}}}};
}

std::vector<std::string> audit_actions(const Service& s, const std::string& domain) {
  std::vector<std::string> out;
  for (const auto& row : s.sql_rows("SELECT action FROM audit WHERE domain = '" + domain + "' ORDER BY seq"))
    out.push_back(row[0]);
  return out;
}

}  // namespace

TEST_CASE("healthz answers without a token and the service reports its domains", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto r = c.request("GET", "/healthz", "");
  REQUIRE(r.status == 200);
  CHECK(r.json()["status"] == "ok");
}

TEST_CASE("a confident prediction is auto-approved and durable", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("a-1", 500, "good", 0.97).dump());
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["id"] == "a-1");
  CHECK(j["status"] == "auto_approved");
  CHECK(j["task_id"].is_null());
  CHECK(j["label"] == "good");
  CHECK(j["confidence"].get<double>() == Approx(0.97));

  auto d = c.request("GET", "/v1/domains/loans/decisions/a-1", s.client);
  REQUIRE(d.status == 200);
  CHECK(d.json()["status"] == "auto_approved");
  CHECK(d.json()["input"]["purpose"] == "car");
  CHECK(d.json()["final_label"].is_null());
  CHECK(audit_actions(s, "loans") == std::vector<std::string>{"decision.created"});
}

TEST_CASE("uncertain prediction: pending review, claimed, corrected, feedback and audit kept", "[loop]") {
  Service s;
  s.start();
  HttpClient client(s.port()), alice(s.port());
  auto r = client.request("POST", "/v1/domains/loans/predictions", s.client,
                          prediction("u-1", 40000, "good", 0.62).dump());
  REQUIRE(r.status == 200);
  auto j = r.json();
  CHECK(j["status"] == "pending_review");
  CHECK(j["reason"] == "low_confidence");
  REQUIRE(j["task_id"].is_number_integer());
  const auto task_id = j["task_id"].get<long long>();
  CHECK(j["priority"].get<double>() == Approx(0.4));

  auto next = alice.request("GET", "/v1/review/next?domain=loans", s.reviewer);
  REQUIRE(next.status == 200);
  auto t = next.json();
  CHECK(t["task_id"] == task_id);
  CHECK(t["decision_id"] == "u-1");
  CHECK(t["reason"] == "low_confidence");
  CHECK(t["input"]["amount"] == 40000);
  CHECK(t["prediction"]["label"] == "good");
  CHECK(t["lease_expires_ms"].get<long long>() > 0);
  CHECK(t["labels"] == json::array({"good", "bad"}));

  // Nothing else is ready: the task is leased to alice.
  HttpClient bob(s.port());
  CHECK(bob.request("GET", "/v1/review/next?domain=loans", s.reviewer2).status == 204);

  auto out = alice.request("POST", "/v1/review/tasks/" + std::to_string(task_id) + "/outcome", s.reviewer,
                           R"({"outcome":"correct","correction":{"label":"bad"},"comment":"income too low"})");
  REQUIRE(out.status == 200);
  CHECK(out.json()["final_label"] == "bad");

  auto d = client.request("GET", "/v1/domains/loans/decisions/u-1", s.client).json();
  CHECK(d["status"] == "pending_review");
  CHECK(d["label"] == "good");
  CHECK(d["final_label"] == "bad");
  CHECK(d["final_outcome"] == "correct");

  const auto fb = s.sql_rows("SELECT final_label, model_label, model_confidence, reviewer, input_json "
                             "FROM feedback WHERE domain = 'loans' AND decision_id = 'u-1'");
  REQUIRE(fb.size() == 1);
  CHECK(fb[0][0] == "bad");
  CHECK(fb[0][1] == "good");
  CHECK(std::stod(fb[0][2]) == Approx(0.62));
  CHECK(fb[0][3] == "alice");
  CHECK(json::parse(fb[0][4])["amount"] == 40000);
  CHECK(audit_actions(s, "loans") ==
        std::vector<std::string>{"decision.created", "task.claimed", "review.submitted"});

  // The task is done: a second submission is refused and nothing is left to claim.
  auto again = alice.request("POST", "/v1/review/tasks/" + std::to_string(task_id) + "/outcome", s.reviewer,
                             R"({"outcome":"approve"})");
  CHECK(again.status == 409);
  CHECK(alice.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 204);

  // The trail the service wrote verifies from outside it, on either backend.
  const auto verify = hitl::test::run_hitl("audit verify --config " + s.config.string());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);
}

TEST_CASE("approve keeps the model label, reject is recorded, the policy can reject outright", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json batch = json::array({prediction("b-1", 100, "good", 0.5), prediction("b-2", 100, "bad", 0.5),
                            prediction("b-3", -5, "good", 0.99)});
  auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump());
  REQUIRE(r.status == 200);
  auto res = r.json()["results"];
  REQUIRE(res.size() == 3);
  CHECK(res[0]["status"] == "pending_review");
  CHECK(res[1]["status"] == "pending_review");
  CHECK(res[2]["status"] == "rejected");
  CHECK(res[2]["reason"] == "negative_amount");

  std::map<std::string, std::string> outcome_for{{"b-1", "approve"}, {"b-2", "reject"}};
  for (int i = 0; i < 2; ++i) {
    auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
    std::string id = t["decision_id"];
    auto o = c.request("POST", "/v1/review/tasks/" + std::to_string(t["task_id"].get<long long>()) + "/outcome",
                       s.reviewer, json{{"outcome", outcome_for[id]}}.dump());
    REQUIRE(o.status == 200);
  }
  auto d1 = c.request("GET", "/v1/domains/loans/decisions/b-1", s.client).json();
  CHECK(d1["final_outcome"] == "approve");
  CHECK(d1["final_label"] == "good");
  auto d2 = c.request("GET", "/v1/domains/loans/decisions/b-2", s.client).json();
  CHECK(d2["final_outcome"] == "reject");
}

TEST_CASE("tasks are handed out by priority and only the lease holder may submit", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json batch = json::array({prediction("p-low", 1000, "good", 0.5), prediction("p-high", 90000, "good", 0.5),
                            prediction("p-mid", 30000, "good", 0.5)});
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump()).status == 200);
  std::vector<std::string> order;
  std::vector<long long> tasks;
  for (int i = 0; i < 3; ++i) {
    auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
    order.push_back(t["decision_id"]);
    tasks.push_back(t["task_id"]);
  }
  CHECK(order == std::vector<std::string>{"p-high", "p-mid", "p-low"});
  auto stolen = c.request("POST", "/v1/review/tasks/" + std::to_string(tasks[0]) + "/outcome", s.reviewer2,
                          R"({"outcome":"approve"})");
  CHECK(stolen.status == 409);
  CHECK(stolen.json()["error"]["code"] == "lease_not_held");
}

TEST_CASE("a policy that errors or loops fails closed to review and the service stays up", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  for (std::string domain : {"broken", "looping"}) {
    INFO(domain);
    json rec = {{"id", "x-1"}, {"input", {{"v", 1}}}, {"prediction", {{"label", "yes"}, {"confidence", 0.999}}}};
    auto r = c.request("POST", "/v1/domains/" + domain + "/predictions", s.client, rec.dump());
    REQUIRE(r.status == 200);
    CHECK(r.json()["status"] == "pending_review");
    CHECK(r.json()["reason"] == "policy_error");
    CHECK(r.json()["task_id"].is_number_integer());
    auto t = c.request("GET", "/v1/review/next?domain=" + domain, s.reviewer);
    REQUIRE(t.status == 200);
    CHECK(t.json()["reason"] == "policy_error");
  }
  CHECK(s.running());
  CHECK(c.request("GET", "/healthz", "").status == 200);
  auto ok = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("after", 1, "good", 0.95).dump());
  CHECK(ok.json()["status"] == "auto_approved");
  auto m = c.request("GET", "/metrics", s.admin);
  REQUIRE(m.status == 200);
  CHECK(m.body.find("hitl_policy_errors_total{domain=\"broken\"} 1") != std::string::npos);
  CHECK(m.body.find("hitl_policy_errors_total{domain=\"looping\"} 1") != std::string::npos);
  CHECK(s.log().find("boom: no rule for broken") != std::string::npos);
}

TEST_CASE("a failing model fails closed to review with reason model_error", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  for (std::string domain : {"flaky", "shortm"}) {
    INFO(domain);
    json batch = json::array({{{"id", "f-1"}, {"input", {{"amount", 10}}}},
                              {{"id", "f-2"}, {"input", {{"amount", 20}}}},
                              // a record with the client's own prediction is not affected
                              {{"id", "f-3"}, {"input", {{"amount", 30}}},
                               {"prediction", {{"label", "good"}, {"confidence", 0.95}}}}});
    auto r = c.request("POST", "/v1/domains/" + domain + "/predictions", s.client, batch.dump());
    REQUIRE(r.status == 200);
    auto res = r.json()["results"];
    for (int i : {0, 1}) {
      CHECK(res[i]["status"] == "pending_review");
      CHECK(res[i]["reason"] == "model_error");
      CHECK(res[i]["task_id"].is_number_integer());
    }
    CHECK(res[2]["status"] == "auto_approved");
    auto m = c.request("GET", "/metrics", s.admin).body;
    CHECK(m.find("hitl_model_errors_total{domain=\"" + domain + "\"} 2") != std::string::npos);
  }
  CHECK(s.log().find("model server unreachable (fixture)") != std::string::npos);
}

TEST_CASE("the domain's model scores inputs sent without a prediction", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  // Two rows in the shape of credit_data.csv: a small, well-covered loan and a huge one.
  json small = {{"Seniority", 9}, {"Home", "rent"}, {"Time", 60}, {"Age", 30}, {"Marital", "married"},
                {"Records", "no_rec"}, {"Job", "freelance"}, {"Expenses", 73}, {"Income", 129},
                {"Assets", 0}, {"Debt", 0}, {"Amount", 800}, {"Price", 846}};
  json huge = small;
  huge["Amount"] = 20000;
  huge["Price"] = 21000;
  json batch = json::array({{{"id", "c-1"}, {"input", small}}, {{"id", "c-2"}, {"input", huge}}});
  auto r = c.request("POST", "/v1/domains/credit_risk/predictions", s.client, batch.dump());
  REQUIRE(r.status == 200);
  auto res = r.json()["results"];
  for (auto& one : res) {
    CHECK((one["label"] == "good" || one["label"] == "bad"));
    CHECK(one["confidence"].get<double>() >= 0.5);
  }
  CHECK(res[1]["status"] == "pending_review");
  CHECK(res[1]["reason"] == "high_amount");
  auto d = c.request("GET", "/v1/domains/credit_risk/decisions/c-1", s.client).json();
  CHECK(d["model_version"].get<std::string>().rfind("logreg-", 0) == 0);
  CHECK(d["prediction"]["scores"].size() == 2);

  // The explanation travels with the task: the reviewer sees which features drove the score.
  auto t = c.request("GET", "/v1/review/next?domain=credit_risk", s.reviewer);
  REQUIRE(t.status == 200);
  if (t.json()["decision_id"] != "c-2") {  // the small loan may be flagged too (uncertain): answer it first
    REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(t.json()["task_id"].get<long long>()) + "/outcome",
                      s.reviewer, R"({"outcome":"approve"})").status == 200);
    t = c.request("GET", "/v1/review/next?domain=credit_risk", s.reviewer);
    REQUIRE(t.status == 200);
  }
  CHECK(t.json()["decision_id"] == "c-2");
  auto contributions = t.json()["prediction"]["contributions"];
  REQUIRE(contributions.is_object());
  CHECK(contributions.size() >= 3);
  CHECK(contributions.contains("Amount"));  // the huge amount is among the top features
  for (auto& [feature, value] : contributions.items()) CHECK(value.is_number());
}

TEST_CASE("a repeated id returns the original decision", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  auto first = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("dup", 10, "good", 0.5).dump()).json();
  auto second = c.request("POST", "/v1/domains/loans/predictions", s.client, prediction("dup", 10, "bad", 0.99).dump()).json();
  CHECK(second["status"] == first["status"]);
  CHECK(second["task_id"] == first["task_id"]);
  CHECK(second["label"] == "good");
  CHECK(second["duplicate"] == true);
  // Only one task exists: one claim, then nothing.
  CHECK(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);
  CHECK(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 204);
}

TEST_CASE("NDJSON bodies are ingested line by line in order", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  std::string body = prediction("n-1", 1, "good", 0.99).dump() + "\n\n" + prediction("n-2", 1, "good", 0.3).dump() + "\n";
  auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, body, "application/x-ndjson");
  REQUIRE(r.status == 200);
  auto res = r.json()["results"];
  REQUIRE(res.size() == 2);
  CHECK(res[0]["id"] == "n-1");
  CHECK(res[0]["status"] == "auto_approved");
  CHECK(res[1]["status"] == "pending_review");
}

TEST_CASE("decisions and open tasks survive a restart, and an expired lease is handed to another reviewer", "[loop]") {
  Service s;
  s.start();
  long long task_id = 0;
  {
    HttpClient c(s.port());
    task_id = c.request("POST", "/v1/domains/loans/predictions", s.client,
                        prediction("r-1", 5000, "bad", 0.55).dump()).json()["task_id"];
    auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer);
    REQUIRE(t.status == 200);
  }
  s.stop();
  // Restart with the clock 2 minutes ahead: alice's 60 s lease has run out.
  s.start(120000);
  HttpClient c(s.port());
  auto d = c.request("GET", "/v1/domains/loans/decisions/r-1", s.client);
  REQUIRE(d.status == 200);
  CHECK(d.json()["task_id"] == task_id);
  auto late = c.request("POST", "/v1/review/tasks/" + std::to_string(task_id) + "/outcome", s.reviewer,
                        R"({"outcome":"approve"})");
  CHECK(late.status == 409);
  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer2);
  REQUIRE(t.status == 200);
  CHECK(t.json()["task_id"] == task_id);
  CHECK(t.json()["assignee"] == "bob");
  auto o = c.request("POST", "/v1/review/tasks/" + std::to_string(task_id) + "/outcome", s.reviewer2,
                     R"({"outcome":"correct","correction":{"label":"good"}})");
  REQUIRE(o.status == 200);
  CHECK(c.request("GET", "/v1/domains/loans/decisions/r-1", s.client).json()["final_label"] == "good");
}

TEST_CASE("metrics count predictions, flags and reviews per domain in Prometheus text", "[loop]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json batch = json::array({prediction("m-1", 1, "good", 0.95), prediction("m-2", 1, "good", 0.4),
                            prediction("m-3", 1, "good", 0.3)});
  REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client, batch.dump()).status == 200);
  auto m = c.request("GET", "/metrics", s.admin);
  REQUIRE(m.status == 200);
  CHECK(m.content_type.find("text/plain") == 0);
  CHECK(m.body.find("# TYPE hitl_predictions_total counter") != std::string::npos);
  CHECK(m.body.find("hitl_predictions_total{domain=\"loans\"} 3") != std::string::npos);
  CHECK(m.body.find("hitl_decisions_total{domain=\"loans\",status=\"auto_approved\"} 1") != std::string::npos);
  CHECK(m.body.find("hitl_decisions_total{domain=\"loans\",status=\"pending_review\"} 2") != std::string::npos);
  // The queue gauges are read from the queue at each scrape; they reach the values below as soon
  // as the queue has seen the push and the ack (waited for, not slept on).
  auto depth_reads = [&](const std::string& line) {
    return hitl::test::eventually([&] { return c.request("GET", "/metrics", s.admin).body.find(line) != std::string::npos; },
                                  std::chrono::seconds(5));
  };
  CHECK(depth_reads("hitl_queue_depth{domain=\"loans\",state=\"ready\"} 2"));
  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json();
  REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(t["task_id"].get<long long>()) + "/outcome",
                    s.reviewer, R"({"outcome":"correct","correction":{"label":"bad"}})").status == 200);
  m = c.request("GET", "/metrics", s.admin);
  CHECK(m.body.find("hitl_reviews_total{domain=\"loans\",outcome=\"correct\"} 1") != std::string::npos);
  CHECK(m.body.find("hitl_task_claims_total{domain=\"loans\"} 1") != std::string::npos);
  CHECK(depth_reads("hitl_queue_depth{domain=\"loans\",state=\"ready\"} 1"));
}
