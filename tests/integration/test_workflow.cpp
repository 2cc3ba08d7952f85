// The review workflow against a real `hitl serve`: gold tasks, consensus with agreement and with
// adjudication (blind), four-eyes, push assignment, fatigue and capacity, escalation chains on a
// clock the test moves, the reviewer registry (CLI and admin API), and the task list.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::HttpResponse;
using hitl::test::run_hitl;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {

// Files the extra domains point at by absolute path: the Service constructor already runs
// `hitl token create`, which loads (and checks) the whole config.
struct WorkflowFiles {
  TempDir dir;
  std::string domains;
  WorkflowFiles() {
    // wf: consensus over 10000, skills and pools from the input, SLA from the input, and an
    // escalation chain: at risk -> top priority; breached -> seniors and a notice, or the
    // default decision for cases marked so.
    auto wf = dir.write("wf.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    local opts = {}
    if p.input.skill then opts.skills = { p.input.skill } end
    if p.input.pool then opts.pool = p.input.pool end
    return hitl.review("low_confidence", opts)
  end,
  priority = function(task) return math.min(1, (task.input.amount or 0) / 100000) end,
  sla = function(task) return task.input.sla end,
  reviewers_needed = function(task)
    if (task.input.amount or 0) > 10000 then return 2 end
    return 1
  end,
  escalate = function(task, event)
    if event.kind == "at_risk" then return hitl.raise_priority(0.95) end
    if task.input.fallback then return hitl.default_decision("bad") end
    return hitl.actions(task.pool ~= "senior" and hitl.reassign("senior"), hitl.notify())
  end,
}
)");
    auto gold = dir.write("gold.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("low_confidence") end,
  gold_rate = 1,
}
)");
    // One case, so every gold task is this one: the model's "good" is wrong, the answer is "bad".
    auto gold_set = dir.write("gold.jsonl", R"(# known answers
{"input": {"amount": 777, "purpose": "car"}, "prediction": {"label": "good", "confidence": 0.64}, "label": "bad"}
)");
    domains = "wf = { policy = \"" + wf.string() + R"(", labels = { "good", "bad" },
                 webhook = { url = "http://127.0.0.1:9/wf", secret = "s", max_attempts = 1 } },
    fat = { policy = ")" + wf.string() + R"(", labels = { "good", "bad" }, fatigue = { max_consecutive = 2 } },
    qa = { policy = ")" + gold.string() + R"(", labels = { "good", "bad" }, gold_file = ")" + gold_set.string() +
              R"(", webhook = { url = "http://127.0.0.1:9/qa", secret = "s", max_attempts = 1 } },
)";
  }
};

json prediction(const std::string& id, json input, double confidence = 0.6, const std::string& label = "good") {
  return {{"id", id}, {"input", std::move(input)}, {"prediction", {{"label", label}, {"confidence", confidence}}}};
}

long long flag(HttpClient& c, const std::string& token, const std::string& domain, const std::string& id, json input) {
  auto r = c.request("POST", "/v1/domains/" + domain + "/predictions", token, prediction(id, std::move(input)).dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.json()["status"] == "pending_review");
  return r.json()["task_id"].get<long long>();
}

std::string task_path(long long id, const std::string& action) {
  return "/v1/review/tasks/" + std::to_string(id) + "/" + action;
}

HttpResponse next(HttpClient& c, const std::string& token, const std::string& domain) {
  return c.request("GET", "/v1/review/next?domain=" + domain, token);
}

HttpResponse answer(HttpClient& c, const std::string& token, long long task, const std::string& label = "") {
  json body = label.empty() ? json{{"outcome", "approve"}} : json{{"outcome", "correct"}, {"correction", {{"label", label}}}};
  return c.request("POST", task_path(task, "outcome"), token, body.dump());
}

json stored_task(const Service& s, long long id) {
  const auto rows = s.sql_rows("SELECT status, pool, priority, sla_state, reviews_done, escalations, gold FROM tasks "
                               "WHERE task_id = " + std::to_string(id));
  REQUIRE(rows.size() == 1);
  const auto& r = rows[0];
  return {{"status", r[0]}, {"pool", r[1]}, {"priority", std::stod(r[2])}, {"sla_state", r[3]},
          {"reviews_done", std::stoll(r[4])}, {"escalations", std::stoll(r[5])},
          {"gold", r[6] == "1" || r[6] == "t"}};  // SQLite's integer, PostgreSQL's boolean
}

long long count(const Service& s, const std::string& sql) {
  const auto rows = s.sql_rows(sql);
  REQUIRE(rows.size() == 1);
  return std::stoll(rows[0][0]);
}

