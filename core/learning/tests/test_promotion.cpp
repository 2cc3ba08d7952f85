// The evaluation sets and the default promotion rule through compare(), with real logreg models:
// hand-written artifacts on one feature x that call a case "bad" above a cut point. The truth is
// "bad above 0.5". A candidate that wins on the reviewed (hard) slice but loses on the unbiased
// rows is refused; one clearly better on the unbiased rows is promoted, and the reason names the
// test's figures.
#include "learning/compare.hpp"
#include "learning/training.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using nlohmann::json;
namespace fs = std::filesystem;
using hitl::dataset::Sample;

namespace {

// A logreg artifact answering "bad" above x = cut, surer the further x is from it.
fs::path cut_model(const fs::path& dir, const std::string& name, double cut) {
  json a = {{"format", "hitl-logreg"},
            {"version", 1},
            {"classes", {"bad", "good"}},
            {"features", {{{"name", "x"}, {"kind", "numeric"}, {"mean", 0.0}, {"std", 1.0}, {"has_missing", false}}}},
            {"weights", {{10.0}, {-10.0}}},
            {"bias", {-10 * cut, 10 * cut}}};
  const auto file = dir / (name + ".json");
  std::ofstream(file) << a.dump();
  return file;
}

Sample row(double x, const std::string& label, double audit_p = 0) {
  Sample s;
  s.input = {{"x", x}};
  s.label = label;
  s.audit_p = audit_p;
  if (audit_p > 0) s.tags = {"audit"};
  return s;
}

// n rows spread evenly over (0, 1), labelled by the truth.
std::vector<Sample> traffic(int n, double audit_p = 0) {
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    const double x = (i + 0.5) / n;
    out.push_back(row(x, x > 0.5 ? "bad" : "good", audit_p));
  }
  return out;
}

struct Fixture {
  hitl::test::TempDir dir{"promotion"};
  hitl::plugin::Registry plugins;
  hitl::config::DomainConfig domain;
  hitl::config::ModelConfig model;
  std::unique_ptr<hitl::policy::PolicyEngine> policies;

  explicit Fixture(double live_cut) {
    std::vector<std::string> refused;
    plugins.load_directory(HITL_PLUGIN_DIR, refused);
    domain.name = "d";
    domain.labels = {"good", "bad"};
    domain.model = "m";
    model = {"m", {"logreg", json{{"artifact", cut_model(dir.path, "live", live_cut).string()}}.dump()}};
    const auto policy = dir.path / "policy.lua";
    std::ofstream(policy) << "local hitl = require \"hitl\"\n"
                             "return { flag = function(p)\n"
                             "  if p.prediction.confidence < 0.8 then return hitl.review(\"unsure\") end\n"
                             "  return hitl.auto() end }\n";
    policies = std::make_unique<hitl::policy::PolicyEngine>(
        std::vector<hitl::policy::DomainPolicy>{{"d", policy}}, fs::path(HITL_SOURCE_DIR) / "scripts" / "lib");
  }

  json evaluate(double candidate_cut, std::vector<Sample> reviewed) {
    hitl::learning::CompareRequest r;
    r.domain = &domain;
    r.model = &model;
    r.rows = std::move(reviewed);
    r.base_holdout = traffic(200);
    r.audit = traffic(50, 0.1);
    r.policies = policies.get();
    r.candidate_artifact = cut_model(dir.path, "candidate", candidate_cut).string();
    auto c = hitl::learning::compare(plugins, r);
    hitl::learning::decide_promotion(*policies, "d", c.json, r.rule);
    return c.json;
  }
};

}  // namespace

TEST_CASE("a candidate better on the reviewed slice but worse on the unbiased rows is refused", "[learning]") {
  Fixture f(0.5);  // the live model is the truth
  // The hard slice: cases just above the cut that reviewers called good; a candidate cutting at
  // 0.6 gets all of them, the live model none.
  std::vector<Sample> hard;
  for (int i = 0; i < 20; ++i) hard.push_back(row(0.505 + i * 0.0045, "good"));
  const json e = f.evaluate(0.6, hard);
  INFO(e.dump(2));
  CHECK(e["sets"]["reviewed"]["candidate"]["accuracy"] == 1.0);
  CHECK(e["sets"]["reviewed"]["live"]["accuracy"] == 0.0);
  CHECK(e["sets"]["base_holdout"]["rows"] == 200);
  CHECK(e["sets"]["audit"]["rows"] == 50);
  CHECK(e["sets"]["audit"]["audit_samples"] == 50);
  CHECK(e["sets"]["audit"]["live"]["effective_rows"] == Approx(50));  // one audit rate: equal weights
  CHECK(e["unbiased"]["rows"] == 250);
  // The candidate loses the base rows in (0.5, 0.6) and the audit rows there, wins none.
  CHECK(e["unbiased"]["paired"]["candidate_only_right"] == 0);
  CHECK(e["unbiased"]["paired"]["live_only_right"] == 25);
  CHECK(e["default"]["promote"] == false);
  CHECK(e["default"]["reason"].get<std::string>().find("not shown better on 250 unbiased rows") == 0);
  CHECK(e["promotion"]["decided_by"] == "default");
  CHECK(e["promotion"]["promote"] == false);
  // Both models send the rows near their cut to review: 0.8 confidence is |x - cut| > ~0.069.
  CHECK(e["projected_review_share"]["live"].get<double>() == Approx(0.14).margin(0.02));
  CHECK(e["projected_review_share"]["candidate"].get<double>() == Approx(0.14).margin(0.02));
}

