// `hitl simulate` on each example with its default settings (docs/simulate.md, issue
// 17 "Done when"): fewer than a fifth of the records reviewed, the system more accurate than the
// model alone, and, where the loop promoted, a promoted model whose AUC on the records it scored
// beats the first model's on the same records. The stream (data/credit_stream.csv) never overlaps
// the first model's training data (data/credit_train.csv).
//
// The same runs check issue 18's "Done when" (docs/learning-loop.md, "Measured on the
// examples"): no model swap makes accuracy on the records that follow worse beyond noise (a
// paired test at 95%), the audit samples' estimate of the system's accuracy holds the true figure
// in its interval, and the review share stays within 3 points of the policy's 15% target. One run
// per example checks both issues, so CI pays for each simulation once.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using hitl::test::run_hitl;
using nlohmann::json;

namespace {

const fs::path kExample = fs::path(HITL_SOURCE_DIR) / "examples" / "credit_risk";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// issue 18's checks on one run's JSON (run with --review-target 0.15).
void check_loop_is_honest(const json& j) {
  INFO(j["estimates"].dump(2) + "\n" + j["review_target"].dump() + "\n" + j["promotions_judged"].dump(2) + "\n" +
       j["training_runs"].dump(2));
  const auto& system = j["estimates"]["system"];
  REQUIRE(system["estimate"].is_number());
  CHECK(j["estimates"]["audit_samples"].get<int>() >= 30);
  CHECK(system["ci95"][0].get<double>() <= system["true"].get<double>());
  CHECK(system["true"].get<double>() <= system["ci95"][1].get<double>());
  CHECK(system["true_within_ci95"] == true);
  CHECK(std::abs(j["review_target"]["points_off"].get<double>()) <= 3.0);
  // Every swap (a promotion, or a rollback) judged against the model it replaced, on the
  // records the new one decided, and none worse beyond noise.
  CHECK(j["promotions_judged"].size() >= j["promotions"].get<std::size_t>());
  for (const auto& swap : j["promotions_judged"]) {
    CHECK_FALSE(swap.contains("not_judged"));
    CHECK_FALSE(swap.value("worse_beyond_noise", true));
    CHECK(swap["records"].get<int>() > 0);
  }
  // Without a promotion the test must still mean something: the loop trained candidates and
  // the promotion rule judged each one (its decision names the paired test's figures).
  CHECK(j["trainings"].get<int>() >= 1);
  for (const auto& t : j["training_runs"]) {
    CHECK(t["status"] == "done");
    CHECK(t["decision"].get<std::string>().find("McNemar") != std::string::npos);
  }
  // The curves are there for every signal, rising with the review rate.
  for (const char* signal : {"top_score", "margin", "entropy", "ood"}) {
    const auto& c = j["capture"]["signals"][signal];
    REQUIRE(c.size() == 5);
    CHECK(c["0.05"].get<double>() <= c["0.30"].get<double>());
  }
}

}  // namespace

TEST_CASE("simulate: the credit_risk example's default run keeps people on a fifth, beats the model, and its loop is honest") {
  hitl::test::TempDir dir("hitl-simulate");
  const fs::path out = dir.path / "run.json", page = dir.path / "run.html";
  const std::string model_before = read(kExample / "model" / "credit_logreg.json");
  // stdout to the file through cat: run_hitl sends stderr (the "wrote" line) to its pipe.
  const auto r = run_hitl("simulate --config " + (kExample / "hitl.lua").string() + " --domain credit_risk --data " +
                          (kExample / "data" / "credit_stream.csv").string() + " --label Status --review-target 0.15 --json --html " +
                          page.string() + " | cat > " + out.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(read(out));
  INFO(j.dump(2).substr(0, 3000));
  CHECK(j["records"] == 2954);
  CHECK(j["reviewed_share"].get<double>() < 0.2);
  CHECK(j["system_accuracy"].get<double>() > j["model_accuracy"].get<double>());
  CHECK(j["sla_met"].get<double>() > 0.9);
  CHECK(j["open_tasks_at_end"] == 0);
  const auto& versions = j["versions"];
  REQUIRE(versions.size() == std::size_t(j["promotions"].get<int>()) + 1);
  if (versions.size() > 1) {  // the loop promoted: the promoted model ranks the later records better
    const auto& last = versions.back();
    CHECK(last["auc"].get<double>() > last["first_model_auc"].get<double>());
  }
  // The run wrote only in its own folder: the example's model is the one it started from.
  CHECK(read(kExample / "model" / "credit_logreg.json") == model_before);
  const std::string html = read(page);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http") == std::string::npos);  // nothing fetched from anywhere
  check_loop_is_honest(j);
}

namespace {

// The default run of one example over its stream (data/stream.csv): the claims its README makes.
// With two labels a promoted model must rank the later records better (AUC), with more it must
// be right more often on them (accuracy), than the first model on the same records.
// `loop_checks`: issue 18's too (the examples it names).
void check_example_run(const std::string& example, const std::string& label, bool loop_checks) {
  hitl::test::TempDir dir("hitl-simulate-" + example);
  const fs::path folder = fs::path(HITL_SOURCE_DIR) / "examples" / example, out = dir.path / "run.json";
  const auto r = run_hitl("simulate --config " + (folder / "hitl.lua").string() + " --domain " + example + " --data " +
                          (folder / "data" / "stream.csv").string() + " --label " + label + " --review-target 0.15 --json | cat > " +
                          out.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(read(out));
  INFO(j.dump(2).substr(0, 3000));
  CHECK(j["reviewed_share"].get<double>() < 0.2);
  CHECK(j["system_accuracy"].get<double>() > j["model_accuracy"].get<double>());
  const auto& versions = j["versions"];
  REQUIRE(versions.size() == std::size_t(j["promotions"].get<int>()) + 1);
  for (std::size_t i = 1; i < versions.size(); ++i) {
    const auto& v = versions[i];
    if (v["auc"].is_number()) CHECK(v["auc"].get<double>() > v["first_model_auc"].get<double>());
    else CHECK(v["accuracy"].get<double>() > v["first_model_accuracy"].get<double>());
  }
  if (loop_checks) check_loop_is_honest(j);
}

}  // namespace

TEST_CASE("simulate: customer_churn's default run keeps people under a fifth, beats the model, and its loop is honest") {
  check_example_run("customer_churn", "churn", true);
}

TEST_CASE("simulate: hpc_jobs' default run (four classes) keeps people under a fifth, beats the model, and its loop is honest") {
  check_example_run("hpc_jobs", "class", true);
}

// Not a data set issue 18 names, but its loop is held to the same checks: its first model no
// longer saw the base holdout, so nothing excuses it.
TEST_CASE("simulate: review_triage's default run (a text model) keeps people under a fifth, beats the model, and its loop is honest") {
  check_example_run("review_triage", "score", true);
}

TEST_CASE("simulate: wrong options are refused before anything runs") {
  const std::string base = "simulate --config " + (kExample / "hitl.lua").string() + " --data " +
                           (kExample / "data" / "credit_stream.csv").string() + " --label Status";
  auto r = run_hitl(base + " --domain nope");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("unknown domain") != std::string::npos);
  r = run_hitl(base + " --domain credit_risk --handle-time gamma:3s");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("unknown kind") != std::string::npos);
  r = run_hitl("simulate --config " + (kExample / "hitl.lua").string() + " --domain credit_risk --data " +
               (kExample / "data" / "credit_stream.csv").string() + " --label Nope");
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("Nope") != std::string::npos);
}
