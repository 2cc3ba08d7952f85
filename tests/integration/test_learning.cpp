// The learning loop end to end on real data (examples/credit_risk/data/credit_data.csv, in file
// order as time order): a first model trained on the oldest 100 rows goes live; the next 3300
// stream through a running `hitl serve`; a reviewer answers every flagged case with its recorded
// label; the policy's retrain(stats) asks for a training once enough outcomes are in; the worker
// trains on the base rows plus the feedback, and the candidate is promoted because it ranks the
// newest feedback better than the first model. A deliberately worse candidate is refused.
#include "support.hpp"

#include <catch2/catch.hpp>
#include "support/skip.hpp"

#include <algorithm>
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
namespace fs = std::filesystem;

namespace {

struct CreditData {
  std::string header;
  std::vector<std::string> columns;
  std::vector<std::string> lines;  // in file order
  CreditData() {
    std::ifstream in(std::string(HITL_SOURCE_DIR) + "/examples/credit_risk/data/credit_data.csv");
    std::getline(in, header);
    columns = split(header);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) {
      if (cell.size() >= 2 && cell.front() == '"') cell = cell.substr(1, cell.size() - 2);
      out.push_back(cell);
    }
    return out;
  }
  // The row as a prediction input (NA cells left out) and its recorded Status.
  std::pair<json, std::string> row(std::size_t i) const {
    auto cells = split(lines[i]);
    json input = json::object();
    std::string status;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (columns[c] == "Status") {
        status = cells[c];
        continue;
      }
      if (cells[c] == "NA" || cells[c].empty()) continue;
      char* end = nullptr;
      double v = std::strtod(cells[c].c_str(), &end);
      if (end && *end == '\0') input[columns[c]] = v;
      else input[columns[c]] = cells[c];
    }
    return {input, status};
  }
  fs::path write(const TempDir& dir, const std::string& name, std::size_t from, std::size_t to, bool flip = false) const {
    std::string text = header + "\n";
    for (std::size_t i = from; i < to && i < lines.size(); ++i) {
      std::string line = lines[i];
      if (flip) line = (line.rfind("\"good\"", 0) == 0 ? "\"bad\"" : "\"good\"") + line.substr(line.find(','));
      text += line + "\n";
    }
    return dir.write(name, text);
  }
};

// Sends rows [from, to) in batches, ids "c-<row>"; returns the recorded label per id.
std::map<std::string, std::string> stream(HttpClient& c, const Service& s, const CreditData& data, std::size_t from,
                                          std::size_t to, const std::string& domain = "learn") {
  std::map<std::string, std::string> truth;
  for (std::size_t start = from; start < to; start += 200) {
    json batch = json::array();
    for (std::size_t i = start; i < std::min(to, start + 200); ++i) {
      auto [input, status] = data.row(i);
      const std::string id = "c-" + std::to_string(i);
      truth[id] = status;
      batch.push_back({{"id", id}, {"input", input}});
    }
    auto r = c.request("POST", "/v1/domains/" + domain + "/predictions", s.client, batch.dump());
    REQUIRE(r.status == 200);
  }
  return truth;
}

// Answers every open task of the domain with the recorded label; returns how many.
std::size_t answer_all(HttpClient& c, const Service& s, const std::map<std::string, std::string>& truth,
                       const std::string& domain = "learn", std::size_t* corrected = nullptr) {
  std::size_t answered = 0;
  for (;;) {
    auto t = c.request("GET", "/v1/review/next?domain=" + domain, s.admin);
    if (t.status == 204) return answered;
    REQUIRE(t.status == 200);
    const json task = t.json();
    const std::string label = truth.at(task["decision_id"].get<std::string>());
    json body = task["prediction"]["label"] == label ? json{{"outcome", "approve"}}
                                                    : json{{"outcome", "correct"}, {"correction", {{"label", label}}}};
    auto o = c.request("POST", "/v1/review/tasks/" + std::to_string(task["task_id"].get<long long>()) + "/outcome",
                       s.admin, body.dump());
    REQUIRE(o.status == 200);
    ++answered;
    if (corrected && task["prediction"]["label"] != label) ++*corrected;
  }
}

bool finished(const json& job) { return job["status"] == "done" || job["status"] == "failed"; }

// Polls `jobs_now()` (the jobs a route lists now) until one has finished, for up to `seconds`.
template <class Fetch>
json first_finished(int seconds, Fetch jobs_now) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    for (const json& j : jobs_now())
      if (finished(j)) return j;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return nullptr;
}

json get_ok(HttpClient& c, const Service& s, const std::string& target) {
  auto r = c.request("GET", target, s.admin);
  REQUIRE(r.status == 200);
  return r.json();
}

// The first of the domain's retrain jobs to finish (done or failed).
json wait_for_job(HttpClient& c, const Service& s, const std::string& domain, int seconds = 60) {
  return first_finished(seconds, [&] { return get_ok(c, s, "/v1/admin/domains/" + domain + "/retrain")["jobs"]; });
}

// Job `id` once it has finished.
json wait_for_job_id(HttpClient& c, const Service& s, long long id, int seconds = 60) {
  return first_finished(seconds, [&] { return json::array({get_ok(c, s, "/v1/admin/retrain/jobs/" + std::to_string(id))}); });
}

