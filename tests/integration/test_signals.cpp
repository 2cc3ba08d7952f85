// Flagging signals against a real `hitl serve`: hitl.stats() moving a threshold (per segment, with
// errors, reviews and open tasks), hitl.now() on a clock the test moves, ensembles (including a
// failing member), p.ood on an extreme input, and the judge step (including a failing judge).
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

using hitl::test::HttpClient;
using hitl::test::HttpResponse;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {

struct SignalFiles {
  TempDir dir;
  std::string domains;
  SignalFiles() {
    // busy: a threshold that moves with the region's recent flag rate; `report` cases answer the
    // figures hitl.stats sees, `explode` cases fail in the policy.
    auto busy = dir.write("busy.lua", R"(
local hitl = require "hitl"
return { flag = function(p)
  if p.input.explode then error("no rule") end
  if p.input.report then
    local s = hitl.stats(3600, p.meta.region)
    local all = hitl.stats(3600)
    return hitl.review(string.format("n%d_f%d_e%d_r%d_all%d_o%d", s.predictions, s.flagged, s.errors, all.reviews,
      all.predictions, p.input.open and all.open_tasks or -1))
  end
  -- Over half of the region's recent cases went to people: only the clearly uncertain ones still do.
  local s = hitl.stats(3600, p.meta.region)
  local threshold = 0.7
  if s.predictions >= 4 and s.flag_rate > 0.5 then threshold = 0.5 end
  if p.prediction.confidence < threshold then return hitl.review("uncertain") end
  return hitl.auto()
end }
)");
    auto clock = dir.write("clock.lua", R"(
local hitl = require "hitl"
return { flag = function(p)
  local n = hitl.now()
  local paris = hitl.now(1)
  if n.weekday >= 6 then return hitl.review("weekend_h" .. n.hour .. "_d" .. n.weekday .. "_paris" .. paris.hour) end
  return hitl.auto()
end }
)");
    // ens: reports every model of p.predictions and reviews any disagreement.
    auto ens = dir.write("ens.lua", R"(
local hitl = require "hitl"
return { flag = function(p)
  local parts = {}
  for _, x in ipairs(p.predictions) do parts[#parts + 1] = x.model .. "_" .. x.label end
  local share, majority = hitl.disagreement(p.predictions)
  if share > 0 then
    return hitl.review(string.format("split%.2f_%s_%s_primary_%s", share, majority, table.concat(parts, "_"), p.prediction.label))
  end
  return hitl.auto()
end }
)");
    // ood: far from the training data -> review naming the furthest feature.
    auto ood = dir.write("ood.lua", R"(
local hitl = require "hitl"
return { flag = function(p)
  if p.ood == nil then return hitl.review("no_ood") end
  if p.ood.score > 6 then return hitl.review(string.format("ood_%s_%d", p.ood.furthest[1].feature, #p.ood.furthest)) end
  return hitl.auto()
end }
)");
    // judged: large loans are screened by the judge model (the constant model: "yes" at 0.75).
    auto judged = dir.write("judged.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if p.input.Amount > 2000 then return hitl.judge("large") end
    return hitl.auto()
  end,
  judge = function(p, verdict)
    if p.input.Amount == 7777 then error("judge rule broke") end
    if p.input.Amount >= 9000 then return hitl.reject("judge_" .. verdict.model .. "_" .. verdict.label) end
    if verdict.label == "yes" and verdict.confidence >= 0.7 and verdict.reason == "large" then return hitl.auto() end
    return hitl.review("judge_unsure")
  end,
}
)");
    auto nohook = dir.write("nohook.lua", R"(
local hitl = require "hitl"
return { flag = function(p) return hitl.judge("large") end }
)");
    auto plain = dir.write("plain.lua", R"(
local hitl = require "hitl"
return { flag = function(p)
  local x = p.predictions[1]
  return hitl.review(#p.predictions .. "_" .. x.model .. "_" .. x.version:sub(1, 7))
end }
)");
    domains = "plain = { policy = \"" + plain.string() + R"(", labels = { "good", "bad" }, model = "credit" },
)";
    domains += "judged = { policy = \"" + judged.string() + R"(", labels = { "good", "bad" }, model = "credit", judge_model = "const" },
    judged_down = { policy = ")" + judged.string() + R"(", labels = { "good", "bad" }, model = "credit", judge_model = "down" },
    judged_nohook = { policy = ")" + nohook.string() + R"(", labels = { "good", "bad" }, model = "credit", judge_model = "const" },
    judged_none = { policy = ")" + nohook.string() + R"(", labels = { "good", "bad" }, model = "credit" },
)";
    domains += "ens2 = { policy = \"" + ens.string() + R"(", labels = { "good", "bad" }, model = "credit", ensemble = { "credit", "credit_copy" } },
    ens3 = { policy = ")" + ens.string() + R"(", labels = { "good", "bad" }, ensemble = { "credit", "credit_copy", "const" } },
    ensdown = { policy = ")" + ens.string() + R"(", labels = { "good", "bad" }, model = "credit", ensemble = { "down" } },
    ood = { policy = ")" + ood.string() + R"(", labels = { "good", "bad" }, model = "credit" },
    ood_none = { policy = ")" + ood.string() + R"(", labels = { "good", "bad" }, model = "credit_copy" },
)";
    domains += "busy = { policy = \"" + busy.string() + R"(", labels = { "good", "bad" }, stats_segment = "meta.region" },
    clock = { policy = ")" + clock.string() + R"(", labels = { "good", "bad" } },
)";
  }
  static constexpr const char* kModels = R"(const = { plugin = "fixture-good" },)";
};