json workload(HttpClient& c, const Service& s, const std::string& reviewer, const std::string& domain) {
  auto r = c.request("GET", "/v1/admin/reviewers", s.admin);
  REQUIRE(r.status == 200);
  const json all = r.json();
  for (auto& rv : all["reviewers"])
    if (rv["id"] == reviewer) return rv["workload"][domain];
  FAIL("reviewer " << reviewer << " not listed: " << r.body);
  return {};
}

void register_reviewer(HttpClient& c, const Service& s, json body) {
  auto r = c.request("POST", "/v1/admin/reviewers", s.admin, body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
}

// Waits (real time) until the stored task satisfies `ok`; the SLA timer runs about once per 5 s.
template <class Pred>
json wait_for_task(const Service& s, long long id, Pred ok) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  json t = stored_task(s, id);
  while (!ok(t) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    t = stored_task(s, id);
  }
  return t;
}

}  // namespace

TEST_CASE("gold tasks are mixed in and score reviewers but are never decisions reports or webhooks", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto dave = s.token("reviewer", "dave", "qa");
  s.start();
  HttpClient c(s.port());
  register_reviewer(c, s, {{"id", "dave"}, {"domains", {"qa"}}, {"capacity", 5}});

  // gold_rate = 1: each flagged prediction brings one gold task; the client sees only its own.
  auto r = c.request("POST", "/v1/domains/qa/predictions", s.client,
                     prediction("real-1", {{"amount", 100}}).dump() + "\n" + prediction("real-2", {{"amount", 200}}).dump(),
                     "application/x-ndjson");
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.json()["results"].size() == 2);
  CHECK(r.json()["results"][0]["id"] == "real-1");
  CHECK(r.json()["results"][1]["id"] == "real-2");
  CHECK(count(s, "SELECT COUNT(*) FROM tasks WHERE domain = 'qa'") == 4);
  CHECK(count(s, "SELECT COUNT(*) FROM tasks WHERE domain = 'qa' AND gold AND gold_label = 'bad'") == 2);
  CHECK(count(s, "SELECT COUNT(*) FROM audit WHERE action = 'gold.created'") == 2);
  CHECK(count(s, "SELECT COUNT(DISTINCT reviews_required) FROM tasks WHERE domain = 'qa'") == 1);

  // To the reviewer a gold task is a task like any other: a UUID id, the shown prediction, no mark.
  int gold_seen = 0;
  std::string gold_id;
  for (int i = 0; i < 4; ++i) {
    auto t = next(c, dave, "qa");
    REQUIRE(t.status == 200);
    json j = t.json();
    CHECK(j.size() == 13);  // the same fields as every claimed task
    CHECK(t.body.find("gold") == std::string::npos);
    const long long id = j["task_id"];
    if (j["input"]["amount"] == 777) {
      ++gold_seen;
      CHECK(j["decision_id"].get<std::string>().size() == 36);
      gold_id = j["decision_id"];
      CHECK(j["prediction"]["label"] == "good");
      CHECK(j["reason"] == "low_confidence");
      // The first gold answer follows the wrong model label, the second catches it.
      auto out = answer(c, dave, id, gold_seen == 1 ? "" : "bad");
      REQUIRE(out.status == 200);
    } else {
      REQUIRE(answer(c, dave, id, "bad").status == 200);
    }
  }
  CHECK(gold_seen == 2);
  // The gold case's trace names the known answer: reviewers never see it, an auditor does.
  auto gt = c.request("GET", "/v1/domains/qa/decisions/" + gold_id + "/trace", dave).json();
  CHECK(gt["blind"] == true);
  CHECK(gt["audit"].empty());
  CHECK(gt["reviews"].empty());
  auto at = c.request("GET", "/v1/domains/qa/decisions/" + gold_id + "/trace", s.admin);
  CHECK(at.body.find("gold.created") != std::string::npos);
  CHECK(c.request("GET", "/v1/domains/qa/decisions/real-1/trace", dave).json()["blind"] == false);
  CHECK(next(c, dave, "qa").status == 204);

  auto w = workload(c, s, "dave", "qa");
  CHECK(w["gold_answers"] == 2);
  CHECK(w["gold_accuracy"].get<double>() == Approx(0.5));

  // Only the real records are the domain's traffic: decisions, feedback, webhooks, report, metrics.
  CHECK(count(s, "SELECT COUNT(*) FROM feedback WHERE domain = 'qa'") == 2);
  CHECK(count(s, "SELECT COUNT(*) FROM feedback WHERE domain = 'qa' AND decision_id NOT LIKE 'real-%'") == 0);
  CHECK(count(s, "SELECT COUNT(*) FROM decisions WHERE domain = 'qa' AND final_label != ''") == 2);
  CHECK(count(s, "SELECT COUNT(*) FROM deliveries WHERE domain = 'qa' AND decision_id NOT LIKE 'real-%'") == 0);
  CHECK(count(s, "SELECT COUNT(*) FROM deliveries WHERE domain = 'qa'") == 2);
  auto rep = c.request("GET", "/v1/domains/qa/report", s.admin);
  REQUIRE(rep.status == 200);
  CHECK(rep.json()["predictions"] == 2);
  CHECK(rep.json()["flagged"] == 2);
  CHECK(rep.json()["turnaround"]["completed"] == 2);
  auto m = c.request("GET", "/metrics", s.admin);
  CHECK(m.body.find("hitl_reviews_total{domain=\"qa\",outcome=\"correct\"} 2") != std::string::npos);
  CHECK(m.body.find("hitl_reviews_total{domain=\"qa\",outcome=\"approve\"} 0") != std::string::npos);
}

