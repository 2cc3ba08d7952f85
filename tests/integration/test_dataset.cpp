// The learning loop's data from a real `hitl serve`: final human outcomes become weighted,
// tagged samples, frozen by `hitl dataset snapshot` into versions that list, show and export.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using hitl::test::HttpClient;
using hitl::test::run_hitl;
using hitl::test::Service;
using hitl::test::TempDir;
using nlohmann::json;

namespace {

struct DatasetDomain {
  TempDir dir;
  std::string domain;
  DatasetDomain() {
    auto policy = dir.write("ds.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    return hitl.review("uncertain")
  end,
  -- Corrections count double; a case marked broken makes weight() fail (the default applies).
  promote = function(eval)
    if eval.candidate.metrics.auc > eval.live.metrics.auc + 0.5 then return true end
    return false, "needs auc +0.5"
  end,
  weight = function(s)
    if s.input.broken_weight then return "heavy" end
    for _, t in ipairs(s.tags) do if t == "user-correction" then return 2 end end
    return 1
  end,
}
)");
    // Golden cases: an evaluation scores them too.
    auto gold = dir.write("gold.jsonl",
                          "{\"input\": {\"Amount\": 250, \"Home\": \"own\"}, \"prediction\": {\"label\": \"good\", "
                          "\"confidence\": 0.6}, \"label\": \"bad\"}\n"
                          "{\"input\": {\"Amount\": 120, \"Home\": \"rent\"}, \"prediction\": {\"label\": \"good\", "
                          "\"confidence\": 0.6}, \"label\": \"good\"}\n");
    domain = "ds = { policy = \"" + policy.string() + "\", model = \"credit_copy\", labels = { \"good\", \"bad\" }, gold_file = \"" +
             gold.string() + "\" },\n";
  }
};

void review_one(HttpClient& c, const Service& s, const std::string& id, json input, const std::string& label) {
  json p = {{"id", id}, {"input", std::move(input)}, {"prediction", {{"label", "good"}, {"confidence", 0.6}}}};
  auto r = c.request("POST", "/v1/domains/ds/predictions", s.client, p.dump());
  REQUIRE(r.status == 200);
  auto t = c.request("GET", "/v1/review/next?domain=ds", s.admin);
  REQUIRE(t.status == 200);
  REQUIRE(t.json()["decision_id"] == id);
  json body = label == "good" ? json{{"outcome", "approve"}} : json{{"outcome", "correct"}, {"correction", {{"label", label}}}};
  REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(t.json()["task_id"].get<long long>()) + "/outcome",
                    s.admin, body.dump())
              .status == 200);
}