// An application of the credit data set, as the README sends it.
json application() {
  return {{"Seniority", 1}, {"Home", "rent"}, {"Time", 60}, {"Age", 25}, {"Marital", "single"}, {"Records", "yes"},
          {"Job", "partime"}, {"Expenses", 60}, {"Income", 80}, {"Assets", 0}, {"Debt", 0}, {"Amount", 900}, {"Price", 1100}};
}

json scored(const std::string& id, json input) { return {{"id", id}, {"input", std::move(input)}}; }

json case_of(const std::string& id, json input, double confidence, const std::string& region = "") {
  json c = {{"id", id}, {"input", std::move(input)}, {"prediction", {{"label", "good"}, {"confidence", confidence}}}};
  if (!region.empty()) c["meta"] = {{"region", region}};
  return c;
}

json post(HttpClient& c, const std::string& token, const std::string& domain, const json& body) {
  auto r = c.request("POST", "/v1/domains/" + domain + "/predictions", token, body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  return r.json();
}

// The decision.created audit detail of decision `id`.
json decision_detail(const Service& s, const std::string& id) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT detail_json FROM audit WHERE action = 'decision.created' AND entity_id = ?");
  q.bind(1, id);
  REQUIRE(q.executeStep());
  return json::parse(q.getColumn(0).getString());
}

// The test domains served, and a client connected.
struct Running {
  SignalFiles files;
  Service s{files.domains, SignalFiles::kModels};
  std::unique_ptr<HttpClient> client;
  explicit Running(long long clock_offset_ms = 0) {
    s.start(clock_offset_ms);
    client = std::make_unique<HttpClient>(s.port());
  }
};

}  // namespace