TEST_CASE("a gold_file with a bad line stops the start naming file and line", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  f.dir.write("gold.jsonl", "{\"input\": {}, \"prediction\": {\"label\": \"good\", \"confidence\": 0.5}, \"label\": \"maybe\"}\n");
  REQUIRE_THROWS_WITH(s.start(), Catch::Contains("gold.jsonl:1: label: \"maybe\" is not a label of the domain (good, bad)"));
}

TEST_CASE("consensus: two agreeing blind reviews finalise the case and count as agreement", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf"), bob = s.token("reviewer", "bob", "wf");
  s.start();
  HttpClient c(s.port());
  register_reviewer(c, s, {{"id", "alice"}, {"capacity", 5}});
  register_reviewer(c, s, {{"id", "bob"}, {"capacity", 5}});
  const auto id = flag(c, s.client, "wf", "big-1", {{"amount", 50000}});

  auto first = next(c, alice, "wf");
  REQUIRE(first.status == 200);
  REQUIRE(answer(c, alice, id, "bad").status == 200);
  // One answer of two: not decided, back in the queue, and never to alice again (four-eyes).
  auto d = c.request("GET", "/v1/domains/wf/decisions/big-1", s.client).json();
  CHECK(d["final_label"].is_null());
  CHECK(stored_task(s, id)["status"] == "pending");
  CHECK(stored_task(s, id)["reviews_done"] == 1);
  CHECK(next(c, alice, "wf").status == 204);
  // While the task is open a reviewer's trace shows no review and no audit record; an admin's does.
  auto blind = c.request("GET", "/v1/domains/wf/decisions/big-1/trace", bob).json();
  CHECK(blind["blind"] == true);
  CHECK(blind["reviews"].empty());
  CHECK(blind["audit"].empty());
  CHECK(c.request("GET", "/v1/domains/wf/decisions/big-1/trace", s.admin).json()["reviews"].size() == 1);

  // bob's view shows nothing of alice's answer.
  auto second = next(c, bob, "wf");
  REQUIRE(second.status == 200);
  CHECK(second.json()["task_id"] == id);
  CHECK(second.body.find("alice") == std::string::npos);
  CHECK(second.json().size() == first.json().size());
  CHECK(second.json()["prediction"] == first.json()["prediction"]);
  REQUIRE(answer(c, bob, id, "bad").status == 200);

  d = c.request("GET", "/v1/domains/wf/decisions/big-1", s.client).json();
  CHECK(d["final_label"] == "bad");
  CHECK(stored_task(s, id)["status"] == "completed");
  CHECK(count(s, "SELECT COUNT(*) FROM feedback WHERE decision_id = 'big-1'") == 1);
  auto after = c.request("GET", "/v1/domains/wf/decisions/big-1/trace", bob).json();
  CHECK(after["blind"] == false);
  CHECK(after["reviews"].size() == 2);
  CHECK(workload(c, s, "alice", "wf")["agreement"].get<double>() == Approx(1.0));
  CHECK(workload(c, s, "bob", "wf")["consensus_rounds"] == 1);
}

