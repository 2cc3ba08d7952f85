// Policy changes without downtime (app/policy_reloader.hpp, docs/policy.md "Changing a running
// policy") against a real `hitl serve`: the policy is swapped by a file change, the admin route
// and SIGHUP while clients send predictions without pause, and no request fails; every decision
// records the hash of the policy that decided it; a broken candidate and one that fails its cases
// are refused (visible in /healthz and the admin route) while the old one keeps serving; the
// shadow policy's difference counts are exact on a known batch.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {

// Routes on confidence, with a reason naming the generation, so a decision tells which policy
// made it.
std::string live_policy(const std::string& generation) {
  return "local hitl = require 'hitl'\nreturn { version = '" + generation + "',\n"
         "  flag = function(p)\n"
         "    if p.prediction.confidence >= 0.9 then return hitl.auto() end\n"
         "    return hitl.review('low_" + generation + "')\n"
         "  end,\n"
         "  priority = function(task) return math.min(1, (task.input.amount or 0) / 100000) end }\n";
}

// Cases every good generation passes: a confident record is automatic, a doubtful one reviewed.
const char* kCases =
    R"({"name": "confident is automatic", "input": {"amount": 10}, "prediction": {"label": "good", "confidence": 0.95}, "expect": {"verdict": "auto"}})"
    "\n"
    R"({"name": "doubtful is reviewed", "input": {"amount": 10}, "prediction": {"label": "good", "confidence": 0.5}, "expect": {"verdict": "review"}})"
    "\n";

// The shadow: stricter on confidence, rejects the very doubtful, its own reason for the middle,
// and large amounts urgent; otherwise what the live generation g1 answers.
const char* kShadow = R"(
local hitl = require "hitl"
return {
  flag = function(p)
    local c = p.prediction.confidence
    if c >= 0.95 then return hitl.auto() end
    if c < 0.45 then return hitl.reject("very_low") end
    if c >= 0.6 and c < 0.65 then return hitl.review("middle") end
    return hitl.review("low_g1")
  end,
  priority = function(task)
    if (task.input.amount or 0) > 5000 then return 1 end
    return math.min(1, (task.input.amount or 0) / 100000)
  end,
}
)";

// What `read` answers once `done` holds of it, or null after 15 s.
json wait_until(const std::function<json()>& read, const std::function<bool(const json&)>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < until) {
    if (json j = read(); done(j)) return j;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return nullptr;
}

bool has_version(const json& status, const char* version) { return status["version"] == version; }

// Clients sending batches of predictions until stopped, counting every answer that is not 200.
struct Load {
  Service& s;
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0}, failed{0};
  std::vector<std::thread> threads;
  explicit Load(Service& svc, int clients) : s(svc) {
    for (int t = 0; t < clients; ++t)
      threads.emplace_back([this, t] {
        HttpClient c(s.port());
        for (int n = 0; !stop; ++n) {
          json batch = json::array();
          for (int k = 0; k < 4; ++k)
            batch.push_back({{"id", "load-" + std::to_string(t) + "-" + std::to_string(n) + "-" + std::to_string(k)},
                             {"input", {{"amount", 100 * k}}},
                             {"prediction", {{"label", "good"}, {"confidence", k % 2 ? 0.95 : 0.5}}}});
          const auto r = c.request("POST", "/v1/domains/reloading/predictions", s.client, batch.dump());
          ++sent;
          if (r.status != 200) ++failed;
        }
      });
  }
  void finish() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

// The service of these tests: domain "reloading" with the given policy and shadow files.
// `watch`: whether the housekeeping poll looks for changed policy files (policy.watch_seconds).
void start_reloading(Service& s, bool watch) {
  if (!watch)
    hitl::test::replace_in_config(s, "policy = { instruction_budget = 200000 }",
                                  "policy = { instruction_budget = 200000, watch_seconds = 0 }");
  s.start();
}

std::string domain_entry(const std::filesystem::path& policy, const std::filesystem::path& shadow) {
  return "reloading = { policy = \"" + policy.string() + "\", labels = { \"good\", \"bad\" }, shadow_policy = \"" +
         shadow.string() + "\" },";
}

std::vector<std::string> audited_triggers(const Service& s) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement a(db, "SELECT detail_json FROM audit WHERE action = 'policy.loaded' AND domain = 'reloading' ORDER BY seq");
  std::vector<std::string> triggers;
  while (a.executeStep()) triggers.push_back(json::parse(a.getColumn(0).getString())["trigger"]);
  return triggers;
}