std::filesystem::path write_review_all(const TempDir& dir) {
  return dir.write("all.lua", R"(
local hitl = require "hitl"
return { flag = function(p) return hitl.review("all") end }
)");
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* kLearnPolicy = R"(
local hitl = require "hitl"
return {
  flag = function(p)
    local bad = p.prediction.scores.bad or 0
    if bad > 0.3 and bad < 0.7 then return hitl.review("uncertain") end
    return hitl.auto()
  end,
  -- Enough new outcomes, with enough of them corrections, is worth a training.
  retrain = function(stats)
    if stats.samples >= RETRAIN_AT and (stats.corrections or 0) >= 20 then
      return true, stats.samples .. " outcomes, " .. stats.corrections .. " corrections"
    end
    return false
  end,
  promote = function(eval)
    local live, cand = eval.live.metrics.auc, eval.candidate.metrics.auc
    return cand > live, string.format("holdout auc %.3f vs live %.3f", cand, live)
  end,
}
)";

std::string learn_domain(const TempDir& dir, const fs::path& base, int retrain_at) {
  std::string policy = kLearnPolicy;
  policy.replace(policy.find("RETRAIN_AT"), 10, std::to_string(retrain_at));
  auto file = dir.write("learn.lua", policy);
  return "learn = { policy = \"" + file.string() + "\", model = \"credit_copy\", labels = { \"good\", \"bad\" }, " +
         "report = { group = \"Age\", bands = { 30, 45, 60 } }, " +
         "retrain = { base_data = \"" + base.string() + "\", base_label = \"Status\", check_seconds = 0 } },\n";
}

}  // namespace