TEST_CASE("a consensus task pushed to one reviewer reaches a second one after the first answer", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf"), bob = s.token("reviewer", "bob", "wf");
  s.start();
  HttpClient c(s.port());
  register_reviewer(c, s, {{"id", "alice"}, {"capacity", 5}});
  register_reviewer(c, s, {{"id", "bob"}, {"capacity", 5}});
  const auto id = flag(c, s.client, "wf", "pinned-1", {{"amount", 20000}});
  REQUIRE(c.request("POST", task_path(id, "assign"), s.admin, R"({"reviewer":"alice"})").status == 200);
  CHECK(next(c, bob, "wf").status == 204);  // reserved for alice
  REQUIRE(next(c, alice, "wf").status == 200);
  REQUIRE(answer(c, alice, id).status == 200);
  auto second = next(c, bob, "wf");  // the pin is spent: the second answer is bob's to give
  REQUIRE(second.status == 200);
  CHECK(second.json()["task_id"] == id);
  REQUIRE(answer(c, bob, id).status == 200);
  CHECK(c.request("GET", "/v1/domains/wf/decisions/pinned-1", s.client).json()["final_label"] == "good");

  // Sent back, it needs two fresh answers again, from reviewers who have not seen it.
  REQUIRE(c.request("POST", task_path(id, "send-back"), s.admin, R"({"reason":"audit sample"})").status == 200);
  CHECK(stored_task(s, id)["reviews_done"] == 0);
  CHECK(next(c, alice, "wf").status == 204);
  const auto erin = s.token("reviewer", "erin", "wf"), finn = s.token("reviewer", "finn", "wf");
  REQUIRE(next(c, erin, "wf").status == 200);
  REQUIRE(answer(c, erin, id, "bad").status == 200);
  CHECK(stored_task(s, id)["status"] == "pending");
  REQUIRE(next(c, finn, "wf").status == 200);
  REQUIRE(answer(c, finn, id, "bad").status == 200);
  CHECK(stored_task(s, id)["status"] == "completed");
  CHECK(c.request("GET", "/v1/domains/wf/decisions/pinned-1", s.client).json()["final_label"] == "bad");
}

TEST_CASE("consensus: disagreement goes to an adjudicator whose answer decides", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf"), bob = s.token("reviewer", "bob", "wf"),
             erin = s.token("reviewer", "erin", "wf"), judge = s.token("reviewer", "judge", "wf");
  s.start();
  HttpClient c(s.port());
  for (auto* who : {"alice", "bob", "erin"}) register_reviewer(c, s, {{"id", who}, {"capacity", 5}});
  register_reviewer(c, s, {{"id", "judge"}, {"roles", {"reviewer", "adjudicator"}}, {"capacity", 5}});
  const auto id = flag(c, s.client, "wf", "big-2", {{"amount", 60000}});

  REQUIRE(next(c, alice, "wf").status == 200);
  REQUIRE(answer(c, alice, id).status == 200);  // good
  REQUIRE(next(c, bob, "wf").status == 200);
  REQUIRE(answer(c, bob, id, "bad").status == 200);

  auto t = stored_task(s, id);
  CHECK(t["status"] == "escalated");
  CHECK(t["pool"] == "adjudicator");
  CHECK(count(s, "SELECT COUNT(*) FROM audit WHERE action = 'task.escalated' AND entity_id = '" + std::to_string(id) + "'") == 1);
  CHECK(c.request("GET", "/v1/domains/wf/decisions/big-2", s.client).json()["final_label"].is_null());
  // Not the reviewers who answered, not a reviewer without the adjudicator role.
  CHECK(next(c, alice, "wf").status == 204);
  CHECK(next(c, erin, "wf").status == 204);
  auto adj = next(c, judge, "wf");
  REQUIRE(adj.status == 200);
  CHECK(adj.json()["task_id"] == id);
  CHECK(adj.body.find("alice") == std::string::npos);
  CHECK(adj.body.find("bob") == std::string::npos);
  REQUIRE(answer(c, judge, id, "bad").status == 200);

  CHECK(c.request("GET", "/v1/domains/wf/decisions/big-2", s.client).json()["final_label"] == "bad");
  CHECK(stored_task(s, id)["status"] == "completed");
  CHECK(workload(c, s, "alice", "wf")["agreement"].get<double>() == Approx(0.0));
  CHECK(workload(c, s, "bob", "wf")["agreement"].get<double>() == Approx(1.0));
}

TEST_CASE("four-eyes: no reviewer gets a case from their own account or one they reviewed", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto bob = s.token("reviewer", "bob", "wf"), carol = s.token("reviewer", "carol", "wf");
  s.start();
  HttpClient c(s.port());
  // The admin account "root" submits a case: root (who may also review) never gets it.
  const auto own = flag(c, s.admin, "wf", "own-1", {{"amount", 100}});
  CHECK(next(c, s.admin, "wf").status == 204);
  auto push = c.request("POST", task_path(own, "assign"), s.admin, R"({"reviewer":"root"})");
  INFO(push.body);
  CHECK(push.status == 409);
  CHECK(push.json()["error"]["code"] == "not_eligible");
  CHECK(push.json()["error"]["message"].get<std::string>().find("four-eyes") != std::string::npos);
  auto b = next(c, bob, "wf");
  REQUIRE(b.status == 200);
  CHECK(b.json()["task_id"] == own);
  REQUIRE(answer(c, bob, own).status == 200);

  // Sent back for re-review: bob reviewed it already, so it is not his again; nor root's.
  REQUIRE(c.request("POST", task_path(own, "send-back"), s.admin, R"({"reason":"check income"})").status == 200);
  CHECK(next(c, bob, "wf").status == 204);
  CHECK(next(c, s.admin, "wf").status == 204);
  auto pushed_back = c.request("POST", task_path(own, "assign"), s.admin, R"({"reviewer":"bob"})");
  CHECK(pushed_back.status == 409);
  CHECK(pushed_back.json()["error"]["message"].get<std::string>().find("four-eyes") != std::string::npos);
  auto third = next(c, carol, "wf");
  REQUIRE(third.status == 200);
  CHECK(third.json()["task_id"] == own);
}