// Every reviewed decision names the policy that decided it: its reason is that generation's.
// Returns how many generations decided some.
int check_generations(const Service& s, std::map<std::string, std::string>& reason_of_hash) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT policy_hash, reason, count(*) FROM decisions WHERE domain = 'reloading' "
                          "AND status = 'pending_review' GROUP BY policy_hash, reason");
  int generations = 0;
  while (q.executeStep()) {
    const std::string hash = q.getColumn(0).getString(), reason = q.getColumn(1).getString();
    INFO(hash << " " << reason);
    REQUIRE(reason_of_hash.count(hash));
    CHECK(reason_of_hash[hash] == reason);
    ++generations;
  }
  return generations;
}

}  // namespace

TEST_CASE("a policy is reloaded under HTTP load by the admin route and SIGHUP without a failed request",
          "[policy-reload]") {
  TempDir files;
  const auto policy = files.write("reload.lua", live_policy("g1"));
  files.write("reload.cases.jsonl", kCases);  // the default cases path: <stem>.cases.jsonl
  Service s(domain_entry(policy, files.write("reload_shadow.lua", kShadow)));
  start_reloading(s, /*watch=*/false);
  HttpClient admin(s.port());
  auto status = [&] { return admin.request("GET", "/v1/domains/reloading/policy", s.admin).json(); };
  const std::string g1 = status()["hash"];
  std::map<std::string, std::string> reason_of_hash{{g1, "low_g1"}};

  Load load(s, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // 1. The admin route.
  files.write("reload.lua", live_policy("g2"));
  auto loaded = admin.request("POST", "/v1/domains/reloading/policy/reload", s.admin, "{}");
  REQUIRE(loaded.status == 200);
  CHECK(loaded.json()["outcome"] == "loaded");
  CHECK(loaded.json()["from"] == g1);
  CHECK(loaded.json()["cases"] == 2);
  const std::string g2 = loaded.json()["to"];
  reason_of_hash[g2] = "low_g2";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // 2. A broken candidate: refused with its error, g2 keeps serving.
  files.write("reload.lua", "return { flag = function(p) return hitl.review( end }");
  auto broken = admin.request("POST", "/v1/domains/reloading/policy/reload", s.admin, "{}");
  CHECK(broken.status == 422);
  CHECK(broken.json()["error"]["code"] == "policy_refused");
  CHECK(broken.json()["error"]["message"].get<std::string>().find("refused_broken: ") == 0);
  CHECK(status()["hash"] == g2);

  // 3. A candidate that compiles but fails a case: refused, the failing case named.
  files.write("reload.lua", "local hitl = require 'hitl'\nreturn { flag = function(p) return hitl.review('all') end }\n");
  auto failing = admin.request("POST", "/v1/domains/reloading/policy/reload", s.admin, "{}");
  CHECK(failing.status == 422);
  const std::string why = failing.json()["error"]["message"];
  CHECK(why.find("refused_cases: 1 of 2 cases fail") == 0);
  CHECK(why.find("confident is automatic") != std::string::npos);
  const json st = status();
  CHECK(st["hash"] == g2);
  CHECK(st["last_refused"]["outcome"] == "refused_cases");
  CHECK(st["last_refused"]["trigger"] == "admin");
  const json health = admin.request("GET", "/healthz", "").json();
  CHECK(health["status"] == "ok");
  CHECK(health["policies"]["reloading"]["hash"] == g2);
  CHECK(health["policies"]["reloading"]["last_refused"]["outcome"] == "refused_cases");
  CHECK_FALSE(health["policies"]["reloading"]["last_refused"].contains("error"));  // no token: no error text

  // 4. SIGHUP.
  files.write("reload.lua", live_policy("g3"));
  REQUIRE(::kill(s.pid(), SIGHUP) == 0);
  const json after_hup = wait_until(status, [](const json& j) { return has_version(j, "g3"); });
  REQUIRE(after_hup.is_object());
  reason_of_hash[after_hup["hash"]] = "low_g3";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  load.finish();

  std::printf("policy reload under load: %d requests of 4 records, %d failed, 2 swaps, 2 refusals\n", load.sent.load(),
              load.failed.load());
  CHECK(load.sent > 20);
  CHECK(load.failed == 0);
  CHECK(after_hup["reloads"] == 2);
  CHECK(check_generations(s, reason_of_hash) == 3);
  CHECK(audited_triggers(s) == std::vector<std::string>{"admin", "signal"});
  const std::string metrics = admin.request("GET", "/metrics", s.admin).body;
  CHECK(metrics.find("hitl_policy_reloads_total{domain=\"reloading\",outcome=\"loaded\"} 2") != std::string::npos);
  CHECK(metrics.find("hitl_policy_reloads_total{domain=\"reloading\",outcome=\"refused_broken\"} 1") != std::string::npos);
  CHECK(metrics.find("hitl_policy_reloads_total{domain=\"reloading\",outcome=\"refused_cases\"} 1") != std::string::npos);
}

TEST_CASE("a changed policy file is taken by the poll under load, and a broken one refused", "[policy-reload]") {
  TempDir files;
  const auto policy = files.write("reload.lua", live_policy("g1"));
  files.write("reload.cases.jsonl", kCases);
  Service s(domain_entry(policy, files.write("reload_shadow.lua", kShadow)));
  start_reloading(s, /*watch=*/true);
  HttpClient admin(s.port());
  auto status = [&] { return admin.request("GET", "/v1/domains/reloading/policy", s.admin).json(); };
  std::map<std::string, std::string> reason_of_hash{{status()["hash"], "low_g1"}};

  // As a deploy does it: the whole file renamed into place, so the poll never sees half of one.
  auto replace = [&](const std::string& text) { std::filesystem::rename(files.write("reload.lua.new", text), policy); };
  Load load(s, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  replace(live_policy("g2"));
  const json after_poll = wait_until(status, [](const json& j) { return has_version(j, "g2"); });
  REQUIRE(after_poll.is_object());
  reason_of_hash[after_poll["hash"]] = "low_g2";
  replace("return { flag = 42 }");
  const json refused = wait_until([&] { return admin.request("GET", "/healthz", "").json()["policies"]["reloading"]; },
                                  [](const json& j) { return j["last_refused"].is_object(); });
  load.finish();
  REQUIRE(refused.is_object());
  CHECK(refused["last_refused"]["outcome"] == "refused_broken");
  CHECK(refused["last_refused"]["trigger"] == "file_change");
  CHECK(refused["hash"] == after_poll["hash"]);
  CHECK(load.failed == 0);
  CHECK(load.sent > 10);
  CHECK(check_generations(s, reason_of_hash) >= 1);
  CHECK(audited_triggers(s) == std::vector<std::string>{"file_change"});
  CHECK(s.log().find("candidate") != std::string::npos);
}

TEST_CASE("the shadow policy counts its routing differences from the live one by kind", "[policy-reload]") {
  TempDir files;
  Service s(domain_entry(files.write("live.lua", live_policy("g1")), files.write("shadow.lua", kShadow)));
  start_reloading(s, /*watch=*/false);
  HttpClient c(s.port());
  auto record = [](const std::string& id, double confidence, int amount) {
    return json{{"id", id}, {"input", {{"amount", amount}}}, {"prediction", {{"label", "good"}, {"confidence", confidence}}}};
  };
  const json batch = json::array({
      record("same-auto", 0.97, 10),        // both auto
      record("to-review", 0.92, 10),        // live auto, shadow review: auto->review
      record("to-reject", 0.40, 10),        // live review, shadow reject: review->reject
      record("same-review", 0.70, 100),     // both review low_g1 with one priority
      record("middle", 0.62, 100),          // both review, another reason: reason_changed
      record("urgent", 0.70, 9000),         // both review low_g1, priority 0.09 vs 1: priority_changed
  });
  REQUIRE(c.request("POST", "/v1/domains/reloading/predictions", s.client, batch.dump()).status == 200);
  const json shadow_counts = c.request("GET", "/v1/domains/reloading/policy", s.admin).json()["shadow"];
  INFO(shadow_counts.dump());
  CHECK(shadow_counts["records"] == 6);
  CHECK(shadow_counts["same"] == 2);
  CHECK(shadow_counts["different"] == 4);
  CHECK(shadow_counts["error"] == 0);
  const json expected = {{"auto->review", 1}, {"auto->reject", 0}, {"review->auto", 0}, {"review->reject", 1},
                         {"reject->auto", 0}, {"reject->review", 0}, {"reason_changed", 1}, {"priority_changed", 1}};
  CHECK(shadow_counts["differences"] == expected);
  const std::string metrics = c.request("GET", "/metrics", s.admin).body;
  CHECK(metrics.find("hitl_shadow_policy_differences_total{domain=\"reloading\",kind=\"priority_changed\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("hitl_shadow_policy_records_total{domain=\"reloading\",outcome=\"different\"} 4") != std::string::npos);
  // No effect: the live policy decided every record.
  auto d = c.request("GET", "/v1/domains/reloading/decisions/to-review", s.admin).json();
  CHECK(d["status"] == "auto_approved");
  d = c.request("GET", "/v1/domains/reloading/decisions/to-reject", s.admin).json();
  CHECK(d["status"] == "pending_review");
}