TEST_CASE("the policy retrains on streamed feedback and promotes a better model while a worse one is refused",
          "[learning]") {
  const CreditData data;
  REQUIRE(data.lines.size() > 4000);
  TempDir files;
  const auto base = data.write(files, "base.csv", 0, 100);
  const auto untouched = data.write(files, "untouched.csv", 3400, data.lines.size());
  Service s(learn_domain(files, base, 400));
  const std::string cfg = " --config " + s.config.string();
  // The first model: trained on the oldest rows only, live before anything streams in.
  auto first = run_hitl("train" + cfg + " --domain learn --data " + base.string() + " --label Status");
  INFO(first.out);
  REQUIRE(first.exit_code == 0);
  // It never learnt from the base holdout the evaluations judge on, and its statistics say so.
  CHECK(first.out.find("rows left out: the base holdout of base.csv") != std::string::npos);
  const json first_stats = json::parse(read(s.dir.path / "credit_copy.json.features.json"));
  CHECK(first_stats["base_holdout_left_out"]["fraction"] == 0.2);
  CHECK(first_stats["base_holdout_left_out"]["rows"].get<int>() + first_stats["rows"].get<int>() == 100);
  const auto first_copy = files.path / "first.json";
  fs::copy_file(s.dir.path / "credit_copy.json", first_copy);
  s.start();
  HttpClient c(s.port());

  auto truth = stream(c, s, data, 100, 3400);
  const std::size_t answered = answer_all(c, s, truth);
  INFO("answered " << answered);
  REQUIRE(answered >= 400);  // the policy's threshold was crossed

  // The worker asked retrain(stats) after the outcomes and ran the training it asked for.
  const json job = wait_for_job(c, s, "learn");
  INFO(job.dump(2));
  REQUIRE(job.is_object());
  REQUIRE(job["status"] == "done");
  CHECK(job["trigger"] == "policy");
  CHECK(job["stats"]["samples"].get<int>() >= 400);
  CHECK(job["reason"].get<std::string>().find("outcomes") != std::string::npos);
  const json& result = job["result"];
  // The base file's holdout share (by a hash of each row) is never trained on: it is judged on.
  CHECK(result["base_rows"].get<int>() + result["base_holdout_rows"].get<int>() == 100);
  CHECK(result["base_holdout_rows"].get<int>() > 5);
  CHECK(result["evaluation"]["sets"]["base_holdout"]["rows"] == result["base_holdout_rows"]);
  // Neither model trained on it (both recorded so): it counts in the paired test.
  CHECK(result["evaluation"]["sets"]["base_holdout"]["counted"] == true);
  // The figures docs/learning-loop.md quotes ("Measured on credit_data").
  const json& ev_sets = result["evaluation"]["sets"];
  WARN("reviewed accuracy live " << ev_sets["reviewed"]["live"]["accuracy"] << " candidate "
       << ev_sets["reviewed"]["candidate"]["accuracy"] << "; base holdout live " << ev_sets["base_holdout"]["live"]["accuracy"]
       << " candidate " << ev_sets["base_holdout"]["candidate"]["accuracy"] << "; paired "
       << result["evaluation"]["unbiased"]["paired"].dump() << "; default " << result["evaluation"]["default"].dump()
       << "; review share " << result["evaluation"]["projected_review_share"].dump());
  CHECK(result["dataset"] == "learn-v1");
  CHECK(result["candidate"] == "learn-m1");
  REQUIRE(result["evaluated"] == true);
  const double live_auc = result["evaluation"]["live"]["metrics"]["auc"].get<double>();
  const double cand_auc = result["evaluation"]["candidate"]["metrics"]["auc"].get<double>();
  INFO("holdout auc: first model " << live_auc << ", candidate " << cand_auc);
  CHECK(cand_auc > live_auc);
  REQUIRE(result["promoted"] == true);
  CHECK(result["decided_by"] == "policy");

  // The registry has the lineage; the running service scores with the new model within ~2 s.
  auto models = c.request("GET", "/v1/admin/domains/learn/models", s.admin).json();
  CHECK(models["live"]["id"] == "learn-m1");
  // The configured first model was kept as learn-m0 by the promotion: it can be rolled back to.
  REQUIRE(models["versions"].size() == 2);
  CHECK(models["versions"][0]["id"] == "learn-m0");
  CHECK(models["live"]["previous"] == "learn-m0");
  CHECK(models["versions"][1]["trigger"] == "policy");
  CHECK(models["versions"][1]["base_rows"] == result["base_rows"]);
  CHECK(models["versions"][1]["trigger_stats"]["samples"].get<int>() >= 400);
  // Its training statistics (p.ood) were promoted with it, tied to its artifact by hash.
  const json sidecar = json::parse(read(s.dir.path / "credit_copy.json.features.json"));
  CHECK(sidecar["artifact_sha256"] == models["versions"][1]["artifact_sha256"]);
  CHECK(sidecar["rows"] == result["base_rows"].get<int>() + result["train_rows"].get<int>());
  const std::string new_version = result["candidate_version"].get<std::string>();
  std::string scored_by;
  for (int i = 0; i < 50 && scored_by != new_version; ++i) {
    auto [input, _] = data.row(3000);
    json rec = {{"id", "after-" + std::to_string(i)}, {"input", input}};
    auto r = c.request("POST", "/v1/domains/learn/predictions", s.client, rec.dump());
    REQUIRE(r.status == 200);
    auto d = c.request("GET", "/v1/domains/learn/decisions/after-" + std::to_string(i), s.admin).json();
    scored_by = d.value("model_version", "");
    if (scored_by != new_version) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(scored_by == new_version);

  // On the 1000+ newest rows no model has seen, the promoted model ranks better than the first one.
  auto ev = run_hitl("model evaluate" + cfg + " --domain learn --data " + untouched.string() + " --label Status --candidate " +
                     first_copy.string() + " --json");
  INFO(ev.out);
  REQUIRE(ev.exit_code == 0);
  const json e = json::parse(ev.out.substr(ev.out.find('{')));
  const double promoted_untouched = e["live"]["metrics"]["auc"].get<double>();
  const double first_untouched = e["candidate"]["metrics"]["auc"].get<double>();
  INFO("untouched auc: promoted " << promoted_untouched << ", first " << first_untouched);
  CHECK(promoted_untouched > first_untouched);
  // The copy of the first model has no training record next to it: a model of unknown lineage,
  // not judged on the base holdout, and the table says so.
  CHECK(e["sets"]["base_holdout"]["counted"] == false);
  CHECK(e["sets"]["base_holdout"]["possibly_seen_by"].contains("candidate"));
  auto table = run_hitl("model evaluate" + cfg + " --domain learn --data " + untouched.string() + " --label Status --candidate " +
                        first_copy.string());
  INFO(table.out);
  CHECK(table.out.find("not counted in the paired test: the candidate model may have trained on these rows (no record") !=
        std::string::npos);

  // A deliberately worse candidate (trained on the base rows with every label flipped) is
  // registered, evaluated on the same holdout and refused: the live model stays.
  const auto flipped = data.write(files, "flipped.csv", 0, 100, /*flip=*/true);
  auto worse = run_hitl("train" + cfg + " --domain learn --data " + flipped.string() + " --label Status --register");
  INFO(worse.out);
  REQUIRE(worse.exit_code == 0);
  CHECK(worse.out.find("registered learn-m2") != std::string::npos);
  const std::string live_artifact = read(s.dir.path / "credit_copy.json");
  auto refused = run_hitl("model evaluate" + cfg + " --domain learn --dataset learn-v1 --candidate-id learn-m2 --promote --json");
  INFO(refused.out);
  CHECK(refused.exit_code == 3);
  const json r = json::parse(refused.out.substr(refused.out.find('{')));
  CHECK(r["promotion"]["promote"] == false);
  CHECK(r["candidate"]["metrics"]["auc"].get<double>() < r["live"]["metrics"]["auc"].get<double>());
  CHECK(read(s.dir.path / "credit_copy.json") == live_artifact);
  CHECK(c.request("GET", "/v1/admin/domains/learn/models", s.admin).json()["live"]["id"] == "learn-m1");

  // A case the live model trained on, marked golden afterwards, is not held against a candidate
  // that never could learn it: the comparison drops it.
  std::string seen_id;
  for (auto& [id, _] : truth) {
    auto d = c.request("GET", "/v1/domains/learn/decisions/" + id, s.admin).json();
    if (d["final_label"].is_string()) {
      seen_id = id;
      break;
    }
  }
  REQUIRE_FALSE(seen_id.empty());
  REQUIRE(c.request("POST", "/v1/domains/learn/decisions/" + seen_id + "/gold", s.admin).json()["marked"] == true);
  auto with_gold = run_hitl("model evaluate" + cfg + " --domain learn --dataset learn-v1 --json");
  INFO(with_gold.out);
  const json wg = json::parse(with_gold.out.substr(with_gold.out.find('{')));
  CHECK(wg["golden_set"]["dropped"] == 1);
  CHECK(wg["golden_set"]["cases"] == 0);

  // Every step is in the hash-chained audit trail.
  auto audit = run_hitl("audit export" + cfg);
  for (const char* action : {"model.trained", "model.evaluated", "model.promoted", "model.loaded"})
    CHECK(audit.out.find(std::string("\"action\":\"") + action + "\"") != std::string::npos);
  CHECK(run_hitl("audit verify" + cfg).exit_code == 0);
  const std::string metrics = c.request("GET", "/metrics", s.admin).body;
  CHECK(metrics.find("hitl_trainings_promoted_total{domain=\"learn\"} 1") != std::string::npos);
  CHECK(metrics.find("hitl_retrain_triggers_total{domain=\"learn\"} 1") != std::string::npos);
}

namespace {

std::string error_code(const hitl::test::HttpResponse& r) { return r.json()["error"]["code"].get<std::string>(); }

}  // namespace

TEST_CASE("admins queue trainings over HTTP and see their jobs and stats while bad requests are refused",
          "[learning]") {
  const CreditData data;
  TempDir files;
  auto review_all = write_review_all(files);
  auto scheduled = files.write("sched.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  retrain = function(stats)
    if stats.event == "schedule" and stats.samples >= 5 then return true, "scheduled check" end
    return false
  end,
  -- Says yes to any candidate, so the shared-model refusal is what keeps the live model (the
  -- default rule would refuse first: sched has no unbiased rows to judge on).
  promote = function(eval) return true, "any candidate" end,
}
)");
  auto broken = files.write("broken_retrain.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  retrain = function(stats) error("retrain exploded") end,
}
)");
  // `manual` trains the source model's plugin but never promotes over its artifact (promote = false).
  Service s("manual = { policy = \"" + review_all.string() + "\", model = \"credit\", labels = { \"good\", \"bad\" }, " +
            "retrain = { promote = false } },\n" +
            "sched = { policy = \"" + scheduled.string() + "\", model = \"credit_copy\", labels = { \"good\", \"bad\" }, " +
            "retrain = { check_seconds = 1, min_interval_seconds = 3600 } },\n" +
            "learnb = { policy = \"" + broken.string() + "\", model = \"credit_copy\", labels = { \"good\", \"bad\" } },\n");
  s.start();
  HttpClient c(s.port());
  const std::string route = "/v1/admin/domains/manual/retrain";

  // Refusals, each with its code.
  CHECK(c.request("POST", route, s.reviewer).status == 403);
  CHECK(error_code(c.request("POST", "/v1/admin/domains/nope/retrain", s.admin)) == "unknown_domain");
  auto no_model = c.request("POST", "/v1/admin/domains/loans/retrain", s.admin);
  CHECK(no_model.status == 409);
  CHECK(error_code(no_model) == "not_trainable");
  CHECK(c.request("POST", route, s.admin, "{").status == 400);
  auto bad_type = c.request("POST", route, s.admin, R"({"promote": "yes"})");
  CHECK(bad_type.status == 422);
  CHECK(bad_type.json()["error"]["field"] == "promote");
  CHECK(c.request("POST", route, s.admin, R"({"bogus": 1})").status == 422);
  CHECK(c.request("GET", "/v1/admin/retrain/jobs/999", s.admin).status == 404);
  CHECK(c.request("GET", "/v1/admin/retrain/jobs/abc", s.admin).status == 404);
  CHECK(c.request("DELETE", route, s.admin).status == 405);

  // Without any outcome a training fails, says why, and changes nothing.
  auto queued = c.request("POST", route, s.admin, R"({"reason": "first try"})");
  REQUIRE(queued.status == 202);
  CHECK(queued.json()["trigger"] == "admin:root");
  CHECK(queued.json()["promote"] == false);  // the domain's retrain.promote
  json failed = wait_for_job_id(c, s, queued.json()["id"].get<long long>());
  REQUIRE(failed.is_object());
  CHECK(failed["status"] == "failed");
  CHECK(failed["error"].get<std::string>().find("no feedback yet") != std::string::npos);
  // A finished job cannot be withdrawn; an unknown one is not found.
  auto undo = c.request("DELETE", "/v1/admin/retrain/jobs/" + std::to_string(failed["id"].get<long long>()), s.admin);
  CHECK(undo.status == 409);
  CHECK(error_code(undo) == "not_cancellable");
  CHECK(c.request("DELETE", "/v1/admin/retrain/jobs/999", s.admin).status == 404);

  // After outcomes the stats count them; a manual training registers a candidate only.
  auto truth = stream(c, s, data, 0, 40, "manual");
  std::size_t corrected = 0;
  const std::size_t answered = answer_all(c, s, truth, "manual", &corrected);
  REQUIRE(answered == 40);
  json st = c.request("GET", route, s.admin).json();
  INFO(st.dump(2));
  CHECK(st["trainable"] == true);
  CHECK(st["has_retrain_hook"] == false);
  CHECK(st["stats"]["samples"] == 40);
  CHECK(st["stats"]["corrections"] == corrected);
  CHECK(st["stats"]["predictions"] == 40);
  CHECK(st["stats"]["flag_rate"] == 1.0);
  CHECK(st["stats"]["last_training_ms"].is_null());
  CHECK(st["jobs"].size() == 1);
  auto second = c.request("POST", route, s.admin, R"({"reason": "forty outcomes"})");
  REQUIRE(second.status == 202);
  json done = wait_for_job_id(c, s, second.json()["id"].get<long long>());
  INFO(done.dump(2));
  REQUIRE(done["status"] == "done");
  CHECK(done["result"]["samples"] == 40);
  CHECK(done["result"]["new_samples"] == 40);  // the first version: every outcome is new
  CHECK(done["result"]["evaluated"] == false);
  CHECK(done["result"]["decision"].get<std::string>().find("registered only") != std::string::npos);
  auto models = c.request("GET", "/v1/admin/domains/manual/models", s.admin).json();
  CHECK(models["live"]["id"].is_null());
  REQUIRE(models["versions"].size() == 1);
  CHECK(models["versions"][0]["trigger"] == "admin:root");
  CHECK(models["versions"][0]["dataset"] == "manual-v1");
  // The counters start again from the training.
  st = c.request("GET", route, s.admin).json();
  CHECK(st["stats"]["samples"] == 0);
  CHECK(st["stats"]["last_training_ms"].is_number());
  CHECK(st["jobs"][0]["id"] == second.json()["id"]);  // newest first

  // The schedule asks retrain(stats) every check_seconds; it says yes once there are outcomes.
  auto sched_truth = stream(c, s, data, 100, 110, "sched");
  REQUIRE(answer_all(c, s, sched_truth, "sched") == 10);
  const json sched_job = wait_for_job(c, s, "sched", 30);
  INFO(sched_job.dump(2));
  REQUIRE(sched_job.is_object());
  CHECK(sched_job["trigger"] == "policy");
  CHECK(sched_job["stats"]["event"] == "schedule");
  CHECK(sched_job["reason"] == "scheduled check");
  CHECK(sched_job["status"] == "done");
  // sched shares its model with learnb: a model trained on sched's feedback is not promoted over it.
  CHECK(sched_job["result"]["promoted"] == false);
  CHECK(sched_job["result"]["decision"].get<std::string>().find("is also used by domain learnb") != std::string::npos);

  // A retrain hook that fails is counted and logged, never trains, and the service stays up.
  auto b_truth = stream(c, s, data, 200, 205, "learnb");
  REQUIRE(answer_all(c, s, b_truth, "learnb") == 5);
  std::string log;
  for (int i = 0; i < 50 && log.find("policy retrain failed for domain learnb") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = s.log();
  }
  CHECK(log.find("policy retrain failed for domain learnb") != std::string::npos);
  CHECK(log.find("retrain exploded") != std::string::npos);
  CHECK(c.request("GET", "/v1/admin/domains/learnb/retrain", s.admin).json()["jobs"].empty());
  CHECK(c.request("GET", "/healthz", "").status == 200);

  // A reviewer keeps a decided hard case for every evaluation; an undecided one cannot be.
  const std::string dora = s.token("reviewer", "dora", "manual");
  const std::string gold_route = "/v1/domains/manual/decisions/c-3/gold";
  CHECK(c.request("POST", gold_route, s.client).status == 403);
  CHECK(c.request("POST", "/v1/domains/manual/decisions/nope/gold", dora).status == 404);
  auto marked = c.request("POST", gold_route, dora, R"({"reason": "thin file, large loan"})");
  REQUIRE(marked.status == 200);
  CHECK(marked.json()["marked"] == true);
  CHECK(marked.json()["label"] == truth.at("c-3"));
  CHECK(c.request("POST", gold_route, dora).json()["already_marked"] == true);
  stream(c, s, data, 50, 51, "manual");  // pending review: no final label yet
  auto undecided = c.request("POST", "/v1/domains/manual/decisions/c-50/gold", dora);
  CHECK(undecided.status == 409);
  CHECK(error_code(undecided) == "not_final");

  // hitl retrain runs the same cycle from the shell; the marked case is golden, not training data.
  const std::string cfg = " --config " + s.config.string();
  auto cli = run_hitl("retrain" + cfg + " --domain manual --no-promote --reason shell --json");
  INFO(cli.out);
  CHECK(cli.exit_code == 0);
  const json cr = json::parse(cli.out.substr(cli.out.find('{')));
  CHECK(cr["candidate"] == "manual-m2");
  CHECK(cr["samples"] == 40);
  CHECK((cr["train_rows"].get<int>() + cr["holdout_rows"].get<int>()) == 40);
  auto exported = run_hitl("dataset export" + cfg + " --id " + cr["dataset"].get<std::string>() + " --format jsonl");
  CHECK(exported.out.find(R"("decision_id":"c-3","input")") != std::string::npos);
  const bool tagged_gold = exported.out.find(R"("tags":["confirmed","gold"])") != std::string::npos ||
                           exported.out.find(R"("tags":["user-correction","gold"])") != std::string::npos;
  CHECK(tagged_gold);
  auto ev = run_hitl("model evaluate" + cfg + " --domain manual --dataset " + cr["dataset"].get<std::string>() + " --json");
  INFO(ev.out);
  REQUIRE(ev.exit_code == 0);
  const json evj = json::parse(ev.out.substr(ev.out.find('{')));
  CHECK(evj["golden_set"]["cases"] == 1);
  CHECK(evj["golden_set"]["marked"] == 1);
  CHECK(evj["live"]["golden"]["rows"] == 1);
  CHECK(run_hitl("audit export" + cfg).out.find(R"("action":"gold.marked")") != std::string::npos);
  CHECK(run_hitl("retrain" + cfg + " --domain loans").out.find("has no model to train") != std::string::npos);
  CHECK(run_hitl("retrain" + cfg + " --domain nope").exit_code != 0);
}

