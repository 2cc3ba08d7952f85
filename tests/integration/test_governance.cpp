// Governance end to end against a real `hitl serve`: the report's metrics on a hand-computed
// stream and their agreement with /metrics (checked by a strict text-format parser), ground
// truth, PII redaction, payload erasure that keeps the audit chain verifiable, audited restarts,
// JSON log fields.
#include "support.hpp"
#include "support/prometheus_text.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {

json record(const std::string& id, const std::string& segment, double amount, const std::string& label, double conf) {
  return {{"id", id},
          {"input", {{"segment", segment}, {"amount", amount}, {"name", "Person " + id}}},
          {"meta", {{"email", id + "@example.org"}}},
          {"prediction", {{"label", label}, {"confidence", conf}}}};
}

// Claims the next task of the domain and answers it; returns the claimed task.
json review(HttpClient& c, const std::string& token, const std::string& outcome, const std::string& label = "") {
  auto next = c.request("GET", "/v1/review/next?domain=governed", token);
  REQUIRE(next.status == 200);
  json task = next.json();
  json body = {{"outcome", outcome}};
  if (!label.empty()) body["correction"] = {{"label", label}};
  auto r = c.request("POST", "/v1/review/tasks/" + std::to_string(task["task_id"].get<long long>()) + "/outcome",
                     token, body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  return task;
}

double sample(const std::map<std::string, double>& samples, const std::string& key) {
  auto it = samples.find(key);
  INFO(key);
  REQUIRE(it != samples.end());
  return it->second;
}

}  // namespace