TEST_CASE("push assignment reserves a task for one eligible reviewer", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf"), bob = s.token("reviewer", "bob", "wf");
  s.start();
  HttpClient c(s.port());
  register_reviewer(c, s, {{"id", "alice"}, {"capacity", 5}, {"skills", {"fr"}}});
  register_reviewer(c, s, {{"id", "bob"}, {"capacity", 5}});
  const auto plain = flag(c, s.client, "wf", "p-1", {{"amount", 100}});
  const auto french = flag(c, s.client, "wf", "p-2", {{"amount", 100}, {"skill", "fr"}});
  const auto senior = flag(c, s.client, "wf", "p-3", {{"amount", 100}, {"pool", "senior"}});

  auto r = c.request("POST", task_path(plain, "assign"), s.admin, R"({"reviewer":"bob","reason":"knows the customer"})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.json()["preassigned"] == "bob");
  auto refused = c.request("POST", task_path(french, "assign"), s.admin, R"({"reviewer":"bob"})");
  CHECK(refused.status == 409);
  CHECK(refused.json()["error"]["code"] == "not_eligible");
  CHECK(refused.json()["error"]["message"].get<std::string>().find("skill") != std::string::npos);
  CHECK(c.request("POST", task_path(senior, "assign"), s.admin, "").json()["error"]["code"] == "no_eligible_reviewer");
  CHECK(c.request("POST", task_path(plain, "assign"), bob, R"({"reviewer":"bob"})").status == 403);

  // alice gets the French case, never bob's; bob gets his pushed task.
  auto a = next(c, alice, "wf");
  REQUIRE(a.status == 200);
  CHECK(a.json()["task_id"] == french);
  REQUIRE(answer(c, alice, french).status == 200);
  CHECK(next(c, alice, "wf").status == 204);
  auto bt = next(c, bob, "wf");
  REQUIRE(bt.status == 200);
  CHECK(bt.json()["task_id"] == plain);

  // Reassign moves a held task to someone else (default choice: any eligible reviewer).
  auto re = c.request("POST", task_path(plain, "reassign"), s.admin, R"({"reviewer":"alice","reason":"bob is away"})");
  INFO(re.body);
  REQUIRE(re.status == 200);
  CHECK(answer(c, bob, plain).status == 409);
  auto at = next(c, alice, "wf");
  REQUIRE(at.status == 200);
  CHECK(at.json()["task_id"] == plain);
}

TEST_CASE("fatigue and capacity limits refuse a claim with a clear reason", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "fat,wf"), bob = s.token("reviewer", "bob", "wf");
  s.start();
  HttpClient c(s.port());
  register_reviewer(c, s, {{"id", "bob"}, {"capacity", 1}});
  for (int i = 0; i < 3; ++i) flag(c, s.client, "fat", "f-" + std::to_string(i), {{"amount", 100}});
  for (int i = 0; i < 2; ++i) {
    auto t = next(c, alice, "fat");
    REQUIRE(t.status == 200);
    REQUIRE(answer(c, alice, t.json()["task_id"].get<long long>()).status == 200);
  }
  auto tired = next(c, alice, "fat");
  CHECK(tired.status == 409);
  CHECK(tired.json()["error"]["code"] == "fatigue_limit");
  CHECK(tired.json()["error"]["message"].get<std::string>().find("max_consecutive 2") != std::string::npos);
  // A task of another domain breaks the run.
  const auto other = flag(c, s.client, "wf", "w-1", {{"amount", 100}});
  REQUIRE(next(c, alice, "wf").status == 200);
  REQUIRE(answer(c, alice, other).status == 200);
  CHECK(next(c, alice, "fat").status == 200);

  flag(c, s.client, "wf", "w-2", {{"amount", 100}});
  flag(c, s.client, "wf", "w-3", {{"amount", 100}});
  REQUIRE(next(c, bob, "wf").status == 200);
  auto full = next(c, bob, "wf");
  CHECK(full.status == 409);
  CHECK(full.json()["error"]["code"] == "capacity_reached");
  CHECK(workload(c, s, "bob", "wf")["held"] == 1);
}