TEST_CASE("a queued training can be withdrawn while another one runs", "[learning]") {
  if (!fs::exists(fs::path(HITL_PLUGIN_DIR) / "model-xgboost.so")) {
    HITL_SKIP("model-xgboost not built (HITL_WITH_XGBOOST=OFF): nothing slow enough to queue behind");
  }
  TempDir files;
  auto review_all = write_review_all(files);
  const std::string csv = std::string(HITL_SOURCE_DIR) + "/examples/credit_risk/data/credit_data.csv";
  // slow: thousands of deep trees on the whole credit file take seconds (5000: long enough that
  // it still runs when the quick job is withdrawn, on a loaded machine too); quick queues behind it.
  Service s("slow = { policy = \"" + review_all.string() + "\", model = \"slow_xgb\", labels = { \"good\", \"bad\" }, " +
                "retrain = { base_data = \"" + csv + "\", base_label = \"Status\", promote = false } },\n" +
                "quick = { policy = \"" + review_all.string() + "\", model = \"credit\", labels = { \"good\", \"bad\" }, " +
                "retrain = { promote = false } },\n",
            "slow_xgb = { plugin = \"xgboost\", config = { num_round = 5000, max_depth = 8 } },\n");
  s.start();
  HttpClient c(s.port());
  for (const char* d : {"slow", "quick"}) {
    json p = {{"id", "a-1"}, {"input", {{"Amount", 900}, {"Home", "rent"}}}, {"prediction", {{"label", "good"}, {"confidence", 0.6}}}};
    REQUIRE(c.request("POST", std::string("/v1/domains/") + d + "/predictions", s.client, p.dump()).status == 200);
    auto t = c.request("GET", std::string("/v1/review/next?domain=") + d, s.admin).json();
    REQUIRE(c.request("POST", "/v1/review/tasks/" + std::to_string(t["task_id"].get<long long>()) + "/outcome", s.admin,
                      R"({"outcome":"approve"})").status == 200);
  }
  auto slow = c.request("POST", "/v1/admin/domains/slow/retrain", s.admin);
  REQUIRE(slow.status == 202);
  auto again = c.request("POST", "/v1/admin/domains/slow/retrain", s.admin);
  CHECK(again.status == 409);
  CHECK(again.json()["error"]["code"] == "training_in_progress");
  // The worker picks the slow job up on its own thread: wait until it runs (on a loaded machine
  // it can still be queued here, and a queued job may be withdrawn).
  const std::string slow_job = "/v1/admin/retrain/jobs/" + std::to_string(slow.json()["id"].get<long long>());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (get_ok(c, s, slow_job)["status"] == "queued" && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(get_ok(c, s, slow_job)["status"] == "running");
  auto quick = c.request("POST", "/v1/admin/domains/quick/retrain", s.admin);
  REQUIRE(quick.status == 202);
  const std::string quick_job = "/v1/admin/retrain/jobs/" + std::to_string(quick.json()["id"].get<long long>());
  auto withdrawn = c.request("DELETE", quick_job, s.admin);
  INFO(withdrawn.body);
  REQUIRE(withdrawn.status == 200);
  CHECK(withdrawn.json()["status"] == "cancelled");
  CHECK(withdrawn.json()["error"] == "cancelled by root");
  // The running one cannot be stopped part-way; it finishes, and the withdrawn one never runs.
  auto running = c.request("DELETE", slow_job, s.admin);
  CHECK(running.status == 409);
  const json done = wait_for_job_id(c, s, slow.json()["id"].get<long long>(), 120);
  INFO(done.dump());
  CHECK(done["status"] == "done");
  // The base file's rows: those trained on and its holdout share, never trained on.
  CHECK(done["result"]["base_rows"].get<int>() + done["result"]["base_holdout_rows"].get<int>() == 4454);
  CHECK(c.request("GET", quick_job, s.admin).json()["status"] == "cancelled");
  CHECK(c.request("GET", "/v1/admin/domains/quick/models", s.admin).json()["versions"].empty());
}

TEST_CASE("a fast stream of outcomes is asked retrain(stats) as it goes, not once a second", "[learning]") {
  const CreditData data;
  TempDir files;
  // Never says yes: the test counts how often it is asked.
  auto never = files.write("never.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  retrain = function(stats) return false end,
}
)");
  Service s("fast = { policy = \"" + never.string() + "\", model = \"credit\", labels = { \"good\", \"bad\" } },\n");
  s.start();
  HttpClient c(s.port());
  auto truth = stream(c, s, data, 0, 300, "fast");
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(answer_all(c, s, truth, "fast") == 300);
  const auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  // At least one check per 50 outcomes however fast they came (timed checks only add to that).
  const std::string series = "hitl_retrain_checks_total{domain=\"fast\"} ";
  std::uint64_t checks = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (checks < 6 && std::chrono::steady_clock::now() < deadline) {
    const std::string metrics = c.request("GET", "/metrics", s.admin).body;
    const auto at = metrics.find(series);
    REQUIRE(at != std::string::npos);
    checks = std::stoull(metrics.substr(at + series.size()));
    if (checks < 6) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("300 outcomes in " << took_ms << " ms");
  CHECK(checks >= 6);
}

TEST_CASE("the last outcomes of a fast burst are asked too, so the training they call for starts", "[learning]") {
  // issue 18 item 8: 134 outcomes in 0.4 s were asked once and trained nothing. The policy here
  // says yes only at exactly the burst's size, so only a check after its last outcome can start it.
  constexpr int kBurst = 134;
  const CreditData data;
  TempDir files;
  const auto base = data.write(files, "base.csv", 0, 100);
  auto at_burst = files.write("burst.lua", R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  retrain = function(stats) return stats.samples >= )" + std::to_string(kBurst) + R"(, "burst" end,
}
)");
  Service s("burst = { policy = \"" + at_burst.string() + "\", model = \"credit\", labels = { \"good\", \"bad\" }, " +
            "retrain = { base_data = \"" + base.string() + "\", base_label = \"Status\", check_seconds = 0 } },\n");
  s.start();
  HttpClient c(s.port());
  auto truth = stream(c, s, data, 100, 100 + kBurst, "burst");
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(answer_all(c, s, truth, "burst") == std::size_t(kBurst));
  const auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  INFO(kBurst << " outcomes in " << took_ms << " ms");
  const json job = wait_for_job(c, s, "burst", 60);
  REQUIRE(job.is_object());
  INFO(job.dump(2));
  CHECK(job["trigger"] == "policy");
  CHECK(job["stats"]["samples"] == kBurst);
  CHECK(job["status"] == "done");
}