TEST_CASE("the report computes the five metrics of a known stream, and /metrics agrees with it", "[governance]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  // Six decisions; the policy auto-approves confidence >= 0.9, else reviews (high_amount > 1000).
  //   id  segment amount model conf  -> verdict                priority band
  //   g1  A       100    good  0.95  auto
  //   g2  B       100    bad   0.95  auto
  //   g3  A       500    good  0.50  review low_confidence   0.25 low
  //   g4  B       1500   bad   0.60  review high_amount      0.75 high  (sla 3600 s)
  //   g5  B       800    good  0.70  review low_confidence   0.40 medium
  //   g6  A       100    good  0.97  auto
  json batch = json::array({record("g1", "A", 100, "good", 0.95), record("g2", "B", 100, "bad", 0.95),
                            record("g3", "A", 500, "good", 0.50), record("g4", "B", 1500, "bad", 0.60),
                            record("g5", "B", 800, "good", 0.70), record("g6", "A", 100, "good", 0.97)});
  auto r = c.request("POST", "/v1/domains/governed/predictions", s.client, batch.dump());
  REQUIRE(r.status == 200);
  // Reviews in priority order: g4 (correct -> good), g5 (reject with label bad), g3 (approve).
  CHECK(review(c, s.reviewer, "correct", "good")["decision_id"] == "g4");
  CHECK(review(c, s.reviewer, "reject", "bad")["decision_id"] == "g5");
  CHECK(review(c, s.reviewer, "approve")["decision_id"] == "g3");
  // Truth learnt later: g1 defaulted (the model said good), g2 as predicted.
  for (auto [id, label] : {std::pair{"g1", "bad"}, std::pair{"g2", "bad"}}) {
    auto t = c.request("PUT", std::string("/v1/domains/governed/decisions/") + id + "/truth", s.client,
                       json{{"label", label}}.dump());
    INFO(t.body);
    REQUIRE(t.status == 200);
    CHECK(t.json()["truth_label"] == label);
  }

  auto rep = c.request("GET", "/v1/domains/governed/report", s.admin);
  INFO(rep.body);
  REQUIRE(rep.status == 200);
  json j = rep.json();
  // 1. Flag rate: 3 of 6; low_confidence 2, high_amount 1.
  CHECK(j["predictions"] == 6);
  CHECK(j["flagged"] == 3);
  CHECK(j["auto_approved"] == 3);
  CHECK(j["flag_rate"].get<double>() == Approx(0.5));
  CHECK(j["flag_reasons"]["low_confidence"]["count"] == 2);
  CHECK(j["flag_reasons"]["low_confidence"]["rate"].get<double>() == Approx(2.0 / 6));
  CHECK(j["flag_reasons"]["high_amount"]["count"] == 1);
  // 2. Turnaround: three completed; only g4 had a deadline (1 h), met.
  CHECK(j["turnaround"]["completed"] == 3);
  CHECK(j["turnaround"]["p95_s"].get<double>() >= j["turnaround"]["p50_s"].get<double>());
  CHECK(j["turnaround"]["sla"]["with_deadline"] == 1);
  CHECK(j["turnaround"]["sla"]["met"] == 1);
  CHECK(j["turnaround"]["sla"]["compliance"].get<double>() == Approx(1.0));
  // 3. Accuracy: truth for g1, g2 (reported) and g3, g4, g5 (reviewed).
  //    delivered: g1 good x, g2 bad ok, g3 good ok, g4 good ok, g5 bad ok  -> 4/5
  //    model:     g1 good x, g2 bad ok, g3 good ok, g4 bad x,  g5 good x   -> 2/5
  CHECK(j["accuracy"]["cases"] == 5);
  CHECK(j["accuracy"]["reported_truths"] == 2);
  CHECK(j["accuracy"]["final_accuracy"].get<double>() == Approx(0.8));
  CHECK(j["accuracy"]["model_accuracy"].get<double>() == Approx(0.4));
  CHECK(j["accuracy"]["gain"].get<double>() == Approx(0.4));
  // 4. Bias by segment: A flag 1/3, errors 1 of 2 (g1); B flag 2/3, errors 2 of 3 (g4, g5).
  auto& groups = j["bias"]["groups"];
  CHECK(groups["A"]["flag_rate"].get<double>() == Approx(1.0 / 3));
  CHECK(groups["A"]["error_rate"].get<double>() == Approx(0.5));
  CHECK(groups["B"]["flag_rate"].get<double>() == Approx(2.0 / 3));
  CHECK(groups["B"]["error_rate"].get<double>() == Approx(2.0 / 3));
  CHECK(j["bias"]["flag_rate_disparity"].get<double>() == Approx(1.0 / 3));
  CHECK(j["bias"]["error_rate_disparity"].get<double>() == Approx(2.0 / 3 - 0.5));
  // 5. Cost: corrections g4 and g5; reviewer time as stored (lease start to submission).
  CHECK(j["cost"]["corrections"] == 2);
  CHECK(j["cost"]["reviews"] == 3);
  double stored_seconds = 0;
  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    stored_seconds = db.execAndGet("SELECT SUM(created_ms - started_ms) / 1000.0 FROM reviews WHERE domain = 'governed' "
                                   "AND started_ms > 0").getDouble();
    CHECK(db.execAndGet("SELECT COUNT(*) FROM reviews WHERE domain = 'governed' AND started_ms > 0").getInt() == 3);
  }
  CHECK(j["cost"]["reviewer_seconds"].get<double>() == Approx(stored_seconds));
  const double expected_cost = (stored_seconds / 3600 * 36 + 6 * 0.01) / 2;
  CHECK(j["cost"]["cost_per_correction"].get<double>() == Approx(expected_cost));
  // Per policy version: one hash, all six.
  REQUIRE(j["by_policy"].size() == 1);
  CHECK(j["by_policy"][0]["predictions"] == 6);

  // /metrics: valid text format, counters equal to the report.
  auto m = c.request("GET", "/metrics", s.admin);
  REQUIRE(m.status == 200);
  auto problems = hitl::testing::check_prometheus_text(m.body);
  for (auto& p : problems) FAIL_CHECK(p);
  CHECK(problems.empty());
  auto samples = hitl::testing::parse_samples(m.body);
  using hitl::testing::series_key;
  double decisions = 0;
  for (const char* st : {"auto_approved", "pending_review", "rejected"})
    decisions += sample(samples, series_key("hitl_decisions_total", {{"domain", "governed"}, {"status", st}}));
  CHECK(decisions == j["predictions"].get<double>());
  CHECK(sample(samples, series_key("hitl_flagged_total", {{"domain", "governed"}, {"reason", "low_confidence"}, {"priority", "low"}})) == 1);
  CHECK(sample(samples, series_key("hitl_flagged_total", {{"domain", "governed"}, {"reason", "low_confidence"}, {"priority", "medium"}})) == 1);
  CHECK(sample(samples, series_key("hitl_flagged_total", {{"domain", "governed"}, {"reason", "high_amount"}, {"priority", "high"}})) == 1);
  CHECK(sample(samples, series_key("hitl_corrections_total", {{"domain", "governed"}})) == j["cost"]["corrections"].get<double>());
  CHECK(sample(samples, series_key("hitl_review_turnaround_seconds_count", {{"domain", "governed"}})) ==
        j["turnaround"]["completed"].get<double>());
  CHECK(sample(samples, series_key("hitl_sla_breaches_total", {{"domain", "governed"}})) == 0);

  // The CLI prints the same report (read straight from the database while the service runs).
  auto cli = run_hitl("report --config " + s.config.string() + " --domain governed --json");
  INFO(cli.out);
  REQUIRE(cli.exit_code == 0);
  json cj = json::parse(cli.out);
  cj.erase("generated_ms");
  j.erase("generated_ms");
  CHECK(cj == j);
  auto table = run_hitl("report --config " + s.config.string() + " --domain governed");
  CHECK(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains("50.0%"));
  CHECK_THAT(table.out, Catch::Contains("low_confidence"));
  // Bad windows get a clear error.
  auto bad = c.request("GET", "/v1/domains/governed/report?from=yesterday", s.admin);
  CHECK(bad.status == 422);
  CHECK(bad.json()["error"]["field"] == "from");
  CHECK(c.request("GET", "/v1/domains/governed/report", s.reviewer).status == 403);
  // A window before the stream is empty, not an error: nulls, no division by zero.
  auto empty = c.request("GET", "/v1/domains/governed/report?from=2001-01-01&to=2001-01-02", s.admin);
  REQUIRE(empty.status == 200);
  CHECK(empty.json()["predictions"] == 0);
  CHECK(empty.json()["flag_rate"].is_null());
}