TEST_CASE("hitl.stats moves a threshold per segment and counts errors and reviews", "[signals]") {
  Running run;
  Service& s = run.s;
  HttpClient& c = *run.client;
  // Four uncertain European cases go to review; with the region's flag rate at 100% over four
  // cases the fifth, just as uncertain, is accepted. The US has no history: reviewed.
  for (int i = 0; i < 4; ++i)
    CHECK(post(c, s.client, "busy", case_of("eu-" + std::to_string(i), json::object(), 0.6, "eu"))["reason"] == "uncertain");
  auto fifth = post(c, s.client, "busy", case_of("eu-4", json::object(), 0.6, "eu"));
  CHECK(fifth["status"] == "auto_approved");
  CHECK(post(c, s.client, "busy", case_of("us-0", json::object(), 0.6, "us"))["reason"] == "uncertain");
  // A policy failure fails closed and counts as an error of the region.
  CHECK(post(c, s.client, "busy", case_of("eu-x", {{"explode", true}}, 0.6, "eu"))["reason"] == "policy_error");
  // One review answered.
  const std::string reviewer = s.token("reviewer", "dana", "busy");
  auto claim = c.request("GET", "/v1/review/next?domain=busy", reviewer);
  REQUIRE(claim.status == 200);
  const auto task = claim.json()["task_id"].get<long long>();
  auto done = c.request("POST", "/v1/review/tasks/" + std::to_string(task) + "/outcome", reviewer, R"({"outcome":"approve"})");
  REQUIRE(done.status == 200);
  // eu: 6 cases, 5 flagged (4 uncertain + the error), 1 error; the domain: 7 cases, 1 review.
  CHECK(post(c, s.client, "busy", case_of("eu-report", {{"report", true}}, 0.6, "eu"))["reason"] == "n6_f5_e1_r1_all7_o-1");
  CHECK(post(c, s.client, "busy", case_of("us-report", {{"report", true}}, 0.6, "us"))["reason"] == "n1_f1_e0_r1_all8_o-1");
  // A batch: each record sees the ones before it (counted before the commit).
  json batch = json::array({case_of("b-0", json::object(), 0.6, "asia"), case_of("b-1", json::object(), 0.6, "asia"),
                            case_of("b-2", {{"report", true}}, 0.6, "asia")});
  auto r = c.request("POST", "/v1/domains/busy/predictions", s.client, batch.dump());
  REQUIRE(r.status == 200);
  CHECK(r.json()["results"][2]["reason"] == "n2_f2_e0_r1_all11_o-1");

  // Open tasks come from the queue (refreshed at most once a second, and at the first request
  // after a start); the windows themselves are in memory and start empty.
  s.stop();
  s.start();
  HttpClient c2(s.port());
  // 4 + 1 + 1 (error) + 2 reports + 3 in the batch = 11 tasks, one of them answered.
  CHECK(post(c2, s.client, "busy", case_of("after", {{"report", true}, {"open", true}}, 0.6, "eu"))["reason"] ==
        "n0_f0_e0_r0_all0_o10");
}

TEST_CASE("hitl.now reads the service clock the test moved", "[signals]") {
  const long long target = 4102545600000LL + 30 * 60 * 1000;  // 2100-01-02T04:30:00Z, a Saturday
  const long long real = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  Running run(target - real);
  auto v = post(*run.client, run.s.client, "clock", case_of("c-1", json::object(), 0.99));
  CHECK(v["reason"] == "weekend_h4_d6_paris5");
}

TEST_CASE("an ensemble gives every model's output and a failing member fails closed", "[signals]") {
  Running run;
  Service& s = run.s;
  HttpClient& c = *run.client;
  // Two copies of one model agree: auto.
  CHECK(post(c, s.client, "ens2", scored("a-1", application()))["status"] == "auto_approved");
  // The constant model says "yes" against two "bad"s: one dissent in three. The primary is the
  // first member, since the domain sets no `model`.
  auto three = post(c, s.client, "ens3", scored("a-2", application()));
  CHECK(three["reason"] == "split0.33_bad_credit_bad_credit_copy_bad_const_yes_primary_bad");
  CHECK(three["label"] == "bad");
  // A client's own prediction is the primary ("client"); the members still score the input.
  json own = scored("a-3", application());
  own["prediction"] = {{"label", "good"}, {"confidence", 0.9}};
  CHECK(post(c, s.client, "ens2", own)["reason"] == "split0.50_bad_client_good_credit_copy_bad_primary_good");
  // A member that fails sends the case to review with its own reason, never to the policy, and
  // is counted as a model error and a plugin error of that model.
  auto down = post(c, s.client, "ensdown", scored("a-4", application()));
  CHECK(down["status"] == "pending_review");
  CHECK(down["reason"] == "ensemble_error");
  const std::string m = c.request("GET", "/metrics", s.admin).body;
  CHECK(m.find("hitl_model_errors_total{domain=\"ensdown\"} 1") != std::string::npos);
  CHECK(m.find("hitl_plugin_errors_total{kind=\"model\",plugin=\"down\"} 1") != std::string::npos);
  CHECK(m.find("hitl_flagged_total{domain=\"ensdown\",reason=\"ensemble_error\"") != std::string::npos);
  // The audit record names the failure.
  const json detail = decision_detail(s, "a-4");
  CHECK(detail["ensemble_error"].get<std::string>().find("ensemble member down: model server unreachable") == 0);
}

