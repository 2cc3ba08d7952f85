// hitl simulate (simulate/simulate.hpp): the handle-time syntax, the sandboxed config (a run never
// writes where the config points), and runs of a small stream through a real instance whose
// policy retrains early: the same seed gives the same figures, trainings included.
#include "simulate/simulate.hpp"

#include "app/app.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace hitl;
using nlohmann::json;

namespace {

const fs::path kExample = fs::path(HITL_SOURCE_DIR) / "examples" / "credit_risk";

std::string read(const fs::path& p) { return read_whole_file(p); }

struct Loaded {
  config::ServiceConfig cfg;
  plugin::LoadedPlugins plugins;
};

Loaded load(const fs::path& file) {
  plugin::PathOptionCatalog catalog;
  auto path_options = [&catalog](const std::vector<fs::path>& dirs, std::string_view kind, const std::string& name) {
    return catalog.path_options(dirs, kind, name);
  };
  Loaded out{config::load_config(file, HITL_PLUGIN_DIR, fs::path(HITL_SOURCE_DIR) / "scripts" / "lib", path_options), {}};
  out.plugins = catalog.take(out.cfg.plugin_dirs);
  return out;
}

// The example's model, golden set and training data, with a policy that asks for a training
// after 40 reviewed cases, so a stream of a few hundred records promotes or keeps a candidate.
// `extra` adds entries to the policy's table.
fs::path write_config(test::TempDir& dir, const std::string& extra = "") {
  dir.write("policy.lua", R"(local hitl = require "hitl"
return {)" + extra + R"(
  flag = function(p)
    local bad = p.prediction.scores.bad
    if hitl.between(bad, 0.3, 0.7) then return hitl.review("uncertain") end
    return hitl.auto()
  end,
  gold_rate = 0.1,
  retrain = function(stats) return stats.samples >= 40 and stats.corrections >= 5 end,
})");
  const std::string ex = kExample.string();
  return dir.write("hitl.lua", "return {\n"
                               "  storage = { plugin = \"sqlite\", config = { path = \"live.db\" } },\n"
                               "  queue = { plugin = \"sqlite\", config = { path = \"live.db\" } },\n"
                               "  models = { credit = { plugin = \"logreg\", config = { artifact = \"" + ex +
                               "/model/credit_logreg.json\" } } },\n"
                               "  domains = { credit_risk = { policy = \"policy.lua\", model = \"credit\", labels = { \"good\", \"bad\" },\n"
                               "    cost = { reviewer_per_hour = 40, per_prediction = 0.0005 },\n"
                               "    webhook = { url = \"http://127.0.0.1:9/never\", secret = \"s\" },\n"
                               "    gold_file = \"" + ex + "/gold.jsonl\",\n"
                               "    retrain = { base_data = \"" + ex + "/data/credit_train.csv\", base_label = \"Status\",\n"
                               "                min_interval_seconds = 3600 } } },\n"
                               "}\n");
}

json run_once(const fs::path& config, const fs::path& work, std::size_t limit, std::uint64_t seed,
              const std::string& handle_time = "lognormal:60s,0.6") {
  auto loaded = load(config);
  const auto rows = simulate::read_stream(kExample / "data" / "credit_stream.csv", "Status",
                                          loaded.cfg.domains.at("credit_risk").labels, limit);
  auto cfg = simulate::sandbox_config(std::move(loaded.cfg), *loaded.plugins.registry, "credit_risk", work);
  simulate::Options o;
  o.domain = "credit_risk";
  o.reviewers = 2;
  o.reviewer_accuracy = 0.9;
  o.handle_time = simulate::parse_handle_time(handle_time);
  o.rate = 0.02;
  o.seed = seed;
  service::App app(std::move(cfg), std::move(loaded.plugins));
  auto j = simulate::to_json(simulate::run(app, o, rows));
  j.erase("wall_seconds");
  return j;
}

}  // namespace