TEST_CASE("reported truths of decisions no person reviewed count as new evidence for retrain(stats)", "[learning]") {
  const CreditData data;
  TempDir files;
  auto auto_all = files.write("auto.lua", R"(
local hitl = require "hitl"
return { flag = function(p) return hitl.auto() end }
)");
  Service s("truths = { policy = \"" + auto_all.string() + "\", model = \"credit\", labels = { \"good\", \"bad\" } },\n");
  s.start();
  HttpClient c(s.port());
  // The worker reads the counters since the last training from storage once, after the start;
  // the records and truths below go on meanwhile (each counted once: learning-loop.md), and the
  // figures are whole once that read is in ("seeding": false).
  auto seeded = [&](HttpClient& client) {
    for (int i = 0; i < 100; ++i) {
      const json st = client.request("GET", "/v1/admin/domains/truths/retrain", s.admin).json();
      if (!st["stats"].value("seeding", true)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  auto truth = stream(c, s, data, 0, 10, "truths");
  REQUIRE(truth.size() == 10);
  std::size_t reported = 0, corrections = 0;
  std::string first_model_label;
  for (const auto& [id, label] : truth) {
    if (reported == 6) break;
    auto d = c.request("GET", "/v1/domains/truths/decisions/" + id, s.admin).json();
    REQUIRE(d.contains("label"));
    if (reported == 0) first_model_label = d["label"];
    auto put = c.request("PUT", "/v1/domains/truths/decisions/" + id + "/truth", s.admin, json({{"label", label}}).dump());
    REQUIRE(put.status == 200);
    ++reported;
    corrections += d["label"] != label;
  }
  // Reported again (changed): the decision was counted at its first truth.
  const std::string first_id = truth.begin()->first;
  const std::string other = truth.begin()->second == "good" ? "bad" : "good";
  REQUIRE(c.request("PUT", "/v1/domains/truths/decisions/" + first_id + "/truth", s.admin,
                    json({{"label", other}}).dump()).status == 200);
  REQUIRE(seeded(c));
  json st = c.request("GET", "/v1/admin/domains/truths/retrain", s.admin).json();
  INFO(st.dump(2));
  CHECK(st["stats"]["samples"] == 6);
  CHECK(st["stats"]["corrections"] == corrections);
  // A restarted service rebuilds the count from storage: the truths are in it again, each
  // decision once, a correction when its newest truth is not the model's label.
  const std::size_t corrections_now = corrections - (first_model_label != truth.begin()->second) +
                                      (first_model_label != other);
  s.stop();
  s.start();
  HttpClient again(s.port());
  REQUIRE(seeded(again));
  st = again.request("GET", "/v1/admin/domains/truths/retrain", s.admin).json();
  INFO(st.dump(2));
  CHECK(st["stats"]["samples"] == 6);
  CHECK(st["stats"]["corrections"] == corrections_now);
}

namespace {

// The model_version of new decisions of `domain`, once it is `wanted` (the service reloads a
// swapped artifact within ~2 s); "" when it never becomes it. Their labels go into `truth`.
std::string scored_by(HttpClient& c, const Service& s, const CreditData& data, const std::string& domain,
                      const std::string& wanted, const std::string& id_prefix, std::map<std::string, std::string>& truth) {
  std::string by;
  for (int i = 0; i < 60 && by != wanted; ++i) {
    auto [input, status] = data.row(3000);
    const std::string id = id_prefix + std::to_string(i);
    truth[id] = status;
    REQUIRE(c.request("POST", "/v1/domains/" + domain + "/predictions", s.client,
                      json({{"id", id}, {"input", input}}).dump()).status == 200);
    by = c.request("GET", "/v1/domains/" + domain + "/decisions/" + id, s.admin).json().value("model_version", "");
    if (by != wanted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return by == wanted ? by : "";
}

// The config line of a domain whose policy decides every case automatically and sends `rate` of
// them to review anyway as audit samples.
std::string audited_domain(const TempDir& files, const std::string& name, const std::string& model, const std::string& rate,
                           const std::string& retrain = "") {
  auto policy = files.write(name + ".lua", "local hitl = require \"hitl\"\nreturn { audit_rate = " + rate +
                                               ", flag = function(p) return hitl.auto() end }\n");
  return name + " = { policy = \"" + policy.string() + "\", model = \"" + model + "\", labels = { \"good\", \"bad\" }" +
         (retrain.empty() ? "" : ", retrain = { " + retrain + " }") + " },\n";
}

}  // namespace

TEST_CASE("the live guard rolls back a promoted model its audit samples show worse than its predecessor",
          "[learning]") {
  const CreditData data;
  TempDir files;
  // Every case is decided automatically; half of them go to review anyway as audit samples.
  Service s(audited_domain(files, "guard", "guarded", "0.5", "guard_min_samples = 60"),
            "    guarded = { plugin = \"logreg\", config = { artifact = \"guarded.json\" } },\n");
  fs::copy_file(std::string(HITL_SOURCE_DIR) + "/examples/credit_risk/model/credit_logreg.json", s.dir.path / "guarded.json");
  const std::string cfg = " --config " + s.config.string();
  // A deliberately worse model: trained on rows with every label flipped, registered as guard-m1.
  const auto flipped = data.write(files, "flipped.csv", 0, 1000, /*flip=*/true);
  auto worse = run_hitl("train" + cfg + " --domain guard --data " + flipped.string() + " --label Status --register");
  INFO(worse.out);
  REQUIRE(worse.exit_code == 0);
  REQUIRE(worse.out.find("registered guard-m1") != std::string::npos);
  s.start();
  HttpClient c(s.port());

  // The first model decides 300 cases; reviewers answer its audit samples with the recorded labels.
  auto before = stream(c, s, data, 1000, 1300, "guard");
  const std::size_t first_audits = answer_all(c, s, before, "guard");
  INFO("audit samples of the first model: " << first_audits);
  REQUIRE(first_audits >= 100);

  // An operator promotes the worse model; the service swaps it in.
  auto promoted = run_hitl("model promote" + cfg + " --domain guard --id guard-m1");
  INFO(promoted.out);
  REQUIRE(promoted.exit_code == 0);
  auto models = c.request("GET", "/v1/admin/domains/guard/models", s.admin).json();
  REQUIRE(models["live"]["id"] == "guard-m1");
  const std::string bad_version = models["versions"][1]["plugin_version"].get<std::string>();
  const std::string good_version = models["versions"][0]["plugin_version"].get<std::string>();
  REQUIRE(models["versions"][0]["id"] == "guard-m0");
  REQUIRE_FALSE(good_version.empty());
  std::map<std::string, std::string> after;
  REQUIRE(scored_by(c, s, data, "guard", bad_version, "swap-", after) == bad_version);

  // Its audit samples come in; past 60 the guard judges it on the worker thread and rolls it back.
  after.merge(stream(c, s, data, 1300, 1500, "guard"));
  answer_all(c, s, after, "guard");
  std::string live;
  for (int i = 0; i < 100 && live != "guard-m0"; ++i) {
    live = c.request("GET", "/v1/admin/domains/guard/models", s.admin).json()["live"]["id"].get<std::string>();
    if (live != "guard-m0") std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(s.log());
  REQUIRE(live == "guard-m0");
  CHECK(scored_by(c, s, data, "guard", good_version, "back-", after) == good_version);

  // Audited, with the figures; the chain still verifies; and the guard judged it once only.
  auto audit = run_hitl("audit export" + cfg);
  std::size_t rolled_back = 0;
  for (std::size_t at = 0; (at = audit.out.find("\"action\":\"model.rolled_back\"", at)) != std::string::npos; ++at) ++rolled_back;
  CHECK(rolled_back == 1);
  CHECK(audit.out.find("live guard: guard-m1 audited accuracy") != std::string::npos);
  CHECK(run_hitl("audit verify" + cfg).exit_code == 0);
  const json history = c.request("GET", "/v1/admin/domains/guard/models", s.admin).json();
  CHECK(history["live"]["reason"].get<std::string>().find("live guard: guard-m1") == 0);
  WARN(history["live"]["reason"].get<std::string>());
}

TEST_CASE("audit samples reach the dataset with their sampling chance and make the weighted audit set", "[learning]") {
  const CreditData data;
  TempDir files;
  Service s(audited_domain(files, "audited", "credit", "0.25"));
  const std::string cfg = " --config " + s.config.string();
  s.start();
  HttpClient c(s.port());
  auto truth = stream(c, s, data, 0, 400, "audited");
  const std::size_t audits = answer_all(c, s, truth, "audited");
  INFO("audit samples answered: " << audits);
  REQUIRE(audits >= 60);  // about 100 of 400 at 0.25
  REQUIRE(run_hitl("dataset snapshot" + cfg + " --domain audited").exit_code == 0);
  // Each is tagged audit, with the chance it was drawn read back from its decision.created record.
  auto exported = run_hitl("dataset export" + cfg + " --id audited-v1 --format jsonl");
  REQUIRE(exported.exit_code == 0);
  std::size_t tagged = 0;
  std::stringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() != '{') continue;
    const json sample = json::parse(line);
    const auto& tags = sample["tags"];
    if (std::find(tags.begin(), tags.end(), "audit") == tags.end()) continue;
    ++tagged;
    CHECK(sample["audit_p"] == 0.25);
  }
  CHECK(tagged == audits);
  // The evaluation's audit set holds all of them, weighted 4 each: the effective size is the count.
  auto ev = run_hitl("model evaluate" + cfg + " --domain audited --dataset audited-v1 --json");
  INFO(ev.out);
  REQUIRE(ev.exit_code == 0);
  const json e = json::parse(ev.out.substr(ev.out.find('{')));
  const json& audit_set = e["sets"]["audit"];
  CHECK(audit_set["rows"] == audits);
  CHECK(audit_set["audit_samples"] == audits);
  CHECK(audit_set["truths"] == 0);
  CHECK(audit_set["live"]["effective_rows"].get<double>() == Approx(double(audits)));
  const double accuracy = audit_set["live"]["accuracy"].get<double>();
  CHECK(audit_set["live"]["accuracy_ci95"][0].get<double>() < accuracy);
  CHECK(audit_set["live"]["accuracy_ci95"][1].get<double>() > accuracy);
  WARN("audited accuracy of the example model on " << audits << " audit samples: " << accuracy << " "
       << audit_set["live"]["accuracy_ci95"].dump());
}