TEST_CASE("sensitive fields are masked for reviewers and kept out of the audit trail and logs", "[governance]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json rec = record("p1", "A", 200, "good", 0.5);
  rec["input"]["name"] = "Ada Lovelace";
  rec["input"]["explode"] = true;  // the policy errors, quoting the name
  auto r = c.request("POST", "/v1/domains/governed/predictions", s.client, rec.dump());
  REQUIRE(r.status == 200);
  CHECK(r.json()["reason"] == "policy_error");

  auto next = c.request("GET", "/v1/review/next?domain=governed", s.reviewer);
  REQUIRE(next.status == 200);
  auto task = next.json();
  CHECK(task["input"]["name"] == "[redacted]");
  CHECK(task["meta"]["email"] == "[redacted]");
  CHECK(task["input"]["segment"] == "A");  // what is not sensitive stays
  CHECK(c.request("GET", "/v1/domains/governed/decisions/p1", s.reviewer).json()["input"]["name"] == "[redacted]");
  CHECK(c.request("GET", "/v1/domains/governed/decisions/p1", s.client).json()["input"]["name"] == "Ada Lovelace");
  auto blind = c.request("GET", "/v1/domains/governed/decisions/p1/trace", s.reviewer).json();
  CHECK(blind["decision"]["input"]["name"] == "[redacted]");
  CHECK(blind["blind"] == true);  // the task is open: a reviewer's trace has no audit records
  // The trail itself never held the name: the client's full trace shows the masked error.
  auto trace = c.request("GET", "/v1/domains/governed/decisions/p1/trace", s.client).json();
  REQUIRE(trace["audit"].size() >= 1);
  const std::string detail = trace["audit"][0]["detail"]["policy_error"].get<std::string>();
  CHECK_THAT(detail, Catch::Contains("cannot score applicant [redacted]"));
  CHECK(trace["audit"][0]["detail"]["input_hash"] == trace["payload"]["input_hash"]);
  CHECK(trace["audit"][0]["detail"]["policy_version"] == "g-1");

  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE detail_json LIKE '%Lovelace%'").getInt() == 0);
  CHECK(s.log().find("Lovelace") == std::string::npos);
  CHECK_THAT(s.log(), Catch::Contains("cannot score applicant [redacted]"));
}