TEST_CASE("p.ood flags an input far from the model's training data", "[signals]") {
  Running run;
  Service& s = run.s;
  HttpClient& c = *run.client;
  CHECK(post(c, s.client, "ood", scored("o-1", application()))["status"] == "auto_approved");
  json rich = application();
  rich["Income"] = 1000000;  // training incomes are in the hundreds
  CHECK(post(c, s.client, "ood", scored("o-2", rich))["reason"] == "ood_Income_3");
  json castle = application();
  castle["Home"] = "castle";  // never seen in 4,454 rows: z 4.3, not past 6 alone
  CHECK(post(c, s.client, "ood", scored("o-3", castle))["status"] == "auto_approved");
  // The model without a sidecar: p.ood is nil.
  CHECK(post(c, s.client, "ood_none", scored("o-4", application()))["reason"] == "no_ood");
  // Without an ensemble p.predictions is the one prediction, named.
  CHECK(post(c, s.client, "plain", scored("o-5", application()))["reason"] == "1_credit_logreg-");
}

namespace {
json with_amount(double amount) {
  json a = application();
  a["Amount"] = amount;
  return a;
}

json judge_detail(const Service& s, const std::string& id) { return decision_detail(s, id)["judge"]; }
}  // namespace

TEST_CASE("the judge step screens a case and a failing judge fails closed", "[signals]") {
  Running run;
  Service& s = run.s;
  HttpClient& c = *run.client;
  // Small: flag decides alone, no judge step.
  CHECK(post(c, s.client, "judged", scored("j-1", with_amount(900)))["status"] == "auto_approved");
  CHECK(judge_detail(s, "j-1").is_null());
  // Large: the judge model says yes at 0.75 and judge() accepts it.
  CHECK(post(c, s.client, "judged", scored("j-2", with_amount(3000)))["status"] == "auto_approved");
  const json j2 = judge_detail(s, "j-2");
  CHECK(j2["model"] == "const");
  CHECK(j2["label"] == "yes");
  CHECK(j2["reason"] == "large");
  CHECK(j2["verdict"] == "auto");
  auto huge = post(c, s.client, "judged", scored("j-3", with_amount(9500)));
  CHECK(huge["status"] == "rejected");
  CHECK(huge["reason"] == "judge_const_yes");
  // Every failure of the step goes to a person with reason judge_error: the judge() hook raising,
  // the judge model down, no judge() hook, no judge_model.
  for (auto [domain, id, amount] : {std::tuple<const char*, const char*, double>{"judged", "j-4", 7777},
                                    {"judged_down", "j-5", 3000}, {"judged_nohook", "j-6", 3000},
                                    {"judged_none", "j-7", 3000}}) {
    INFO(domain);
    auto r = post(c, s.client, domain, scored(id, with_amount(amount)));
    CHECK(r["status"] == "pending_review");
    CHECK(r["reason"] == "judge_error");
    CHECK(judge_detail(s, id).contains("error"));
  }
  CHECK(judge_detail(s, "j-4")["error"].get<std::string>().find("judge rule broke") != std::string::npos);
  CHECK(judge_detail(s, "j-5")["error"].get<std::string>().find("judge model down: model server unreachable") == 0);
  CHECK(judge_detail(s, "j-6")["error"].get<std::string>().find("no judge(p, verdict) hook") != std::string::npos);
  CHECK(judge_detail(s, "j-7")["error"].get<std::string>().find("has no judge_model") != std::string::npos);
  const std::string m = c.request("GET", "/metrics", s.admin).body;
  CHECK(m.find("hitl_plugin_errors_total{kind=\"model\",plugin=\"down\"} 1") != std::string::npos);
  CHECK(m.find("hitl_model_errors_total{domain=\"judged_down\"} 1") != std::string::npos);
  CHECK(m.find("hitl_policy_errors_total{domain=\"judged\"} 1") != std::string::npos);
  CHECK(m.find("hitl_policy_errors_total{domain=\"judged_nohook\"} 1") != std::string::npos);
  CHECK(m.find("hitl_policy_errors_total{domain=\"judged_none\"} 1") != std::string::npos);
}