TEST_CASE("a candidate clearly better on the unbiased rows is promoted, with the test's figures", "[learning]") {
  Fixture f(0.3);  // the live model calls (0.3, 0.5) bad
  const json e = f.evaluate(0.5, traffic(40));
  INFO(e.dump(2));
  CHECK(e["unbiased"]["paired"]["candidate_only_right"] == 50);  // 40 base rows and 10 audit rows
  CHECK(e["unbiased"]["paired"]["live_only_right"] == 0);
  CHECK(e["unbiased"]["paired"]["significant"] == true);
  CHECK(e["unbiased"]["candidate"]["accuracy"] == 1.0);
  CHECK(e["unbiased"]["live"]["accuracy"] == Approx(0.8));
  const auto ci = e["sets"]["base_holdout"]["live"]["accuracy_ci95"];
  CHECK(ci[0].get<double>() < 0.8);
  CHECK(ci[1].get<double>() > 0.8);
  CHECK(e["default"]["promote"] == true);
  CHECK(e["default"]["reason"].get<std::string>().find(
            "better on 250 unbiased rows: candidate alone right on 50, live alone on 0 (McNemar mid-p 0.0000 < 0.0500)") == 0);
  CHECK(e["promotion"]["promote"] == true);
}

TEST_CASE("without unbiased rows the default rule refuses, whatever the reviewed slice says", "[learning]") {
  Fixture f(0.3);
  hitl::learning::CompareRequest r;
  r.domain = &f.domain;
  r.model = &f.model;
  r.rows = traffic(40);
  r.candidate_artifact = cut_model(f.dir.path, "candidate", 0.5).string();
  auto c = hitl::learning::compare(f.plugins, r);
  const auto p = hitl::learning::decide_promotion(*f.policies, "d", c.json, r.rule);
  CHECK_FALSE(p.promote);
  CHECK(p.reason.find("no unbiased rows to judge on") == 0);
  CHECK_FALSE(c.json.contains("unbiased"));
}

TEST_CASE("the base data's holdout share is chosen by row content, never trained on", "[learning]") {
  hitl::test::TempDir dir("base-holdout");
  const auto csv = dir.path / "base.csv";
  {
    std::ofstream out(csv);
    out << "amount,Status\n";
    for (int i = 0; i < 1000; ++i) out << i << "," << (i % 3 ? "good" : "bad") << "\n";
  }
  hitl::config::DomainConfig d;
  d.labels = {"good", "bad"};
  d.retrain_base_data = csv;
  d.retrain_base_label = "Status";
  d.retrain_base_holdout_fraction = 0.2;
  const auto base = hitl::learning::read_base_data(d);
  CHECK(base.holdout.size() > 150);
  CHECK(base.holdout.size() < 250);
  CHECK(base.train.rows.size() + base.holdout.size() == 1000);
  // The same rows every time (a hash, not a draw), and none of them in the training set.
  CHECK(hitl::learning::read_base_data(d).holdout.size() == base.holdout.size());
  const auto set = hitl::learning::training_set(d, {});
  CHECK(set.base_rows == base.train.rows.size());
  for (auto& s : base.holdout) {
    const double amount = s.input["amount"].get<double>();
    for (auto& r : set.data.rows) REQUIRE(std::get<double>(r[0].second) != amount);
  }
  d.retrain_base_holdout_fraction = 0;
  CHECK(hitl::learning::read_base_data(d).holdout.empty());
}

TEST_CASE("the training set leaves audit samples out: they measure the traffic", "[learning]") {
  hitl::config::DomainConfig d;
  d.labels = {"good", "bad"};
  auto set = hitl::learning::training_set(d, {row(0.2, "good"), row(0.9, "bad", 0.05)});
  CHECK(set.feedback_rows == 1);
}

TEST_CASE("policy.md's worked promote(eval) example says what the rule and the hook answer", "[learning][docs]") {
  const fs::path examples = fs::path(HITL_SOURCE_DIR) / "docs" / "examples";
  std::ifstream in(examples / "promote-eval.json");
  json eval = json::parse(in);
  // The default rule's verdict as the example shows it.
  const auto verdict = hitl::evaluation::default_promotion(eval, {});
  CHECK(verdict.promote == eval["default"]["promote"].get<bool>());
  CHECK(verdict.reason == eval["default"]["reason"].get<std::string>());
  // The worked hook refuses it for the review share, as the text says.
  hitl::policy::PolicyEngine engine({{"d", examples / "promote.lua"}}, fs::path(HITL_SOURCE_DIR) / "scripts" / "lib");
  std::string reason;
  bool failed = false;
  const auto yes = engine.promote("d", eval, reason, failed);
  REQUIRE(yes.has_value());
  CHECK_FALSE(failed);
  CHECK_FALSE(*yes);
  CHECK(reason == "would send 16.9% of the traffic to review instead of 13.5%");
  // Within 2 points, the default's reason is passed on.
  eval["projected_review_share"]["candidate"] = 0.15;
  CHECK(engine.promote("d", eval, reason, failed).value_or(false));
  CHECK(reason == eval["default"]["reason"].get<std::string>());
}