TEST_CASE("escalation chain: at risk raises priority then a breach moves the task to seniors", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf"), sam = s.token("reviewer", "sam", "wf");
  s.start();
  HttpClient c0(s.port());
  register_reviewer(c0, s, {{"id", "sam"}, {"roles", {"reviewer", "senior"}}, {"capacity", 5}});
  const auto chain = flag(c0, s.client, "wf", "sla-1", {{"amount", 1000}, {"sla", 100}});
  const auto fallback = flag(c0, s.client, "wf", "sla-2", {{"amount", 1000}, {"sla", 100}, {"fallback", true}});
  CHECK(stored_task(s, chain)["priority"].get<double>() == Approx(0.01));
  s.stop();

  // 85 s later (of 100): at risk -> priority 0.95, still in the ordinary pool.
  s.start(85'000);
  auto t = wait_for_task(s, chain, [](const json& j) { return j["sla_state"] == "at_risk"; });
  CHECK(t["sla_state"] == "at_risk");
  CHECK(t["priority"].get<double>() == Approx(0.95));
  CHECK(t["pool"] == "");
  CHECK(t["status"] == "pending");
  s.stop();

  // 101 s later: breached -> seniors take over and the domain's webhook gets a notice; the
  // other case gets the policy's default decision.
  s.start(101'000);
  t = wait_for_task(s, chain, [](const json& j) { return j["sla_state"] == "breached"; });
  CHECK(t["sla_state"] == "breached");
  CHECK(t["pool"] == "senior");
  CHECK(t["escalations"] == 2);
  auto fb = wait_for_task(s, fallback, [](const json& j) { return j["status"] == "cancelled"; });
  CHECK(fb["status"] == "cancelled");
  HttpClient c(s.port());
  auto d = c.request("GET", "/v1/domains/wf/decisions/sla-2", s.client).json();
  CHECK(d["final_label"] == "bad");
  CHECK(d["final_outcome"] == "default");
  CHECK(count(s, "SELECT COUNT(*) FROM deliveries WHERE decision_id = 'sla-1'") == 1);  // the notice
  CHECK(count(s, "SELECT COUNT(*) FROM deliveries WHERE decision_id = 'sla-2'") == 1);  // the final decision
  CHECK(count(s, "SELECT COUNT(*) FROM audit WHERE action IN ('task.sla_at_risk', 'task.sla_breached') AND entity_id = '" +
                     std::to_string(chain) + "'") == 2);

  CHECK(next(c, alice, "wf").status == 204);
  auto st = next(c, sam, "wf");
  REQUIRE(st.status == 200);
  CHECK(st.json()["task_id"] == chain);
  auto sla_metric = c.request("GET", "/metrics", s.admin).body;
  CHECK(sla_metric.find("hitl_sla_breaches_total{domain=\"wf\"} 2") != std::string::npos);
}

TEST_CASE("the reviewer registry from the CLI and the admin API", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto dave = s.token("reviewer", "dave", "wf");
  auto add = run_hitl("reviewer add --config " + s.config.string() +
                      " --id dave --name 'Dave D' --roles reviewer,senior --domains wf --skills fr,de --capacity 3 --cost-per-hour 40");
  INFO(add.out);
  REQUIRE(add.exit_code == 0);
  CHECK(add.out.find("reviewer dave: roles reviewer,senior, domains wf, skills fr,de, capacity 3") != std::string::npos);
  auto bad = run_hitl("reviewer add --config " + s.config.string() + " --id x --domains nowhere");
  CHECK(bad.exit_code != 0);
  CHECK(bad.out.find("--domains: no domain named \"nowhere\"") != std::string::npos);
  auto list = run_hitl("reviewer list --config " + s.config.string());
  REQUIRE(list.exit_code == 0);
  CHECK(list.out.find("dave") != std::string::npos);
  CHECK(list.out.find("active") != std::string::npos);
  REQUIRE(run_hitl("reviewer disable --config " + s.config.string() + " --id dave").exit_code == 0);
  CHECK(run_hitl("reviewer disable --config " + s.config.string() + " --id nobody").exit_code != 0);

  s.start();
  HttpClient c(s.port());
  flag(c, s.client, "wf", "r-1", {{"amount", 100}});
  auto refused = next(c, dave, "wf");
  CHECK(refused.status == 403);
  CHECK(refused.json()["error"]["code"] == "reviewer_disabled");

  auto en = c.request("POST", "/v1/admin/reviewers/dave/enable", s.admin, "");
  REQUIRE(en.status == 200);
  CHECK(en.json()["disabled"] == false);
  CHECK(en.json()["skills"] == json::array({"fr", "de"}));
  CHECK(en.json()["cost_per_hour"].get<double>() == Approx(40));
  auto held = next(c, dave, "wf");
  REQUIRE(held.status == 200);
  const long long held_id = held.json()["task_id"];

  auto all = c.request("GET", "/v1/admin/reviewers", s.admin);
  REQUIRE(all.status == 200);
  REQUIRE(all.json()["reviewers"].size() == 1);
  CHECK(all.json()["reviewers"][0]["workload"]["wf"]["held"] == 1);
  CHECK(all.json()["reviewers"][0]["workload"].size() == 1);  // registered for wf only

  // Updates keep the fields not sent; bad values get 422 naming the field; others may not.
  auto up = c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"dave","capacity":7})");
  REQUIRE(up.status == 200);
  CHECK(up.json()["capacity"] == 7);
  CHECK(up.json()["roles"] == json::array({"reviewer", "senior"}));
  // A CLI change made meanwhile is not overwritten by the API's next update (it reads afresh).
  REQUIRE(run_hitl("reviewer add --config " + s.config.string() + " --id dave --domains wf --skills es --capacity 2").exit_code == 0);
  auto up2 = c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"dave","capacity":9})");
  REQUIRE(up2.status == 200);
  CHECK(up2.json()["skills"] == json::array({"es"}));
  CHECK(up2.json()["capacity"] == 9);
  CHECK(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"z","domains":["nowhere"]})").json()["error"]["field"] ==
        "domains");
  CHECK(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"z","capacity":"lots"})").status == 422);
  CHECK(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"name":"no id"})").status == 422);
  CHECK(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"z","shoe_size":9})").status == 422);
  CHECK(c.request("POST", "/v1/admin/reviewers", s.admin, "{").status == 400);
  CHECK(c.request("POST", "/v1/admin/reviewers/nobody/disable", s.admin, "").status == 404);
  CHECK(c.request("GET", "/v1/admin/reviewers", dave).status == 403);
  CHECK(c.request("GET", "/v1/admin/reviewers", s.client).status == 403);

  // Disabling through the API hands their held task back at once; they can no longer submit.
  auto dis = c.request("POST", "/v1/admin/reviewers/dave/disable", s.admin, "");
  REQUIRE(dis.status == 200);
  CHECK(dis.json()["released_tasks"] == json::array({held_id}));
  CHECK(stored_task(s, held_id)["status"] == "pending");
  auto late = answer(c, dave, held_id);
  CHECK(late.status == 409);  // released: no longer theirs
  CHECK(count(s, "SELECT COUNT(*) FROM audit WHERE entity = 'reviewer' AND entity_id = 'dave'") >= 5);
}