TEST_CASE("simulate: handle times parse as documented and draw within bounds") {
  using simulate::HandleTime;
  std::mt19937_64 rng(1);
  const auto fixed = simulate::parse_handle_time("fixed:30s");
  CHECK(fixed.kind == HandleTime::Kind::fixed);
  CHECK(simulate::draw_ms(fixed, rng) == 30'000);
  CHECK(simulate::draw_ms(simulate::parse_handle_time("fixed:2m"), rng) == 120'000);
  const auto logn = simulate::parse_handle_time("lognormal:45s,0.5");
  CHECK(logn.kind == HandleTime::Kind::lognormal);
  CHECK(logn.seconds == 45);
  CHECK(logn.sigma == 0.5);
  CHECK(simulate::to_string(logn) == "lognormal:45s,0.5");
  std::vector<std::int64_t> draws;
  for (int i = 0; i < 2001; ++i) draws.push_back(simulate::draw_ms(logn, rng));
  std::nth_element(draws.begin(), draws.begin() + 1000, draws.end());
  CHECK(draws[1000] > 40'000);  // the median is the median
  CHECK(draws[1000] < 50'000);
  CHECK(simulate::draw_ms(simulate::parse_handle_time("exponential:1h"), rng) <= 24 * 3600 * 1000);
  for (const char* bad : {"30s", "fixed:", "fixed:-1s", "fixed:25h", "lognormal:45s", "lognormal:45s,9", "gamma:3s",
                          "fixed:1e999s", "fixed:abc"})
    CHECK_THROWS_AS(simulate::parse_handle_time(bad), std::invalid_argument);
}

TEST_CASE("simulate: the stream's truth is taken out of the input and checked against the labels") {
  test::TempDir dir("hitl-sim");
  const auto csv = dir.write("s.csv", "Amount,Status\n10,good\n20,bad\n30,good\n");
  const auto rows = simulate::read_stream(csv, "Status", {"good", "bad"}, 2);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].id == "s:2");
  CHECK(rows[1].truth == "bad");
  CHECK_FALSE(rows[1].input.contains("Status"));
  const auto odd = dir.write("o.csv", "Amount,Status\n10,maybe\n");
  CHECK_THROWS_WITH(simulate::read_stream(odd, "Status", {"good", "bad"}, 0), Catch::Contains("row 1"));
}

TEST_CASE("simulate: the example's training data and stream are the two halves of its data, apart") {
  const auto lines = [](const fs::path& p) {
    std::vector<std::string> out;
    std::istringstream in(read(p));
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  };
  const auto all = lines(kExample / "data" / "credit_data.csv");
  const auto train = lines(kExample / "data" / "credit_train.csv"), stream = lines(kExample / "data" / "credit_stream.csv");
  REQUIRE(train.size() == 1501);
  REQUIRE(all.size() == train.size() + stream.size() - 1);
  CHECK(train.front() == all.front());
  CHECK(stream.front() == all.front());
  CHECK(std::equal(train.begin(), train.end(), all.begin()));
  CHECK(std::equal(stream.begin() + 1, stream.end(), all.begin() + 1501));
}

TEST_CASE("simulate: the sandboxed config writes only below the work folder") {
  test::TempDir dir("hitl-sim");
  auto loaded = load(write_config(dir));
  const auto work = dir.path / "work";
  const auto cfg = simulate::sandbox_config(loaded.cfg, *loaded.plugins.registry, "credit_risk", work);
  CHECK(json::parse(cfg.storage.config_json)["path"] == (work / "simulation.db").string());
  CHECK(json::parse(cfg.queue.config_json)["path"] == (work / "simulation.db").string());
  CHECK(cfg.registry_dir == work / "registry");
  const fs::path artifact = json::parse(cfg.models.at("credit").ref.config_json)["artifact"].get<std::string>();
  CHECK(artifact.parent_path() == work / "models");
  CHECK(read(artifact) == read(kExample / "model" / "credit_logreg.json"));
  CHECK(fs::exists(artifact.string() + ".features.json"));
  CHECK(cfg.domains.at("credit_risk").webhook_url.empty());
  CHECK_THROWS(simulate::sandbox_config(loaded.cfg, *loaded.plugins.registry, "nope", work));
}

TEST_CASE("simulate: one seed gives one result, trainings included, and the originals stay untouched") {
  test::TempDir dir("hitl-sim");
  const auto config = write_config(dir);
  const std::string model_before = read(kExample / "model" / "credit_logreg.json");
  const json a = run_once(config, dir.path / "a", 500, 7);
  const json b = run_once(config, dir.path / "b", 500, 7);
  CHECK(a == b);
  CHECK(a["records"] == 500);
  CHECK(a["trainings"].get<int>() >= 1);  // the policy's retrain(stats) said yes during the run
  REQUIRE(a["training_runs"].size() == a["trainings"].get<std::size_t>());
  CHECK_FALSE(a["training_runs"][0]["decision"].get<std::string>().empty());
  CHECK(a["gold"]["answers"].get<int>() > 0);
  CHECK(a["reviewed"].get<int>() > 0);
  CHECK(a["open_tasks_at_end"] == 0);  // the reviewers drained the queue
  CHECK(a["series"].size() == 50);
  const json c = run_once(config, dir.path / "c", 500, 8);
  CHECK(c["reviewer_hours"] != a["reviewer_hours"]);  // another seed, other draws
  CHECK(read(kExample / "model" / "credit_logreg.json") == model_before);
  CHECK_FALSE(fs::exists(dir.path / "live.db"));
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(now_ms() - wall) < 60'000);  // the clock is thawed after a run
}

TEST_CASE("simulate: a reviewer on a case longer than the lease renews it and answers") {
  test::TempDir dir("hitl-sim");
  const json j = run_once(write_config(dir), dir.path / "w", 60, 3, "fixed:20m");  // the lease is 300 s
  CHECK(j["lost_answers"] == 0);
  CHECK(j["reviewed"].get<int>() > 0);
  CHECK(j["reviewed"] == j["flagged"]);
  // 20 minutes a review, gold tasks left out as the report leaves them out.
  CHECK(j["reviewer_hours"].get<double>() == Approx(j["reviewed"].get<double>() / 3));
}

TEST_CASE("simulate: an answer to a task an escalation decided meanwhile is lost, not fatal") {
  test::TempDir dir("hitl-sim");
  write_config(dir);
  // Every record to review, due in 10 minutes; at the breach the policy decides "bad" itself.
  dir.write("policy.lua", R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("all") end,
  sla = function(task) return 600 end,
  escalate = function(task, event)
    if event.kind == "breached" then return hitl.default_decision("bad") end
  end,
})");
  auto loaded = load(dir.path / "hitl.lua");
  const auto rows = simulate::read_stream(kExample / "data" / "credit_stream.csv", "Status", {"good", "bad"}, 40);
  auto cfg = simulate::sandbox_config(std::move(loaded.cfg), *loaded.plugins.registry, "credit_risk", dir.path / "w");
  simulate::Options o;
  o.domain = "credit_risk";
  o.reviewers = 3;
  o.rate = 0.005;  // one every 200 s: three reviewers keep up, but many cases take over 10 minutes
  o.handle_time = simulate::parse_handle_time("lognormal:9m,0.4");
  service::App app(std::move(cfg), std::move(loaded.plugins));
  const auto r = simulate::run(app, o, rows);
  CHECK(r.lost_answers > 0);
  CHECK(r.reviewed > 0);
  CHECK(r.reviewed + r.lost_answers <= r.records);
  CHECK(r.reviewed < r.flagged);  // the defaults are not counted as reviews
}

TEST_CASE("simulate: every promotion is judged against the model it replaced, loaded from the registry") {
  test::TempDir dir("hitl-sim");
  // A policy that promotes every candidate: swaps happen, whatever the candidates are worth.
  const json j = run_once(write_config(dir, "\n  promote = function(eval) return true, \"always\" end,"), dir.path / "p",
                          600, 7);
  INFO(j["promotions_judged"].dump(2) + "\n" + j["versions"].dump(2));
  REQUIRE(j["promotions"].get<int>() >= 1);
  const auto& judged = j["promotions_judged"];
  const auto& versions = j["versions"];
  REQUIRE(judged.size() == versions.size() - 1);  // no rollback here: each version once
  for (std::size_t k = 0; k < judged.size(); ++k) {
    const auto& swap = judged[k];
    const auto& before = versions[k];
    const auto& after = versions[k + 1];
    CHECK_FALSE(swap.contains("not_judged"));
    CHECK(swap["from_version"] == before["model_version"]);
    CHECK(swap["to_version"] == after["model_version"]);
    CHECK(swap["to_id"] == "credit_risk-m" + std::to_string(k + 1));
    CHECK(swap["from_id"] == "credit_risk-m" + std::to_string(k));
    CHECK(swap["rollback"] == false);
    CHECK(swap["first_record"] == after["first_record"]);
    CHECK(swap["records"] == after["records"]);
    // The new model's figure is what it scored live; the replaced one's is reproduced from its
    // registry artifact. For the first swap that is the configured model (kept as m0), whose
    // figure the run also computes on its own, from the model it loaded at the start.
    CHECK(swap["to_accuracy"].get<double>() == Approx(after["accuracy"].get<double>()));
    if (k == 0) CHECK(swap["from_accuracy"].get<double>() == Approx(after["first_model_accuracy"].get<double>()));
    const double records = swap["records"].get<double>();
    CHECK(swap["to_accuracy"].get<double>() - swap["from_accuracy"].get<double>() ==
          Approx((swap["to_only_right"].get<double>() - swap["from_only_right"].get<double>()) / records));
    CHECK(swap["worse_beyond_noise"] == (swap["p_value"].get<double>() < 0.05));
  }
}