TEST_CASE("erasing a payload keeps hash and labels and a verifiable chain - also by age and from the CLI",
          "[governance]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  json batch = json::array({record("e1", "A", 200, "good", 0.5), record("e2", "B", 200, "good", 0.95),
                            record("e3", "B", 200, "good", 0.95)});
  REQUIRE(c.request("POST", "/v1/domains/governed/predictions", s.client, batch.dump()).status == 200);
  auto next = c.request("GET", "/v1/review/next?domain=governed", s.reviewer).json();
  auto done = c.request("POST", "/v1/review/tasks/" + std::to_string(next["task_id"].get<long long>()) + "/outcome",
                        s.reviewer, R"({"outcome":"correct","correction":{"label":"bad"},"comment":"Person e1 lied"})");
  REQUIRE(done.status == 200);
  const std::string hash = c.request("GET", "/v1/domains/governed/decisions/e1", s.admin).json()["input_hash"];
  CHECK(hash.size() == 64);

  CHECK(c.request("DELETE", "/v1/domains/governed/decisions/e1/payload", s.admin).status == 422);  // no reason
  CHECK(c.request("DELETE", "/v1/domains/governed/decisions/e1/payload?reason=x", s.client).status == 403);
  CHECK(c.request("DELETE", "/v1/domains/governed/decisions/nope/payload?reason=x", s.admin).status == 404);
  auto er = c.request("DELETE", "/v1/domains/governed/decisions/e1/payload?reason=request-42", s.admin);
  INFO(er.body);
  REQUIRE(er.status == 200);
  CHECK(er.json()["erased"] == true);
  CHECK(er.json()["input_hash"] == hash);
  auto again = c.request("DELETE", "/v1/domains/governed/decisions/e1/payload?reason=request-42", s.admin);
  CHECK(again.json()["erased"] == false);

  auto d = c.request("GET", "/v1/domains/governed/decisions/e1", s.admin).json();
  CHECK(d["input"] == json::object());
  CHECK(d["meta"] == json::object());
  CHECK(d["input_hash"] == hash);
  CHECK(d["final_label"] == "bad");
  CHECK(d["erased_ms"].is_number());
  auto trace = c.request("GET", "/v1/domains/governed/decisions/e1/trace", s.admin).json();
  CHECK(trace["payload"]["erased"] == true);
  CHECK(trace["reviews"][0]["comment"] == "");
  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    for (const char* q : {"SELECT COUNT(*) FROM decisions WHERE input_json LIKE '%Person e1%'",
                          "SELECT COUNT(*) FROM feedback WHERE input_json LIKE '%Person e1%'",
                          "SELECT COUNT(*) FROM reviews WHERE comment LIKE '%Person e1%'",
                          "SELECT COUNT(*) FROM audit WHERE detail_json LIKE '%Person e1%'"}) {
      INFO(q);
      CHECK(db.execAndGet(q).getInt() == 0);
    }
    CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'decision.payload_erased'").getInt() == 2);
  }
  auto verify = run_hitl("audit verify --config " + s.config.string());
  INFO(verify.out);
  CHECK(verify.exit_code == 0);

  // The CLI erases by id while the service runs; by age nothing is old enough yet.
  auto cli = run_hitl("erase --config " + s.config.string() + " --domain governed --id e2 --reason 'ticket 7'");
  INFO(cli.out);
  CHECK(cli.exit_code == 0);
  CHECK_THAT(cli.out, Catch::Contains("e2: erased"));
  auto unknown = run_hitl("erase --config " + s.config.string() + " --domain nope --id e2 --reason x");
  CHECK(unknown.exit_code != 0);
  CHECK_THAT(unknown.out, Catch::Contains("no domain named \"nope\""));
  auto aged = run_hitl("erase --config " + s.config.string() + " --domain governed --older-than-days 1 --reason r");
  CHECK(aged.exit_code == 0);
  CHECK_THAT(aged.out, Catch::Contains("erased 0 payloads"));
  // Two days later, by age: e3 goes (e1 and e2 were erased already).
  auto later = run_hitl("erase --config " + s.config.string() + " --domain governed --older-than-days 1 --reason r",
                        "HITL_CLOCK_OFFSET_MS=" + std::to_string(2LL * 86400000));
  INFO(later.out);
  CHECK_THAT(later.out, Catch::Contains("erased 1 payloads"));
  CHECK(c.request("GET", "/v1/domains/governed/decisions/e3", s.admin).json()["input"] == json::object());
  CHECK(run_hitl("audit verify --config " + s.config.string()).exit_code == 0);
}