std::vector<json> jsonl(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '{') out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("hitl dataset snapshots final outcomes as weighted tagged versions and exports them", "[dataset]") {
  DatasetDomain d;
  Service s(d.domain);
  s.start();
  HttpClient c(s.port());
  const std::string cfg = " --config " + s.config.string();
  auto empty = run_hitl("dataset snapshot" + cfg + " --domain ds");  // nothing decided yet
  CHECK(empty.exit_code == 1);
  CHECK(empty.out.find("nothing to snapshot") != std::string::npos);
  CHECK(run_hitl("dataset list" + cfg).out.find("ds-v1") == std::string::npos);
  review_one(c, s, "d-1", {{"Amount", 100}, {"Home", "rent"}}, "good");
  review_one(c, s, "d-2", {{"Amount", 200}, {"Home", "own"}}, "bad");
  // An auto-approved case is no human outcome: not a sample.
  REQUIRE(c.request("POST", "/v1/domains/ds/predictions", s.client,
                    R"({"id":"auto-1","input":{"Amount":5},"prediction":{"label":"good","confidence":0.99}})").status == 200);

  auto snap = run_hitl("dataset snapshot" + cfg + " --domain ds");
  INFO(snap.out);
  REQUIRE(snap.exit_code == 0);
  CHECK(snap.out.find("dataset ds-v1: 2 samples (2 new), parent none") != std::string::npos);
  auto again = run_hitl("dataset snapshot" + cfg + " --domain ds");
  CHECK(again.out.find("dataset ds-v1 unchanged") != std::string::npos);

  review_one(c, s, "d-3", {{"Amount", 300}, {"Home", "rent"}, {"broken_weight", true}}, "bad");
  auto snap2 = run_hitl("dataset snapshot" + cfg + " --domain ds");
  INFO(snap2.out);
  REQUIRE(snap2.exit_code == 0);
  CHECK(snap2.out.find("dataset ds-v2: 3 samples (1 new), parent ds-v1") != std::string::npos);
  CHECK(snap2.out.find("weight(): 1 failures") != std::string::npos);

  auto show = run_hitl("dataset show" + cfg + " --id ds-v2");
  REQUIRE(show.exit_code == 0);
  json m = json::parse(show.out);
  CHECK(m["parent"] == "ds-v1");
  CHECK(m["rows"] == 3);
  CHECK(m["labels"]["bad"] == 2);
  CHECK(m["tags"]["user-correction"] == 2);
  CHECK(m["tags"]["confirmed"] == 1);
  CHECK(m["content_hash"].get<std::string>().size() == 64);

  auto all = jsonl(run_hitl("dataset export" + cfg + " --id ds-v2 --format jsonl").out);
  REQUIRE(all.size() == 3);
  CHECK(all[0]["decision_id"] == "d-1");
  CHECK(all[0]["weight"] == 1.0);
  CHECK(all[0]["tags"] == json::array({"confirmed"}));
  CHECK(all[0]["reviewers"] == json::array({"root"}));
  CHECK(all[1]["weight"] == 2.0);
  CHECK(all[1]["label"] == "bad");
  CHECK(all[1]["model_label"] == "good");
  CHECK(all[2]["weight"].get<double>() == 1.0);  // weight() failed: the default
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i]["created_ms"] >= all[i - 1]["created_ms"]);

  // The holdout is the newest third; the CSV carries the input's columns.
  auto out = s.dir.path / "holdout.csv";
  auto ex = run_hitl("dataset export" + cfg + " --id ds-v2 --format csv --split holdout --holdout-fraction 0.34 --out " +
                     out.string());
  INFO(ex.out);
  REQUIRE(ex.exit_code == 0);
  std::ifstream in(out);
  std::string header, row, extra;
  std::getline(in, header);
  std::getline(in, row);
  CHECK(header == "decision_id,Amount,Home,broken_weight,label,model_label,model_confidence,outcome,tags,weight,created_ms");
  CHECK(row.rfind("d-3,300,rent,true,bad,good,0.6,correct,user-correction,", 0) == 0);
  CHECK_FALSE(std::getline(in, extra));

  // The model trains on a version directly, with the samples' weights.
  auto artifact = s.dir.path / "retrained.json";
  auto tr = run_hitl("train" + cfg + " --domain ds --dataset ds-v2 --split all --out " + artifact.string());
  INFO(tr.out);
  REQUIRE(tr.exit_code == 0);
  CHECK(tr.out.find("on 3 rows of ds-v2 (all split)") != std::string::npos);
  CHECK(std::filesystem::exists(artifact));
  CHECK(run_hitl("train" + cfg + " --domain credit_risk --dataset ds-v2").out.find("is of domain \"ds\"") != std::string::npos);
  CHECK(run_hitl("train" + cfg + " --domain ds --dataset ds-v2 --split holdout --holdout-fraction 0").out.find("has no holdout rows") !=
        std::string::npos);

  // The live model and the candidate, scored on the same rows.
  auto ev = run_hitl("model evaluate" + cfg + " --domain ds --dataset ds-v2 --split all --candidate " + artifact.string() +
                     " --json");
  INFO(ev.out);
  REQUIRE(ev.exit_code == 0);
  json e = json::parse(ev.out.substr(ev.out.find('{')));
  CHECK(e["rows"] == 3);
  CHECK(e["positive"] == "bad");
  CHECK(e["live"]["metrics"]["rows"] == 3);
  CHECK(e["candidate"]["metrics"]["accuracy"] == 1.0);  // it was trained on these very rows
  CHECK(e["candidate"]["metrics"]["auc"] == 1.0);
  CHECK(e["candidate"]["metrics"]["log_loss"].get<double>() < e["live"]["metrics"]["log_loss"].get<double>());
  CHECK(e["live"]["version"] != e["candidate"]["version"]);
  CHECK(e["golden_set"]["cases"] == 2);
  CHECK(e["live"]["golden"]["rows"] == 2);
  CHECK(e["candidate"]["golden"]["rows"] == 2);
  CHECK(e["candidate"]["golden"]["auc"].is_number());
  auto table = run_hitl("model evaluate" + cfg + " --domain ds --dataset ds-v2 --holdout-fraction 0.34");
  INFO(table.out);
  CHECK(table.exit_code == 0);
  CHECK(table.out.find("evaluated on 1 rows of ds-v2 (holdout split), positive label bad") != std::string::npos);
  CHECK(run_hitl("model evaluate" + cfg + " --domain ds --dataset ds-v2 --positive ugly").out.find("\"ugly\" is not one of") !=
        std::string::npos);

  // Trained on a version, the artifact is registered with its lineage; promote and roll back.
  auto reg1 = run_hitl("train" + cfg + " --domain ds --dataset ds-v1 --split all");
  INFO(reg1.out);
  REQUIRE(reg1.exit_code == 0);
  CHECK(reg1.out.find("registered ds-m2 (dataset ds-v1, parent the configured artifact)") != std::string::npos);
  const std::string configured = [&] {
    std::ifstream f(s.dir.path / "credit_copy.json");
    std::stringstream t;
    t << f.rdbuf();
    return t.str();
  }();
  auto models = run_hitl("model list" + cfg + " --domain ds");
  CHECK(models.out.find("ds-m1") != std::string::npos);  // the --out training above registered too
  CHECK(models.out.find("ds-v1/all") != std::string::npos);
  CHECK(models.out.find("live: the configured artifact") != std::string::npos);
  CHECK(reg1.out.find("artifact: (registry only)") != std::string::npos);
  const std::string configured_version = [&] {
    auto r = c.request("POST", "/v1/domains/ds/predictions", s.client,
                       R"({"id":"before-promote","input":{"Amount":150,"Home":"rent"}})");
    REQUIRE(r.status == 200);
    return c.request("GET", "/v1/domains/ds/decisions/before-promote", s.client).json()["model_version"].get<std::string>();
  }();
  auto p1 = run_hitl("model promote" + cfg + " --domain ds --id ds-m1 --reason 'better on holdout'");
  INFO(p1.out);
  REQUIRE(p1.exit_code == 0);
  CHECK(p1.out.find("live model of ds: ds-m1 (was ds-m0)") != std::string::npos);

  // The running service swaps the promoted model in without a restart (audited model.loaded), and
  // a later broken artifact is refused: the promoted model keeps scoring.
  auto score_version = [&](const std::string& id) {
    auto r = c.request("POST", "/v1/domains/ds/predictions", s.client,
                       json{{"id", id}, {"input", {{"Amount", 150}, {"Home", "rent"}}}}.dump());
    REQUIRE(r.status == 200);
    CHECK(r.json()["reason"] != "model_error");
    return c.request("GET", "/v1/domains/ds/decisions/" + id, s.client).json()["model_version"].get<std::string>();
  };
  auto wait_for_log = [&](const std::string& text) {
    for (int i = 0; i < 100 && s.log().find(text) == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return s.log().find(text) != std::string::npos;
  };
  REQUIRE(wait_for_log("model credit_copy reloaded"));
  const std::string promoted = score_version("after-promote");
  CHECK(promoted != configured_version);
  CHECK(run_hitl("audit export" + cfg).out.find("model.loaded") != std::string::npos);
  { std::ofstream(s.dir.path / "credit_copy.json") << "{ not an artifact"; }
  REQUIRE(wait_for_log("does not load, keeping"));
  CHECK(score_version("after-broken") == promoted);
  REQUIRE(run_hitl("model promote" + cfg + " --domain ds --id ds-m2").exit_code == 0);  // a good file again
  auto read_artifact = [&] {
    std::ifstream f(s.dir.path / "credit_copy.json");
    std::stringstream t;
    t << f.rdbuf();
    return t.str();
  };
  CHECK(read_artifact() != configured);
  const std::string m2 = read_artifact();
  CHECK(run_hitl("model promote" + cfg + " --domain ds --id ds-m2").out.find("already live") != std::string::npos);
  CHECK(run_hitl("model promote" + cfg + " --domain ds --id ds-m7").out.find("no model version") != std::string::npos);
  auto rb = run_hitl("model rollback" + cfg + " --domain ds");
  INFO(rb.out);
  REQUIRE(rb.exit_code == 0);
  CHECK(rb.out.find("live model of ds: ds-m1 (was ds-m2)") != std::string::npos);
  CHECK(read_artifact() != m2);
  CHECK(run_hitl("model list" + cfg + " --domain ds").out.find("ds-m2") != std::string::npos);
  // Both swaps are in the hash-chained audit trail, and the chain still verifies.
  auto verify = run_hitl("audit verify" + cfg);
  CHECK(verify.exit_code == 0);
  auto exported = run_hitl("audit export" + cfg);
  CHECK(exported.out.find("model.promoted") != std::string::npos);
  CHECK(exported.out.find("model.rolled_back") != std::string::npos);

  // Evaluate-and-promote: the policy's promote(eval) decides; here it accepts only a candidate
  // whose AUC beats the live model's by 0.5 (never), so the live model stays (exit status 3).
  auto refused = run_hitl("model evaluate" + cfg + " --domain ds --dataset ds-v2 --split all --candidate-id ds-m2 --promote");
  INFO(refused.out);
  CHECK(refused.exit_code == 3);
  CHECK(refused.out.find("not promoted ds-m2 (decided by the policy): needs auc +0.5") != std::string::npos);
  {  // ds-m1 is still the live one (marked *)
    std::istringstream lines(run_hitl("model list" + cfg + " --domain ds").out);
    std::string l, live_line;
    while (std::getline(lines, l))
      if (l.rfind("ds-m1 ", 0) == 0) live_line = l;
    CHECK(live_line.find(" * ") != std::string::npos);
  }
  CHECK(run_hitl("model evaluate" + cfg + " --domain ds --dataset ds-v2 --promote").out.find("--promote needs --candidate-id") !=
        std::string::npos);

  auto list = run_hitl("dataset list" + cfg);
  CHECK(list.out.find("ds-v1") != std::string::npos);
  CHECK(list.out.find("ds-v2") != std::string::npos);
  CHECK(run_hitl("dataset show" + cfg + " --id ds-v9").exit_code != 0);
  CHECK(run_hitl("dataset snapshot" + cfg + " --domain nowhere").out.find("no domain named \"nowhere\"") != std::string::npos);
  CHECK(run_hitl("dataset export" + cfg + " --id ds-v1 --format xml").exit_code != 0);
}