TEST_CASE("hitl train --data writes the sidecar and a reload swaps model and statistics together", "[signals]") {
  Running run;
  Service& s = run.s;
  HttpClient& c = *run.client;
  CHECK(post(c, s.client, "ood_none", scored("r-1", application()))["reason"] == "no_ood");
  // Waits (up to 10 s) for the reload the service runs every 2 s; the test asserts no timing.
  auto seen = [&](const std::string& text, std::size_t times) {
    const std::string log = s.log();
    std::size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n >= times;
  };
  auto wait_for_log = [&](const std::string& text, std::size_t times = 1) {
    for (int i = 0; i < 100 && !seen(text, times); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return seen(text, times);
  };
  // Retrain credit_copy (the artifact of ood_none) from the CSV: the sidecar lands next to it.
  const std::string data = std::string(HITL_SOURCE_DIR) + "/examples/credit_risk/data/credit_data.csv";
  auto t = hitl::test::run_hitl("train --config " + s.config.string() + " --domain ood_none --data " + data + " --label Status");
  INFO(t.out);
  REQUIRE(t.exit_code == 0);
  REQUIRE(std::filesystem::exists(s.dir.path / "credit_copy.json.features.json"));
  REQUIRE(wait_for_log("model credit_copy reloaded"));
  CHECK(post(c, s.client, "ood_none", scored("r-2", application()))["status"] == "auto_approved");
  json rich = application();
  rich["Income"] = 1000000;
  CHECK(post(c, s.client, "ood_none", scored("r-3", rich))["reason"] == "ood_Income_3");
  // A malformed sidecar with a changed artifact: the reload is refused and both old ones stay.
  { std::ofstream(s.dir.path / "credit_copy.json.features.json") << "{ broken"; }
  { std::ofstream(s.dir.path / "credit_copy.json", std::ios::app) << "\n"; }
  REQUIRE(wait_for_log("does not load, keeping"));
  CHECK(s.log().find("credit_copy.json.features.json: not JSON") != std::string::npos);
  CHECK(post(c, s.client, "ood_none", scored("r-4", rich))["reason"] == "ood_Income_3");
  // Statistics of another artifact (this one changed without its sidecar) are not used: the new
  // model is swapped in without them.
  hitl::test::run_hitl("train --config " + s.config.string() + " --domain ood_none --data " + data +
                       " --label Status --out " + (s.dir.path / "other.json").string());
  std::filesystem::copy_file(s.dir.path / "other.json.features.json", s.dir.path / "credit_copy.json.features.json",
                             std::filesystem::copy_options::overwrite_existing);
  { std::ofstream(s.dir.path / "credit_copy.json", std::ios::app) << "\n"; }
  REQUIRE(wait_for_log("model credit_copy reloaded", 2));  // the second swap is done
  CHECK(seen("describes another artifact", 1));
  CHECK(post(c, s.client, "ood_none", scored("r-5", rich))["reason"] == "no_ood");
}
