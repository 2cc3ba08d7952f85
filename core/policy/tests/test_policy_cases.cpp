// Policy test cases (policy/policy_cases.hpp): what `hitl policy test` checks and how it reports
// a wrong case.
#include "common/clock.hpp"
#include "policy/policy_cases.hpp"
#include "policy_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace policy_test;

namespace {

const char* kPolicy = R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if p.input.amount == nil then error("no amount") end
    if p.input.amount > 1000 then return hitl.review("large", { skills = {"credit"} }) end
    if hitl.stats(3600).flag_rate > 0.5 then return hitl.review("flood") end
    if hitl.now().hour < 6 then return hitl.review("night") end
    return hitl.auto()
  end,
  priority = function(task) return task.input.amount / 10000 end,
  sla = function(task) if task.priority > 0.5 then return 600 end return 3600 end,
  reviewers_needed = function(task) if task.input.amount > 5000 then return 2 end return 1 end,
  assign = function(task, candidates) return hitl.least_loaded(candidates) end,
  retrain = function(stats) return stats.samples >= 100, "enough" end,
}
)";

std::vector<PolicyCase> cases_of(TempDir& dir, const std::string& lines) {
  return load_cases(dir.write("cases.jsonl", lines));
}

// One case written over several lines of the test source, joined into one JSON line.
CaseResult run_one(Fixture& f, std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return run_case(*f.engine, f.domain, cases_of(f.dir, text).at(0));
}

const std::string kDay = R"("now": "2026-12-02T14:00:00Z", "signals": {"predictions": 100, "flagged": 10})";

}  // namespace

TEST_CASE("a record case checks the verdict and the review hooks the policy answers") {
  Fixture f(kPolicy);
  auto r = run_one(f, R"({"name": "large", "input": {"amount": 6000}, "prediction": {"label": "good", "confidence": 0.9},)" +
                          kDay +
                          R"(, "candidates": [{"id": "ann", "load": 3, "capacity": 4}, {"id": "bob", "load": 0}],
      "expect": {"verdict": "review", "reason": "large", "skills": ["credit"], "priority": [0.59, 0.61], "sla": 600,
                 "reviewers_needed": 2, "assign": ["bob", "ann"]}})");
  std::string differences;
  for (auto& d : r.differences) differences += d + "\n";
  INFO(differences);
  CHECK(r.passed);
  CHECK(r.differences.empty());
}

TEST_CASE("a wrong expectation fails with one readable line per difference, verdict first") {
  Fixture f(kPolicy);
  auto r = run_one(f, R"({"name": "small", "input": {"amount": 10}, "prediction": {"label": "good", "confidence": 0.9},)" +
                          kDay + R"(, "expect": {"sla": 60, "reason": "large", "verdict": "review"}})");
  CHECK_FALSE(r.passed);
  REQUIRE(r.differences.size() == 3);
  CHECK(r.differences[0] == "verdict: expected \"review\", got \"auto\"");
  CHECK(r.differences[1] == "reason: expected \"large\", got \"\"");
  CHECK(r.differences[2] == "sla: expected 60, got nothing");
  CHECK(r.source.find("cases.jsonl:1") != std::string::npos);
}

TEST_CASE("a case's signals and clock reach hitl.stats and hitl.now, and are restored after it") {
  Fixture f(kPolicy);
  const auto offset_before = hitl::clock_offset_ms();
  auto flood = run_one(f, R"({"name": "flood", "input": {"amount": 10}, "prediction": {"label": "good", "confidence": 0.9},
      "now": "2026-12-02T14:00:00Z", "signals": {"predictions": 100, "flagged": 60}, "expect": {"reason": "flood"}})");
  CHECK(flood.passed);
  auto night = run_one(f, R"({"name": "night", "input": {"amount": 10}, "prediction": {"label": "good", "confidence": 0.9},
      "now": "2026-12-02T03:00:00Z", "signals": {"predictions": 100}, "expect": {"reason": "night"}})");
  CHECK(night.passed);
  CHECK(hitl::clock_offset_ms() == offset_before);
}

TEST_CASE("a policy error is reported with the policy's message, and can be expected") {
  Fixture f(kPolicy);
  auto failing = run_one(f, R"({"name": "x", "input": {}, "prediction": {"label": "good", "confidence": 0.9},
      "expect": {"verdict": "auto"}})");
  CHECK_FALSE(failing.passed);
  REQUIRE(failing.differences.size() == 2);
  CHECK(failing.differences[1].find("no amount") != std::string::npos);
  auto expected = run_one(f, R"({"name": "x", "input": {}, "prediction": {"label": "good", "confidence": 0.9},
      "expect": {"verdict": "review", "reason": "policy_error", "policy_error": true}})");
  CHECK(expected.passed);
}

TEST_CASE("retrain and promote cases compare the hook's answer and reason") {
  Fixture f(kPolicy);
  CHECK(run_one(f, R"({"name": "r", "retrain": {"samples": 150}, "expect": {"retrain": true, "reason": "enough"}})").passed);
  auto wrong = run_one(f, R"({"name": "r", "retrain": {"samples": 50}, "expect": {"retrain": true}})");
  REQUIRE(wrong.differences.size() == 1);
  CHECK(wrong.differences[0] == "retrain: expected true, got false");
  auto no_hook = run_one(f, R"({"name": "p", "promote": {"live": {}}, "expect": {"promote": true}})");
  CHECK(no_hook.differences.at(0) == "promote: expected true, got nothing");
}

TEST_CASE("malformed cases are refused with file and line, unknown fields included") {
  TempDir dir;
  auto refused = [&](const std::string& line, const std::string& why) {
    try {
      cases_of(dir, "# a comment\n\n" + line + "\n");
      FAIL("accepted: " << line);
    } catch (const PolicyError& e) {
      CHECK(std::string(e.what()).find("cases.jsonl:3: " + why) != std::string::npos);
    }
  };
  refused("{not json", "not a JSON object");
  refused(R"({"input": {}, "prediction": {"label": "a"}, "expect": {"verdict": "auto"}})", "\"name\" must be");
  refused(R"({"name": "n", "inptu": {}, "prediction": {"label": "a"}, "expect": {"verdict": "auto"}})",
          "unknown field \"inptu\" in a record case");
  refused(R"({"name": "n", "input": {}, "prediction": {"label": "a"}, "expect": {"verdcit": "auto"}})",
          "unknown field \"verdcit\" in \"expect\"");
  refused(R"({"name": "n", "input": {}, "prediction": {"label": "a"}, "expect": {}})", "\"expect\" must be");
  refused(R"({"name": "n", "retrain": {}, "input": {}, "expect": {"retrain": true}})", "unknown field \"input\" in a retrain case");
}

TEST_CASE("the default case file sits beside the policy") {
  TempDir dir;
  auto policy = dir.write("policy.lua", "return {}");
  CHECK(default_cases_path(policy).empty());
  dir.write("policy_cases/a.jsonl", "");
  CHECK(default_cases_path(policy) == dir.path / "policy_cases");
  dir.write("policy.cases.jsonl", "");
  CHECK(default_cases_path(policy) == dir.path / "policy.cases.jsonl");
}