TEST_CASE("reported truths become samples and a contradicted decision is a production failure", "[dataset]") {
  DatasetDomain d;
  Service s(d.domain);
  s.start();
  HttpClient c(s.port());
  const std::string cfg = " --config " + s.config.string();
  // Reviewed as good, then the loan defaulted: the truth is the label, and the review failed.
  review_one(c, s, "r-1", {{"Amount", 100}, {"Home", "rent"}}, "good");
  // Auto-approved, nobody looked: only the reported truth makes it a sample.
  for (const char* id : {"auto-ok", "auto-bad", "auto-silent"}) {
    json p = {{"id", id}, {"input", {{"Amount", 7}}}, {"prediction", {{"label", "good"}, {"confidence", 0.99}}}};
    REQUIRE(c.request("POST", "/v1/domains/ds/predictions", s.client, p.dump()).status == 200);
  }
  auto truth = [&](const char* id, const char* label) {
    return c.request("PUT", std::string("/v1/domains/ds/decisions/") + id + "/truth", s.client,
                     json{{"label", label}}.dump()).status;
  };
  REQUIRE(truth("r-1", "bad") == 200);
  REQUIRE(truth("auto-ok", "good") == 200);
  REQUIRE(truth("auto-bad", "bad") == 200);
  auto snap = run_hitl("dataset snapshot" + cfg + " --domain ds");
  INFO(snap.out);
  REQUIRE(snap.exit_code == 0);
  CHECK(snap.out.find("3 samples") != std::string::npos);
  CHECK(snap.out.find("2 of them from truths reported") != std::string::npos);
  std::map<std::string, json> by_id;
  for (auto& j : jsonl(run_hitl("dataset export" + cfg + " --id ds-v1 --format jsonl").out)) by_id[j["decision_id"]] = j;
  REQUIRE(by_id.size() == 3);
  CHECK(by_id["r-1"]["label"] == "bad");
  CHECK(by_id["r-1"]["outcome"] == "approve");
  CHECK(by_id["r-1"]["tags"] == json::array({"confirmed", "reported-truth", "production-failure"}));
  CHECK(by_id["auto-ok"]["outcome"] == "truth");
  CHECK(by_id["auto-ok"]["tags"] == json::array({"reported-truth", "confirmed"}));
  CHECK(by_id["auto-bad"]["label"] == "bad");
  CHECK(by_id["auto-bad"]["model_label"] == "good");
  CHECK(by_id["auto-bad"]["tags"] == json::array({"reported-truth", "production-failure"}));
  CHECK(by_id["auto-bad"]["reviewers"].empty());
  CHECK(by_id.count("auto-silent") == 0);

  // Erasing a payload reaches the learning loop's copies: the version is rewritten without the
  // sample (and says so), the golden file without the case.
  REQUIRE(c.request("POST", "/v1/domains/ds/decisions/r-1/gold", s.admin).json()["marked"] == true);
  const auto golden = s.dir.path / "datasets" / "ds" / "golden.jsonl";
  REQUIRE(std::filesystem::exists(golden));
  REQUIRE(c.request("DELETE", "/v1/domains/ds/decisions/auto-bad/payload?reason=request-7", s.admin).status == 200);
  auto after = run_hitl("dataset export" + cfg + " --id ds-v1 --format jsonl");
  INFO(after.out);
  REQUIRE(after.exit_code == 0);  // the rewritten file matches its new content hash
  CHECK(after.out.find("auto-bad") == std::string::npos);
  CHECK(after.out.find("auto-ok") != std::string::npos);
  json shown = json::parse(run_hitl("dataset show" + cfg + " --id ds-v1").out);
  CHECK(shown["rows"] == 2);
  CHECK(shown["erased_rows"] == 1);
  auto cli = run_hitl("erase" + cfg + " --domain ds --id r-1 --reason request-8");
  INFO(cli.out);
  REQUIRE(cli.exit_code == 0);
  std::ifstream g(golden);
  std::stringstream gt;
  gt << g.rdbuf();
  CHECK(gt.str().find("r-1") == std::string::npos);
  CHECK(run_hitl("dataset export" + cfg + " --id ds-v1 --format jsonl").out.find("r-1") == std::string::npos);
}

