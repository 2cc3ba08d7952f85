#pragma once
// Test helpers of the policy engine tests: a temp folder and one domain "d" whose policy is a
// given text (test_policy_engine.cpp, test_policy_guards.cpp, test_stdlib_workflow.cpp).
#include "common/hash.hpp"
#include "policy/policy_engine.hpp"
#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace policy_test {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace hitl::policy;

using hitl::test::TempDir;

inline const fs::path kLib = fs::path(HITL_SOURCE_DIR) / "scripts" / "lib";

// One domain "d" whose policy is `text`.
struct Fixture {
  TempDir dir;
  fs::path file;
  std::unique_ptr<PolicyEngine> engine;
  std::string domain = "d";
  explicit Fixture(const std::string& text, Limits limits = {}) {
    file = dir.write("policy.lua", text);
    engine = std::make_unique<PolicyEngine>(std::vector<DomainPolicy>{{domain, file}}, kLib, limits);
  }
  Verdict flag(const json& input, const json& meta = json(), const PredictionView& pred = default_prediction()) {
    FlagInput in{&domain, &input, &meta, &pred};
    return engine->flag(domain, in);
  }
  double priority(const std::string& reason, const json& input, const PredictionView& pred = default_prediction()) {
    json meta = json::object();
    TaskView t{&domain, &reason, &input, &meta, &pred};
    return engine->priority(domain, t);
  }
  static PredictionView default_prediction() { return {"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}}; }
};

}  // namespace policy_test