TEST_CASE("a restart audits the service start and names a changed policy", "[governance]") {
  Service s;
  s.start();
  s.stop();
  {
    std::ofstream f(s.dir.path / "governed.lua", std::ios::app);
    f << "\n-- edited between restarts\n";
  }
  s.start();
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'service.started'").getInt() == 2);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.changed' AND domain = 'governed'").getInt() == 1);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.changed' AND domain = 'loans'").getInt() == 0);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'config.changed'").getInt() == 0);
  CHECK_THAT(s.log(), Catch::Contains("changed since the last start: policy governed"));
}

TEST_CASE("JSON log lines carry decision and task ids as fields", "[governance]") {
  TempDir d;
  d.write("p.lua", "local hitl = require 'hitl'\nreturn { flag = function(p) return hitl.review('look') end }\n");
  d.write("hitl.lua", R"(return {
  log = { format = "json", level = "debug" },
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },
  domains = { q = { policy = "p.lua", labels = { "yes", "no" } } },
})");
  d.write("one.jsonl", R"({"id":"case-\"7\"","input":{},"prediction":{"label":"yes","confidence":0.9}})" "\n");
  auto r = run_hitl("ingest --config " + (d.path / "hitl.lua").string() + " --domain q " + (d.path / "one.jsonl").string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  bool found = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    auto j = json::parse(line, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    if (j.value("decision_id", "") == "case-\"7\"") {
      found = true;
      CHECK(j["domain"] == "q");
      CHECK(j["task_id"] == 1);
    }
  }
  CHECK(found);
}

TEST_CASE("a policy swapped in while the service ran is not reported again as changed at the next start",
          "[governance]") {
  Service s;
  s.start();
  {
    std::ofstream f(s.dir.path / "governed.lua", std::ios::app);
    f << "\n-- edited, then reloaded while running\n";
  }
  HttpClient c(s.port());
  auto loaded = c.request("POST", "/v1/domains/governed/policy/reload", s.admin, "{}");
  INFO(loaded.body);
  REQUIRE(loaded.status == 200);
  s.stop();
  s.start();
  {
    SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.loaded' AND domain = 'governed'").getInt() == 1);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.changed'").getInt() == 0);
  }
  // An edit between the two starts after that is still named.
  s.stop();
  {
    std::ofstream f(s.dir.path / "governed.lua", std::ios::app);
    f << "\n-- edited while stopped\n";
  }
  s.start();
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.changed' AND domain = 'governed'").getInt() == 1);
  CHECK(db.execAndGet("SELECT COUNT(*) FROM audit WHERE action = 'policy.changed' AND domain = 'loans'").getInt() == 0);
  CHECK(run_hitl("audit verify --config " + s.config.string()).exit_code == 0);
}