TEST_CASE("a shadow model scores live traffic for agreement metrics and never changes a decision", "[dataset]") {
  Service s(R"(sh = { policy = "loans.lua", model = "credit", shadow_model = "credit_copy", labels = { "good", "bad" } },
    shdown = { policy = "loans.lua", model = "credit", shadow_model = "down", labels = { "good", "bad" } },
)");
  s.start();
  HttpClient c(s.port());
  json small = {{"Seniority", 9}, {"Home", "rent"}, {"Time", 60}, {"Age", 30}, {"Marital", "married"},
                {"Records", "no_rec"}, {"Job", "freelance"}, {"Expenses", 73}, {"Income", 129},
                {"Assets", 0}, {"Debt", 0}, {"Amount", 800}, {"Price", 846}};
  // Scored by the live model (the shadow is the same artifact: it agrees), then one the client
  // labels against the model (the shadow disagrees).
  json batch = json::array({{{"id", "a"}, {"input", small}}, {{"id", "b"}, {"input", small}}});
  REQUIRE(c.request("POST", "/v1/domains/sh/predictions", s.client, batch.dump()).status == 200);
  const std::string model_label = c.request("GET", "/v1/domains/sh/decisions/a", s.client).json()["label"];
  const std::string other = model_label == "good" ? "bad" : "good";
  auto r = c.request("POST", "/v1/domains/sh/predictions", s.client,
                     json{{"id", "c"}, {"input", small}, {"prediction", {{"label", other}, {"confidence", 0.95}}}}.dump());
  REQUIRE(r.status == 200);
  CHECK(r.json()["label"] == other);  // the decision keeps the client's prediction
  CHECK(r.json()["status"] == "auto_approved");

  // A failing shadow only counts its failures: decisions are made as without it.
  auto d = c.request("POST", "/v1/domains/shdown/predictions", s.client, json{{"id", "x"}, {"input", small}}.dump());
  REQUIRE(d.status == 200);
  CHECK(d.json()["reason"] != "model_error");
  CHECK(d.json()["label"] == model_label);

  auto m = c.request("GET", "/metrics", s.admin).body;
  CHECK(m.find("hitl_shadow_predictions_total{domain=\"sh\"} 3") != std::string::npos);
  CHECK(m.find("hitl_shadow_agreements_total{domain=\"sh\"} 2") != std::string::npos);
  CHECK(m.find("hitl_shadow_errors_total{domain=\"sh\"} 0") != std::string::npos);
  CHECK(m.find("hitl_shadow_errors_total{domain=\"shdown\"} 1") != std::string::npos);
  CHECK(m.find("hitl_shadow_predictions_total{domain=\"shdown\"} 0") != std::string::npos);
  CHECK(m.find("hitl_model_errors_total{domain=\"shdown\"} 0") != std::string::npos);
}