TEST_CASE("the task list filters by domain status assignee priority and SLA state with a cursor", "[workflow]") {
  WorkflowFiles f;
  Service s(f.domains);
  const auto alice = s.token("reviewer", "alice", "wf");
  s.start();
  HttpClient c(s.port());
  std::set<long long> all;
  for (int i = 0; i < 7; ++i) all.insert(flag(c, s.client, "wf", "l-" + std::to_string(i), {{"amount", 10000 * (i % 2) + 100}}));
  flag(c, s.client, "loans", "other-domain", {{"amount", 100}});
  auto claimed = next(c, alice, "wf");
  REQUIRE(claimed.status == 200);
  const long long held = claimed.json()["task_id"];

  // Pages of 3 cover the domain's 7 tasks once each, in task order.
  std::set<long long> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto r = c.request("GET", "/v1/review/tasks?domain=wf&limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), s.admin);
    INFO(r.body);
    REQUIRE(r.status == 200);
    ++pages;
    const json page = r.json();
    for (auto& t : page["tasks"]) {
      CHECK(t["domain"] == "wf");
      CHECK(seen.insert(t["task_id"].get<long long>()).second);
    }
    if (r.json()["next_cursor"].is_null()) break;
    cursor = std::to_string(r.json()["next_cursor"].get<long long>());
    REQUIRE(pages < 10);
  }
  CHECK(seen == all);
  CHECK(pages == 3);

  auto by_assignee = c.request("GET", "/v1/review/tasks?domain=wf&assignee=alice", s.admin).json()["tasks"];
  REQUIRE(by_assignee.size() == 1);
  CHECK(by_assignee[0]["task_id"] == held);
  CHECK(c.request("GET", "/v1/review/tasks?domain=wf&status=assigned", alice).json()["tasks"].size() == 1);
  CHECK(c.request("GET", "/v1/review/tasks?domain=wf&status=pending", s.admin).json()["tasks"].size() == 6);
  const json high = c.request("GET", "/v1/review/tasks?domain=wf&min_priority=0.1", s.admin).json();
  for (auto& t : high["tasks"]) CHECK(t["priority"].get<double>() >= 0.1);
  CHECK(c.request("GET", "/v1/review/tasks?domain=wf&min_priority=0.1", s.admin).json()["tasks"].size() == 3);
  CHECK(c.request("GET", "/v1/review/tasks?sla_state=breached", s.admin).json()["tasks"].empty());
  CHECK(c.request("GET", "/v1/review/tasks", s.admin).json()["tasks"].size() == 8);

  CHECK(c.request("GET", "/v1/review/tasks?status=lost", s.admin).status == 422);
  CHECK(c.request("GET", "/v1/review/tasks?sla_state=late", s.admin).status == 422);
  CHECK(c.request("GET", "/v1/review/tasks?limit=0", s.admin).status == 422);
  CHECK(c.request("GET", "/v1/review/tasks?cursor=abc", s.admin).status == 422);
  CHECK(c.request("GET", "/v1/review/tasks?domain=nowhere", s.admin).status == 404);
  CHECK(c.request("GET", "/v1/review/tasks", alice).status == 422);               // a reviewer names a domain
  CHECK(c.request("GET", "/v1/review/tasks?domain=loans", alice).status == 403);  // and only their own
  CHECK(c.request("GET", "/v1/review/tasks?domain=wf", s.client).status == 403);
}

