// A policy reload (policy/policy_reload.hpp, PolicyEngine::replace and Pin): a changed file is
// tested by its cases and swapped in whole; a broken or failing one is refused and the policy in
// force keeps answering; calls running during a swap never fail or mix two policies.
#include "common/clock.hpp"
#include "policy/policy_reload.hpp"
#include "policy_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace policy_test;

namespace {

std::string policy_routing(const std::string& reason) {
  return "local hitl = require 'hitl'\nreturn { version = '" + reason +
         "', flag = function(p) return hitl.review('" + reason + "') end,\n"
         "  priority = function(task) if task.reason == '" + reason + "' then return 0.9 end return 0.1 end }\n";
}

const char* kCaseExpectingV2 =
    R"({"name": "routes to v2", "input": {"a": 1}, "prediction": {"label": "good", "confidence": 0.9}, "expect": {"verdict": "review", "reason": "v2"}})"
    "\n";

}  // namespace

TEST_CASE("a changed policy whose cases pass is swapped in and the old hash is reported") {
  Fixture f(policy_routing("v1"));
  const std::string v1 = f.engine->policy_hash("d");
  f.dir.write("policy.lua", policy_routing("v2"));
  const auto cases = f.dir.write("policy.cases.jsonl", kCaseExpectingV2);
  const ReloadResult r = reload_policy(*f.engine, "d", f.file, cases);
  CHECK(r.outcome == ReloadOutcome::loaded);
  CHECK(r.old_hash == v1);
  CHECK(r.new_hash == f.engine->policy_hash("d"));
  CHECK(r.new_hash != v1);
  CHECK(r.cases == 1);
  CHECK(r.version == "v2");
  CHECK(f.flag({{"a", 1}}).reason == "v2");
  CHECK(f.engine->policy_version("d") == "v2");
  CHECK(reload_policy(*f.engine, "d", f.file, cases).outcome == ReloadOutcome::unchanged);
}

TEST_CASE("a broken candidate is refused with its error and the policy in force keeps answering") {
  Fixture f(policy_routing("v1"));
  const std::string v1 = f.engine->policy_hash("d");
  f.dir.write("policy.lua", "return { flag = function(p) return hitl.review( end }");
  const ReloadResult r = reload_policy(*f.engine, "d", f.file, {});
  CHECK(r.outcome == ReloadOutcome::refused_broken);
  CHECK(refused(r.outcome));
  CHECK(r.error.find("policy.lua:1:") != std::string::npos);
  CHECK(f.engine->policy_hash("d") == v1);
  CHECK(f.flag({{"a", 1}}).reason == "v1");
  CHECK(f.engine->error_count("d") == 0);
}

TEST_CASE("a candidate that compiles but fails a case is refused, naming the case and the difference") {
  Fixture f(policy_routing("v1"));
  f.dir.write("policy.lua", policy_routing("v3"));
  const auto cases = f.dir.write("policy.cases.jsonl", kCaseExpectingV2);
  const ReloadResult r = reload_policy(*f.engine, "d", f.file, cases);
  CHECK(r.outcome == ReloadOutcome::refused_cases);
  CHECK(r.error.find("1 of 1 cases fail") != std::string::npos);
  CHECK(r.error.find("routes to v2") != std::string::npos);
  INFO(r.error);
  CHECK(r.error.find("reason: expected \"v2\", got \"v3\"") != std::string::npos);
  CHECK(f.flag({{"a", 1}}).reason == "v1");
  // A case file that does not load verifies nothing: refused too.
  const auto bad = f.dir.write("bad.cases.jsonl", "{\"name\": \"x\", \"typo\": 1}\n");
  CHECK(reload_policy(*f.engine, "d", f.file, bad).outcome == ReloadOutcome::refused_cases);
  CHECK(f.flag({{"a", 1}}).reason == "v1");
}

TEST_CASE("a case's \"now\" moves the candidate's clock only, never the service clock") {
  Fixture f(policy_routing("v1"));
  f.dir.write("policy.lua",
              "local hitl = require 'hitl'\nreturn { flag = function(p) if hitl.now().ms >= 1924992000000 then return hitl.auto() end "
              "return hitl.review('v2') end }\n");
  const auto cases = f.dir.write(
      "c.jsonl",
      R"({"name": "future", "now": "2031-01-01T00:00:00Z", "input": {}, "prediction": {"label": "good", "confidence": 0.9}, "expect": {"verdict": "auto"}})"
      "\n");
  const std::int64_t before = hitl::now_ms();
  const ReloadResult r = reload_policy(*f.engine, "d", f.file, cases);
  INFO(r.error);
  CHECK(r.outcome == ReloadOutcome::loaded);
  CHECK(hitl::now_ms() - before < 60'000);
  CHECK(f.flag({}).reason == "v2");  // the live engine's clock is today's
}

TEST_CASE("a pinned thread keeps the generation it started with across a swap") {
  Fixture f(policy_routing("v1"));
  const std::string v1 = f.engine->policy_hash("d");
  {
    PolicyEngine::Pin pin(*f.engine, "d");
    f.dir.write("policy.lua", policy_routing("v2"));
    REQUIRE(reload_policy(*f.engine, "d", f.file, {}).outcome == ReloadOutcome::loaded);
    CHECK(f.flag({{"a", 1}}).reason == "v1");
    CHECK(f.priority("v1", {{"a", 1}}) == Approx(0.9));
    CHECK(f.engine->policy_hash("d") == v1);
  }
  CHECK(f.flag({{"a", 1}}).reason == "v2");
  CHECK(f.engine->policy_hash("d") != v1);
}

TEST_CASE("calls on other threads never fail while policies are swapped under them") {
  Fixture f(policy_routing("v0"));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, mixed{0}, calls{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      while (!stop) {
        PolicyEngine::Pin pin(*f.engine, "d");
        const Verdict v = f.flag({{"a", 1}});
        if (v.policy_error) ++errors;
        // One generation per pin: flag's reason and the version read beside it agree.
        if (v.reason != f.engine->policy_version("d")) ++mixed;
        ++calls;
      }
    });
  for (int i = 1; i <= 40; ++i) {
    f.dir.write("policy.lua", policy_routing("v" + std::to_string(i)));
    REQUIRE(reload_policy(*f.engine, "d", f.file, {}).outcome == ReloadOutcome::loaded);
  }
  stop = true;
  for (auto& t : callers) t.join();
  CHECK(calls > 0);
  CHECK(errors == 0);
  CHECK(mixed == 0);
  CHECK(f.flag({{"a", 1}}).reason == "v40");
}
