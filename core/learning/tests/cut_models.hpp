#pragma once
// Real logreg models on one feature x that call a case "bad" above a cut point, and the rows to
// judge them on (the truth is "bad above 0.5"), for the evaluation and promotion tests.
#include "common/hash.hpp"
#include "data/feature_stats.hpp"
#include "learning/compare.hpp"
#include "learning/training.hpp"
#include "plugin/plugin_registry.hpp"
#include "policy/policy_engine.hpp"

#include "support/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

using nlohmann::json;
namespace fs = std::filesystem;
using hitl::dataset::Sample;

namespace hitl::test {

// A logreg artifact answering "bad" above x = cut, surer the further x is from it. `left_out` > 0
// records, in its training statistics, that it never saw a base holdout of that share (as
// `hitl train` writes it); 0 leaves it a model of unknown lineage.
inline fs::path cut_model(const fs::path& dir, const std::string& name, double cut, double left_out = 0.2) {
  json a = {{"format", "hitl-logreg"},
            {"version", 1},
            {"classes", {"bad", "good"}},
            {"features", {{{"name", "x"}, {"kind", "numeric"}, {"mean", 0.0}, {"std", 1.0}, {"has_missing", false}}}},
            {"weights", {{10.0}, {-10.0}}},
            {"bias", {-10 * cut, 10 * cut}}};
  const auto file = dir / (name + ".json");
  std::ofstream(file) << a.dump();
  fs::remove(data::feature_stats_path(file));
  if (left_out > 0) {
    data::FeatureStats stats;
    stats.artifact_sha256 = sha256_hex(a.dump());
    stats.base_holdout_left_out = data::BaseHoldoutLeftOut{left_out, 200, "base.csv"};
    data::save_feature_stats(stats, file);
  }
  return file;
}

inline Sample row(double x, const std::string& label, double audit_p = 0) {
  Sample s;
  s.input = {{"x", x}};
  s.label = label;
  s.audit_p = audit_p;
  if (audit_p > 0) s.tags = {"audit"};
  return s;
}

// n rows spread evenly over (0, 1), labelled by the truth.
inline std::vector<Sample> traffic(int n, double audit_p = 0) {
  std::vector<Sample> out;
  for (int i = 0; i < n; ++i) {
    const double x = (i + 0.5) / n;
    out.push_back(row(x, x > 0.5 ? "bad" : "good", audit_p));
  }
  return out;
}

struct CutFixture {
  hitl::test::TempDir dir{"promotion"};
  hitl::plugin::Registry plugins;
  hitl::config::DomainConfig domain;
  hitl::config::ModelConfig model;
  std::unique_ptr<hitl::policy::PolicyEngine> policies;

  explicit CutFixture(double live_cut, double live_left_out = 0.2) {
    std::vector<std::string> refused;
    plugins.load_directory(HITL_PLUGIN_DIR, refused);
    domain.name = "d";
    domain.labels = {"good", "bad"};
    domain.model = "m";
    model = {"m", {"logreg", json{{"artifact", cut_model(dir.path, "live", live_cut, live_left_out).string()}}.dump()}};
    const auto policy = dir.path / "policy.lua";
    std::ofstream(policy) << "local hitl = require \"hitl\"\n"
                             "return { flag = function(p)\n"
                             "  if p.prediction.confidence < 0.8 then return hitl.review(\"unsure\") end\n"
                             "  return hitl.auto() end }\n";
    policies = std::make_unique<hitl::policy::PolicyEngine>(
        std::vector<hitl::policy::DomainPolicy>{{"d", policy}}, fs::path(HITL_SOURCE_DIR) / "scripts" / "lib");
  }

  json evaluate(double candidate_cut, std::vector<Sample> reviewed, double candidate_left_out = 0.2) {
    hitl::learning::CompareRequest r;
    r.domain = &domain;
    r.model = &model;
    r.rows = std::move(reviewed);
    r.base_holdout = traffic(200);
    r.audit = traffic(50, 0.1);
    r.policies = policies.get();
    r.candidate_artifact = cut_model(dir.path, "candidate", candidate_cut, candidate_left_out).string();
    auto c = hitl::learning::compare(plugins, r);
    hitl::learning::decide_promotion(*policies, "d", c.json, r.rule);
    return c.json;
  }
};

}  // namespace hitl::test