TEST_CASE("a domain-scoped admin token reports erases and manages reviewers only inside its domains", "[workflow]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const std::string scoped = s.token("admin", "loans-admin", "loans");
  // Report and erasure: only in its domain.
  CHECK(c.request("GET", "/v1/domains/loans/report", scoped).status == 200);
  CHECK(c.request("GET", "/v1/domains/credit_risk/report", scoped).status == 403);
  REQUIRE(c.request("POST", "/v1/domains/credit_risk/predictions", s.client,
                    R"({"id":"x-1","input":{"Amount":1},"prediction":{"label":"good","confidence":0.99}})").status == 200);
  CHECK(c.request("DELETE", "/v1/domains/credit_risk/decisions/x-1/payload?reason=test", scoped).status == 403);
  CHECK(c.request("DELETE", "/v1/domains/credit_risk/decisions/x-1/payload?reason=test", s.admin).status == 200);
  // Reviewers: the unscoped admin registers one per domain and one for every domain.
  REQUIRE(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"lena","domains":["loans"]})").status == 200);
  REQUIRE(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"cris","domains":["credit_risk"]})").status == 200);
  REQUIRE(c.request("POST", "/v1/admin/reviewers", s.admin, R"({"id":"omni"})").status == 200);
  auto listed = c.request("GET", "/v1/admin/reviewers", scoped).json();
  std::set<std::string> ids;
  for (auto& r : listed["reviewers"]) ids.insert(r["id"].get<std::string>());
  CHECK(ids == std::set<std::string>{"lena"});
  CHECK(c.request("POST", "/v1/admin/reviewers", scoped, R"({"id":"lena","capacity":3})").status == 200);
  CHECK(c.request("POST", "/v1/admin/reviewers", scoped, R"({"id":"cris","capacity":3})").status == 403);
  CHECK(c.request("POST", "/v1/admin/reviewers", scoped, R"({"id":"lena","domains":["loans","credit_risk"]})").status == 403);
  CHECK(c.request("POST", "/v1/admin/reviewers", scoped, R"({"id":"newbie"})").status == 403);  // every domain
  CHECK(c.request("POST", "/v1/admin/reviewers", scoped, R"({"id":"newbie","domains":["loans"]})").status == 200);
  CHECK(c.request("POST", "/v1/admin/reviewers/omni/disable", scoped, "").status == 403);
  CHECK(c.request("POST", "/v1/admin/reviewers/lena/disable", scoped, "").status == 200);
  const auto all = c.request("GET", "/v1/admin/reviewers", s.admin).json();
  CHECK(all["reviewers"].size() == 4);

  // The task list of every domain fills its pages from the token's domains, past the others.
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.request("POST", "/v1/domains/broken/predictions", s.client,
                      json{{"id", "b-" + std::to_string(i)}, {"input", {{"a", i}}},
                           {"prediction", {{"label", "yes"}, {"confidence", 0.5}}}}.dump()).status == 200);
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.request("POST", "/v1/domains/loans/predictions", s.client,
                      json{{"id", "l-" + std::to_string(i)}, {"input", {{"amount", 10}}},
                           {"prediction", {{"label", "good"}, {"confidence", 0.5}}}}.dump()).status == 200);
  CHECK(c.request("GET", "/v1/review/tasks?domain=broken", scoped).status == 403);
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (; pages < 5; ++pages) {
    auto r = c.request("GET", "/v1/review/tasks?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), scoped);
    REQUIRE(r.status == 200);
    const json page = r.json();
    for (auto& t : page["tasks"]) {
      CHECK(t["domain"] == "loans");
      seen.push_back(t["decision_id"].get<std::string>());
    }
    if (page["next_cursor"].is_null()) break;
    CHECK(page["tasks"].size() == 2);  // a full page, though the broken domain's tasks came first
    cursor = std::to_string(page["next_cursor"].get<long long>());
  }
  CHECK(seen == std::vector<std::string>{"l-0", "l-1", "l-2"});
  CHECK(pages == 1);
}
