// The review workflow helpers of the policy standard library (scripts/lib/hitl.lua): review opts,
// candidate filters and rankings for assign(), business-hours deadlines, escalation actions.
// Every helper runs inside flag(p) of a real policy loaded by PolicyEngine; results and error
// messages come back encoded in the verdict's reason.
#include "common/hash.hpp"
#include "policy/policy_engine.hpp"
#include "policy_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;
using namespace hitl::policy;
using namespace policy_test;

namespace {
// Runs cases[p.input.case](p.input) in protected mode and answers review("ok:<result>") or
// review("err:<message>"). enc() writes arrays as {a,b}, then other keys sorted as k=v.
const char* kHarness = R"(local hitl = require "hitl"
local function enc(v)
  if type(v) ~= "table" then return tostring(v) end
  local n, parts, keys = #v, {}, {}
  for i = 1, n do parts[#parts + 1] = enc(v[i]) end
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. enc(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local cases = {}
)";

const char* kHarnessEnd = R"(
return { flag = function(p)
  local f = cases[p.input.case]
  if not f then error("no case " .. tostring(p.input.case)) end
  local ok, r = pcall(f, p.input)
  return hitl.review((ok and "ok:" or "err:") .. enc(r))
end })";

// A policy made of the harness and `cases` (Lua that fills the `cases` table).
struct Cases {
  TempDir dir;
  std::unique_ptr<PolicyEngine> engine;
  std::string domain = "d";
  explicit Cases(const std::string& cases) {
    auto file = dir.write("policy.lua", std::string(kHarness) + cases + kHarnessEnd);
    engine = std::make_unique<PolicyEngine>(std::vector<DomainPolicy>{{domain, file}}, kLib);
  }
  // The encoded answer of case `name` with p.input = `input` plus { case = name }.
  std::string run(const std::string& name, json input = json::object()) {
    input["case"] = name;
    json meta = json::object();
    PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
    auto v = engine->flag(domain, FlagInput{&domain, &input, &meta, &pred});
    INFO(name << ": " << v.error);
    CHECK_FALSE(v.policy_error);
    return v.reason;
  }
};

// Reviewers as assign(task, candidates) receives them (ids are strings there).
const json kCandidates = json::parse(R"([
  {"id": "r1", "name": "Ana",  "roles": ["reviewer"], "skills": ["fraud", "large_loans"], "load": 2, "capacity": 4,
   "gold_accuracy": 0.95, "gold_answers": 40},
  {"id": "r2", "name": "Ben",  "roles": ["reviewer"], "skills": ["fraud"], "load": 1, "capacity": 4,
   "gold_accuracy": 0.70, "gold_answers": 25},
  {"id": "r3", "name": "Cleo", "roles": ["senior"], "skills": ["large_loans", "fraud", "kyc"], "load": 3, "capacity": 6,
   "gold_accuracy": 0.60, "gold_answers": 3},
  {"id": "r4", "name": "Dev",  "roles": ["reviewer"], "skills": [], "load": 0, "capacity": 2,
   "gold_accuracy": null, "gold_answers": 0}
])");

// 2024-01-01 00:00:00 UTC, a Monday, in epoch milliseconds.
constexpr std::int64_t kMonday = 1704067200000;
constexpr std::int64_t kHour = 3600 * 1000;
constexpr std::int64_t kDay = 24 * kHour;
}  // namespace

TEST_CASE("review with opts carries skills and pool and review(reason) is unchanged") {
  Cases c(R"(
cases.plain = function() return hitl.review("uncertain") end
cases.opts = function() return hitl.review("large_loan", { skills = {"fraud", "large_loans", "fraud"}, pool = "senior" }) end
cases.pool_only = function() return hitl.review("vip", { pool = "senior" }) end
cases.skills_only = function() return hitl.review("fraud", { skills = {"fraud"} }) end
cases.empty = function() return hitl.review("x", {}) end
cases.copy = function()
  local skills = {"fraud"}
  local v = hitl.review("x", { skills = skills })
  skills[1] = "changed"
  return v
end
)");
  CHECK(c.run("plain") == "ok:{action=review,reason=uncertain}");
  // duplicates are dropped, order kept
  CHECK(c.run("opts") == "ok:{action=review,pool=senior,reason=large_loan,skills={fraud,large_loans}}");
  CHECK(c.run("pool_only") == "ok:{action=review,pool=senior,reason=vip}");
  CHECK(c.run("skills_only") == "ok:{action=review,reason=fraud,skills={fraud}}");
  CHECK(c.run("empty") == "ok:{action=review,reason=x}");
  CHECK(c.run("copy") == "ok:{action=review,reason=x,skills={fraud}}");  // the verdict holds a copy
}

TEST_CASE("the engine accepts a review verdict with opts") {
  TempDir dir;
  auto file = dir.write("policy.lua", R"(local hitl = require "hitl"
return { flag = function(p)
  if p.input.kind == "plain" then return hitl.review("plain") end
  return hitl.review("large_loan", { skills = {"fraud", "large_loans"}, pool = "senior" })
end })");
  PolicyEngine engine({{"d", file}}, kLib);
  std::string d = "d";
  json meta = json::object();
  PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
  json input = {{"kind", "opts"}};
  auto v = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  INFO(v.error);
  CHECK_FALSE(v.policy_error);
  CHECK(v.action == Action::review);
  CHECK(v.reason == "large_loan");
  CHECK(v.skills == std::vector<std::string>{"fraud", "large_loans"});
  CHECK(v.pool == "senior");
  input = {{"kind", "plain"}};
  auto plain = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  CHECK(plain.reason == "plain");
  CHECK(plain.skills.empty());
  CHECK(plain.pool.empty());
  CHECK(engine.error_count(d) == 0);
}

TEST_CASE("review opts are validated with errors naming the option") {
  Cases c(R"(
cases.not_table = function() return hitl.review("r", "senior") end
cases.unknown = function() return hitl.review("r", { skill = {"fraud"} }) end
cases.unknown_index = function() return hitl.review("r", { "fraud" }) end
cases.skills_string = function() return hitl.review("r", { skills = "fraud" }) end
cases.skills_map = function() return hitl.review("r", { skills = { fraud = true } }) end
cases.skills_hole = function() return hitl.review("r", { skills = { [1] = "a", [3] = "c" } }) end
cases.skill_empty = function() return hitl.review("r", { skills = { "fraud", "" } }) end
cases.skill_number = function() return hitl.review("r", { skills = { 7 } }) end
cases.skill_control = function() return hitl.review("r", { skills = { "a\31b" } }) end
cases.too_many = function()
  local s = {}
  for i = 1, 33 do s[i] = "s" .. i end
  return hitl.review("r", { skills = s })
end
cases.pool_empty = function() return hitl.review("r", { pool = "" }) end
cases.pool_number = function() return hitl.review("r", { pool = 3 }) end
cases.pool_newline = function() return hitl.review("r", { pool = "sen\nior" }) end
cases.reason_first = function() return hitl.review("", { pool = "senior" }) end
)");
  CHECK(c.run("not_table") == R"(err:hitl.review: opts must be a table { skills = {...}, pool = "..." }, got string)");
  CHECK(c.run("unknown") == "err:hitl.review: unknown option 'skill' (expected skills, pool)");
  CHECK(c.run("unknown_index") == "err:hitl.review: unknown option 1 (expected skills, pool)");
  CHECK(c.run("skills_string") == "err:hitl.review: opts.skills must be an array of non-empty strings, got string");
  CHECK(c.run("skills_map") ==
        "err:hitl.review: opts.skills must be an array of non-empty strings, got a table with key 'fraud'");
  CHECK(c.run("skills_hole") ==
        "err:hitl.review: opts.skills must be an array of non-empty strings, got a table with key 3");
  CHECK(c.run("skill_empty") == "err:hitl.review: opts.skills[2] must be a non-empty string, got an empty string");
  CHECK(c.run("skill_number") == "err:hitl.review: opts.skills[1] must be a non-empty string, got number");
  CHECK(c.run("skill_control") ==
        "err:hitl.review: opts.skills[1] must be a non-empty string, got a string with a control character");
  CHECK(c.run("too_many") == "err:hitl.review: opts.skills has 33 skills, at most 32 are allowed");
  CHECK(c.run("pool_empty") == "err:hitl.review: opts.pool must be a non-empty string, got an empty string");
  CHECK(c.run("pool_number") == "err:hitl.review: opts.pool must be a non-empty string, got number");
  CHECK(c.run("pool_newline") ==
        "err:hitl.review: opts.pool must be a non-empty string, got a string with a control character");
  CHECK(c.run("reason_first") == "err:hitl.review: reason must be a non-empty string, got an empty string");
}

TEST_CASE("a bad review opts in flag fails closed with the policy line") {
  TempDir dir;
  auto file = dir.write("policy.lua", R"(local hitl = require "hitl"
return { flag = function(p)
  local v = hitl.review("large_loan", { pool = "" })
  return v
end })");
  PolicyEngine engine({{"d", file}}, kLib);
  std::string d = "d";
  json input = json::object(), meta = json::object();
  PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
  auto v = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  CHECK(v.policy_error);
  CHECK(v.action == Action::review);
  CHECK(v.reason == "policy_error");
  CHECK(v.error == "policy.lua:3: hitl.review: opts.pool must be a non-empty string, got an empty string");
  CHECK(engine.error_count(d) == 1);
}

TEST_CASE("has_skills and skill_match keep the candidates having every skill") {
  Cases c(R"(
cases.has = function(p)
  local k = p.candidates
  return { hitl.has_skills(k[1], {"fraud", "large_loans"}), hitl.has_skills(k[2], {"fraud", "large_loans"}),
           hitl.has_skills(k[4], nil), hitl.has_skills(k[4], {}), hitl.has_skills({ id = "x" }, {"fraud"}),
           hitl.has_skills({ id = "x" }, {}) }
end
cases.match = function(p) return hitl.ids(hitl.skill_match(p.candidates, {"large_loans", "fraud"})) end
cases.match_one = function(p) return hitl.ids(hitl.skill_match(p.candidates, {"fraud"})) end
cases.match_none_needed = function(p) return hitl.ids(hitl.skill_match(p.candidates, nil)) end
cases.match_nobody = function(p) return hitl.ids(hitl.skill_match(p.candidates, {"aml"})) end
cases.match_tables = function(p) return hitl.skill_match(p.candidates, {"kyc"})[1].name end
cases.has_bad_candidate = function() return hitl.has_skills(nil, {"fraud"}) end
cases.has_bad_skills = function(p) return hitl.has_skills(p.candidates[1], "fraud") end
cases.has_bad_skill = function(p) return hitl.has_skills(p.candidates[1], {"fraud", 3}) end
cases.match_bad_list = function() return hitl.skill_match("r1", {"fraud"}) end
cases.match_bad_entry = function() return hitl.skill_match({ { id = "a" }, "b" }, {"fraud"}) end
)");
  json in = {{"candidates", kCandidates}};
  CHECK(c.run("has", in) == "ok:{true,false,true,true,false,true}");
  CHECK(c.run("match", in) == "ok:{r1,r3}");
  CHECK(c.run("match_one", in) == "ok:{r1,r2,r3}");
  CHECK(c.run("match_none_needed", in) == "ok:{r1,r2,r3,r4}");
  CHECK(c.run("match_nobody", in) == "ok:{}");
  CHECK(c.run("match_tables", in) == "ok:Cleo");
  CHECK(c.run("has_bad_candidate", in) == "err:hitl.has_skills: candidate must be a table, got nil");
  CHECK(c.run("has_bad_skills", in) == "err:hitl.has_skills: skills must be an array of strings or nil, got string");
  CHECK(c.run("has_bad_skill", in) == "err:hitl.has_skills: skills[2] must be a string, got number");
  CHECK(c.run("match_bad_list", in) ==
        "err:hitl.skill_match: candidates must be an array of candidate tables, got string");
  CHECK(c.run("match_bad_entry", in) == "err:hitl.skill_match: candidates[2] must be a table, got string");
}

TEST_CASE("least_loaded sorts by load over capacity then load then id") {
  Cases c(R"(
cases.sort = function(p) return hitl.least_loaded(p.candidates) end
cases.bad_load = function() return hitl.least_loaded({ { id = "a", load = "two", capacity = 3 } }) end
cases.nan_capacity = function() return hitl.least_loaded({ { id = "a", load = 1, capacity = 0/0 } }) end
cases.no_id = function() return hitl.least_loaded({ { id = "a" }, { load = 1 } }) end
cases.not_list = function() return hitl.least_loaded(nil) end
)");
  // r4 0/2 = 0, r2 1/4 = 0.25, r1 2/4 = 0.5 and r3 3/6 = 0.5 (tie: lower load first)
  CHECK(c.run("sort", {{"candidates", kCandidates}}) == "ok:{r4,r2,r1,r3}");
  // Equal ratio and load: by id, digit strings as numbers ("9" before "10"), then other strings.
  // No capacity or capacity 0 sorts last. A missing load counts as 0.
  json ties = json::parse(R"([
    {"id": "b", "load": 1, "capacity": 2}, {"id": "10", "load": 1, "capacity": 2}, {"id": "a", "load": 1, "capacity": 2},
    {"id": "9", "load": 1, "capacity": 2}, {"id": "full", "load": 0, "capacity": 0}, {"id": "nocap", "load": 0},
    {"id": "idle", "capacity": 5}, {"id": "half", "load": 2, "capacity": 4}
  ])");
  CHECK(c.run("sort", {{"candidates", ties}}) == "ok:{idle,9,10,a,b,half,full,nocap}");
  CHECK(c.run("sort", {{"candidates", json::array()}}) == "ok:{}");
  CHECK(c.run("bad_load") == "err:hitl.least_loaded: candidates[1].load must be a number, got string");
  CHECK(c.run("nan_capacity") == "err:hitl.least_loaded: candidates[1].capacity must be a number, got NaN");
  CHECK(c.run("no_id") == "err:hitl.least_loaded: candidates[2] has no id");
  CHECK(c.run("not_list") == "err:hitl.least_loaded: candidates must be an array of candidate tables, got nil");
}

TEST_CASE("least_loaded gives the same order whatever the input order") {
  Cases c("cases.sort = function(p) return hitl.least_loaded(p.candidates) end\n");
  json reversed = json::array();
  for (auto it = kCandidates.rbegin(); it != kCandidates.rend(); ++it) reversed.push_back(*it);
  CHECK(c.run("sort", {{"candidates", reversed}}) == "ok:{r4,r2,r1,r3}");
}

TEST_CASE("round_robin rotates per key and ids keeps the order") {
  Cases c(R"(
cases.rr = function(p) return hitl.round_robin(p.candidates, p.key) end
cases.rr_default = function(p) return hitl.round_robin(p.candidates) end
cases.ids = function(p) return hitl.ids(p.candidates) end
cases.bad_key = function(p) return hitl.round_robin(p.candidates, {}) end
cases.no_id = function() return hitl.round_robin({ { id = "a" }, {} }, "k") end
cases.ids_no_id = function() return hitl.ids({ { name = "x" } }) end
cases.ids_bad = function() return hitl.ids(42) end
)");
  json three = json::parse(R"([{"id": "a"}, {"id": "b"}, {"id": "c"}])");
  CHECK(c.run("ids", {{"candidates", kCandidates}}) == "ok:{r1,r2,r3,r4}");
  CHECK(c.run("ids", {{"candidates", json::array()}}) == "ok:{}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", "fraud"}}) == "ok:{a,b,c}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", "fraud"}}) == "ok:{b,c,a}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", "kyc"}}) == "ok:{a,b,c}");  // its own counter
  CHECK(c.run("rr", {{"candidates", three}, {"key", "fraud"}}) == "ok:{c,a,b}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", "fraud"}}) == "ok:{a,b,c}");  // wraps around
  CHECK(c.run("rr", {{"candidates", json::array()}, {"key", "fraud"}}) == "ok:{}");  // no step taken
  CHECK(c.run("rr", {{"candidates", three}, {"key", "fraud"}}) == "ok:{b,c,a}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", "kyc"}}) == "ok:{b,c,a}");
  CHECK(c.run("rr_default", {{"candidates", three}}) == "ok:{a,b,c}");
  CHECK(c.run("rr_default", {{"candidates", three}}) == "ok:{b,c,a}");
  CHECK(c.run("rr", {{"candidates", three}, {"key", 7}}) == "ok:{a,b,c}");  // numbers are keys too
  // A list of another length continues from the same counter: 5 calls on "fraud" so far, 5 mod 2 = 1.
  json two = json::parse(R"([{"id": "x"}, {"id": "y"}])");
  CHECK(c.run("rr", {{"candidates", two}, {"key", "fraud"}}) == "ok:{y,x}");
  CHECK(c.run("bad_key", {{"candidates", three}}) == "err:hitl.round_robin: key must be a string or a number, got table");
  CHECK(c.run("no_id") == "err:hitl.round_robin: candidates[2] has no id");
  CHECK(c.run("ids_no_id") == "err:hitl.ids: candidates[1] has no id");
  CHECK(c.run("ids_bad") == "err:hitl.ids: candidates must be an array of candidate tables, got number");
}

TEST_CASE("round_robin counters belong to the Lua state and start over with a new engine") {
  const char* rr = "cases.rr = function(p) return hitl.round_robin(p.candidates, 'k') end\n";
  json three = json::parse(R"([{"id": "a"}, {"id": "b"}, {"id": "c"}])");
  {
    Cases c(rr);
    CHECK(c.run("rr", {{"candidates", three}}) == "ok:{a,b,c}");
    CHECK(c.run("rr", {{"candidates", three}}) == "ok:{b,c,a}");
  }
  Cases again(rr);
  CHECK(again.run("rr", {{"candidates", three}}) == "ok:{a,b,c}");
}

TEST_CASE("accurate drops reviewers known to be below the gold bound") {
  Cases c(R"(
cases.acc = function(p) return hitl.ids(hitl.accurate(p.candidates, p.min, p.answers)) end
cases.bad_min = function(p) return hitl.accurate(p.candidates, 1.5) end
cases.no_min = function(p) return hitl.accurate(p.candidates) end
cases.bad_answers = function(p) return hitl.accurate(p.candidates, 0.5, -1) end
cases.text_answers = function(p) return hitl.accurate(p.candidates, 0.5, "ten") end
cases.bad_list = function() return hitl.accurate("all", 0.5) end
cases.chain = function(p)
  return hitl.least_loaded(hitl.accurate(hitl.skill_match(p.candidates, {"fraud"}), 0.8, 10))
end
)");
  json in = {{"candidates", kCandidates}};
  // r2 (0.70 on 25 answers) and r3 (0.60 on 3) are below 0.8; r4 has no gold answers yet.
  CHECK(c.run("acc", {{"candidates", kCandidates}, {"min", 0.8}}) == "ok:{r1,r4}");
  // With 10 answers needed r3's 3 answers do not count yet: it stays.
  CHECK(c.run("acc", {{"candidates", kCandidates}, {"min", 0.8}, {"answers", 10}}) == "ok:{r1,r3,r4}");
  CHECK(c.run("acc", {{"candidates", kCandidates}, {"min", 0.7}}) == "ok:{r1,r2,r4}");  // the bound itself passes
  CHECK(c.run("acc", {{"candidates", kCandidates}, {"min", 0}}) == "ok:{r1,r2,r3,r4}");
  CHECK(c.run("acc", {{"candidates", kCandidates}, {"min", 1}, {"answers", 0}}) == "ok:{r4}");
  CHECK(c.run("chain", in) == "ok:{r1,r3}");  // fraud: r1 r2 r3; r2 is inaccurate; r1 0.5 = r3 0.5, lower load first
  CHECK(c.run("bad_min", in) == "err:hitl.accurate: min_accuracy must be a number in [0, 1], got 1.5");
  CHECK(c.run("no_min", in) == "err:hitl.accurate: min_accuracy must be a number in [0, 1], got nil");
  CHECK(c.run("bad_answers", in) == "err:hitl.accurate: min_answers must be a number >= 0, got -1");
  CHECK(c.run("text_answers", in) == "err:hitl.accurate: min_answers must be a number >= 0, got string");
  CHECK(c.run("bad_list", in) == "err:hitl.accurate: candidates must be an array of candidate tables, got string");
}

TEST_CASE("an error in a helper called by flag fails closed and names the helper and the line") {
  TempDir dir;
  auto file = dir.write("policy.lua", R"(local hitl = require "hitl"
return { flag = function(p)
  local ids = hitl.least_loaded(p.input.candidates)
  return hitl.review(table.concat(ids, ","))
end })");
  PolicyEngine engine({{"d", file}}, kLib);
  std::string d = "d";
  json meta = json::object();
  PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
  json input = {{"candidates", kCandidates}};
  auto ok = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  CHECK(ok.reason == "r4,r2,r1,r3");  // the brief's example: the ranking as the reason
  input = json::object();
  auto v = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  CHECK(v.policy_error);
  CHECK(v.reason == "policy_error");
  CHECK(v.error == "policy.lua:3: hitl.least_loaded: candidates must be an array of candidate tables, got nil");
}

TEST_CASE("business_hours_sla counts only business hours") {
  Cases c(R"(
cases.sla = function(p) return hitl.business_hours_sla(p.now, p.hours, p.opts) end
)");
  auto sla = [&](std::int64_t now_ms, double hours, json opts = nullptr) {
    json in = {{"now", now_ms}, {"hours", hours}};
    if (!opts.is_null()) in["opts"] = opts;
    return c.run("sla", in);
  };
  const std::int64_t fri = kMonday + 4 * kDay, sat = kMonday + 5 * kDay, sun = kMonday + 6 * kDay;
  SECTION("within one day") {
    CHECK(sla(kMonday + 10 * kHour, 1) == "ok:3600.0");
    CHECK(sla(kMonday + 10 * kHour + 30 * 60 * 1000, 0.25) == "ok:900.0");
    CHECK(sla(fri + 16 * kHour, 1) == "ok:3600.0");  // ends exactly at closing time, on Friday
  }
  SECTION("across the weekend") {
    // Friday 16:00 + 2 business hours = Monday 10:00: 8 + 48 + 10 hours
    CHECK(sla(fri + 16 * kHour, 2) == "ok:237600.0");
    CHECK(sla(sat + 12 * kHour, 1) == "ok:165600.0");  // Saturday noon -> Monday 10:00, 46 hours
    CHECK(sla(sun + 23 * kHour, 8) == "ok:64800.0");   // Sunday 23:00 -> Monday 17:00, 18 hours
  }
  SECTION("before opening and after closing") {
    CHECK(sla(kMonday + 7 * kHour, 1) == "ok:10800.0");           // Monday 07:00 -> 10:00
    CHECK(sla(kMonday + 8 * kHour + 59 * 60 * 1000 + 59750, 1) == "ok:3600.25");  // 08:59:59.750 -> 10:00
    CHECK(sla(kMonday + kDay + 18 * kHour, 1) == "ok:57600.0");   // Tuesday 18:00 -> Wednesday 10:00
    CHECK(sla(kMonday + kDay + 17 * kHour, 1) == "ok:61200.0");   // Tuesday 17:00 (closed) -> Wednesday 10:00
    CHECK(sla(fri + 20 * kHour, 1) == "ok:223200.0");             // Friday 20:00 -> Monday 10:00, 62 hours
  }
  SECTION("over several days and weeks") {
    CHECK(sla(kMonday + kDay * 2 + 16 * kHour + 30 * 60 * 1000, 1.5) == "ok:63000.0");  // Wed 16:30 -> Thu 10:00
    CHECK(sla(kMonday + 9 * kHour, 40) == "ok:374400.0");   // one working week: Monday 09:00 -> Friday 17:00
    CHECK(sla(kMonday + 9 * kHour, 41) == "ok:608400.0");   // -> next Monday 10:00, 169 hours
    CHECK(sla(kMonday, 1000) == "ok:14922000.0");           // 25 weeks: Friday 17:00 of week 25, 4145 hours
    CHECK(sla(kMonday, 1001) == "ok:15156000.0");           // -> the Monday 10:00 after it, 4210 hours
  }
  SECTION("with a utc offset") {
    // UTC+2: Friday 15:30 UTC is 17:30 local, closed; Monday 09:00 local is 07:00 UTC; +1 hour
    CHECK(sla(fri + 15 * kHour + 30 * 60 * 1000, 1, {{"utc_offset_hours", 2}}) == "ok:232200.0");
    // UTC-5: Monday 13:00 UTC is 08:00 local; opens at 14:00 UTC; +2 hours -> 16:00 UTC
    CHECK(sla(kMonday + 13 * kHour, 2, {{"utc_offset_hours", -5}}) == "ok:10800.0");
    // UTC+2: Sunday 23:00 UTC is already Monday 01:00 local; Monday 10:00 local = 08:00 UTC
    CHECK(sla(sun + 23 * kHour, 1, {{"utc_offset_hours", 2}}) == "ok:32400.0");
    // UTC+5:30: Monday 03:00 UTC is 08:30 local; 09:00 local + 1 hour = 04:30 UTC
    CHECK(sla(kMonday + 3 * kHour, 1, {{"utc_offset_hours", 5.5}}) == "ok:5400.0");
    // UTC-8: Saturday 05:00 UTC is still Friday 21:00 local; Monday 10:00 local = 18:00 UTC
    CHECK(sla(sat + 5 * kHour, 1, {{"utc_offset_hours", -8}}) == "ok:219600.0");
  }
  SECTION("with other opening hours") {
    CHECK(sla(kMonday + 11 * kHour, 2, {{"start", 8}, {"stop", 12}}) == "ok:79200.0");  // Mon 11:00 -> Tue 09:00
    CHECK(sla(kMonday + 8 * kHour, 1, {{"start", 8.5}}) == "ok:5400.0");                 // 08:30 + 1 -> 09:30
    CHECK(sla(fri + 23 * kHour, 2, {{"start", 0}, {"stop", 24}}) == "ok:180000.0");      // Fri 23:00 -> Mon 01:00
  }
}

TEST_CASE("business_hours_sla validates its arguments") {
  Cases c(R"(
cases.text_now = function() return hitl.business_hours_sla("now", 2) end
cases.nan_now = function() return hitl.business_hours_sla(0/0, 2) end
cases.inf_now = function() return hitl.business_hours_sla(math.huge, 2) end
cases.zero_hours = function() return hitl.business_hours_sla(0, 0) end
cases.negative_hours = function() return hitl.business_hours_sla(0, -1) end
cases.no_hours = function() return hitl.business_hours_sla(0) end
cases.opts_string = function() return hitl.business_hours_sla(0, 1, "9-17") end
cases.unknown = function() return hitl.business_hours_sla(0, 1, { tz = "Europe/Paris" }) end
cases.start_late = function() return hitl.business_hours_sla(0, 1, { start = 25 }) end
cases.stop_text = function() return hitl.business_hours_sla(0, 1, { stop = "17" }) end
cases.reversed = function() return hitl.business_hours_sla(0, 1, { start = 18 }) end
cases.equal = function() return hitl.business_hours_sla(0, 1, { start = 12, stop = 12 }) end
cases.offset = function() return hitl.business_hours_sla(0, 1, { utc_offset_hours = 15 }) end
)");
  CHECK(c.run("text_now") == "err:hitl.business_hours_sla: now_ms must be a finite number (epoch milliseconds), got string");
  CHECK(c.run("nan_now").rfind("err:hitl.business_hours_sla: now_ms must be a finite number", 0) == 0);
  CHECK(c.run("inf_now") == "err:hitl.business_hours_sla: now_ms must be a finite number (epoch milliseconds), got inf");
  CHECK(c.run("zero_hours") == "err:hitl.business_hours_sla: hours must be a positive number, got 0");
  CHECK(c.run("negative_hours") == "err:hitl.business_hours_sla: hours must be a positive number, got -1");
  CHECK(c.run("no_hours") == "err:hitl.business_hours_sla: hours must be a positive number, got nil");
  CHECK(c.run("opts_string") == "err:hitl.business_hours_sla: opts must be a table or nil, got string");
  CHECK(c.run("unknown") ==
        "err:hitl.business_hours_sla: unknown option 'tz' (expected start, stop, utc_offset_hours)");
  CHECK(c.run("start_late") == "err:hitl.business_hours_sla: opts.start must be a number in [0, 24], got 25");
  CHECK(c.run("stop_text") == "err:hitl.business_hours_sla: opts.stop must be a number in [0, 24], got string");
  CHECK(c.run("reversed") == "err:hitl.business_hours_sla: opts.start must be before opts.stop, got 18 and 17");
  CHECK(c.run("equal") == "err:hitl.business_hours_sla: opts.start must be before opts.stop, got 12 and 12");
  CHECK(c.run("offset") ==
        "err:hitl.business_hours_sla: opts.utc_offset_hours must be a number in [-14, 14], got 15");
}

TEST_CASE("escalation action constructors build and validate the action tables") {
  Cases c(R"(
cases.each = function()
  return { hitl.raise_priority(0.95), hitl.reassign("senior"), hitl.notify(), hitl.default_decision("bad") }
end
cases.bounds = function() return { hitl.raise_priority(0), hitl.raise_priority(1) } end
cases.priority_high = function() return hitl.raise_priority(1.5) end
cases.priority_nan = function() return hitl.raise_priority(0/0) end
cases.priority_text = function() return hitl.raise_priority("high") end
cases.reassign_empty = function() return hitl.reassign("") end
cases.reassign_nil = function() return hitl.reassign() end
cases.notify_arg = function() return hitl.notify("ops") end
cases.default_nil = function() return hitl.default_decision(nil) end
cases.default_number = function() return hitl.default_decision(1) end
cases.list = function(p)
  return hitl.actions(hitl.notify(), p.breached and hitl.reassign("senior"), nil, hitl.raise_priority(0.9))
end
cases.none = function() return tostring(hitl.actions(nil, false)) .. "/" .. tostring(hitl.actions()) end
cases.not_action = function() return hitl.actions(hitl.notify(), "reassign") end
cases.bad_table = function() return hitl.actions({ action = "page" }) end
)");
  CHECK(c.run("each") ==
        "ok:{{action=priority,value=0.95},{action=reassign,pool=senior},{action=notify},{action=default,label=bad}}");
  CHECK(c.run("bounds") == "ok:{{action=priority,value=0},{action=priority,value=1}}");
  CHECK(c.run("priority_high") == "err:hitl.raise_priority: value must be a number in [0, 1], got 1.5");
  CHECK(c.run("priority_nan").rfind("err:hitl.raise_priority: value must be a number in [0, 1], got ", 0) == 0);
  CHECK(c.run("priority_text") == "err:hitl.raise_priority: value must be a number in [0, 1], got string");
  CHECK(c.run("reassign_empty") == "err:hitl.reassign: pool must be a non-empty string, got an empty string");
  CHECK(c.run("reassign_nil") == "err:hitl.reassign: pool must be a non-empty string, got nil");
  CHECK(c.run("notify_arg") ==
        "err:hitl.notify: takes no arguments (who is notified is the service's configuration)");
  CHECK(c.run("default_nil") == "err:hitl.default_decision: label must be a non-empty string, got nil");
  CHECK(c.run("default_number") == "err:hitl.default_decision: label must be a non-empty string, got number");
  CHECK(c.run("list", {{"breached", true}}) ==
        "ok:{{action=notify},{action=reassign,pool=senior},{action=priority,value=0.9}}");
  CHECK(c.run("list", {{"breached", false}}) == "ok:{{action=notify},{action=priority,value=0.9}}");
  CHECK(c.run("none") == "ok:nil/nil");
  CHECK(c.run("not_action") ==
        "err:hitl.actions: argument 2 is not an action (use hitl.raise_priority, hitl.reassign, hitl.notify or "
        "hitl.default_decision), got string");
  CHECK(c.run("bad_table") ==
        "err:hitl.actions: argument 1 is not an action (use hitl.raise_priority, hitl.reassign, hitl.notify or "
        "hitl.default_decision), got a table without a valid action");
}

TEST_CASE("the existing helpers keep their behaviour next to the new ones") {
  Cases c(R"(
cases.old = function(p)
  local label, top = hitl.top({ good = 0.7, bad = 0.3 })
  return { hitl.auto().action, hitl.reject("fraud").reason, tostring(hitl.between(0.5, 0, 1)), hitl.clamp(3, 0, 1),
           label, top, hitl.get(p, "a.b", "dflt") }
end
cases.reason = function() return hitl.review(3) end
)");
  CHECK(c.run("old") == "ok:{auto,fraud,true,1,good,0.7,dflt}");
  CHECK(c.run("reason") == "err:hitl.review: reason must be a non-empty string, got number");
}

TEST_CASE("the workflow examples in docs/policy.md run and answer what the text says") {
  // The hooks as docs/policy.md shows them, called from flag with the task and event from p.input.
  Cases c(R"(
local policy = {
  reviewers_needed = function(task)
    if (task.input.Amount or 0) > 10000 or task.prediction.label == "fraud" then return 2 end
    return 1
  end,
  assign = function(task, candidates)
    if task.reason ~= "high_amount" then return nil end
    local proven = {}
    for _, c in ipairs(hitl.accurate(candidates, 0.9, 20)) do
      if c.gold_answers >= 20 then proven[#proven + 1] = c end
    end
    return hitl.least_loaded(proven)
  end,
  escalate = function(task, event)
    if event.kind == "at_risk" then return hitl.raise_priority(0.95) end
    if task.reason == "missing_amount" then return hitl.default_decision("bad") end
    return hitl.actions(
      task.pool ~= "senior" and hitl.reassign("senior"),
      hitl.notify())
  end,
  sla = function(task)
    return hitl.business_hours_sla(os.time() * 1000, 4, { utc_offset_hours = 1 })
  end,
}
cases.needed = function(p) return policy.reviewers_needed(p.task) end
cases.assign = function(p) return tostring(policy.assign(p.task, p.candidates)) end
cases.assign_list = function(p) return policy.assign(p.task, p.candidates) end
cases.escalate = function(p) return policy.escalate(p.task, p.event) end
cases.chain = function(p)
  return hitl.least_loaded(hitl.accurate(hitl.skill_match(p.candidates, {"fraud"}), 0.9, 20))
end
cases.sla = function(p)
  local s = policy.sla(p.task)
  return s > 0 and s <= (3 * 24 + 4) * 3600   -- at most a weekend plus a night plus 4 hours away
end
)");
  json task = {{"reason", "uncertain"}, {"input", {{"Amount", 800}}}, {"prediction", {{"label", "good"}}}, {"pool", ""}};
  CHECK(c.run("needed", {{"task", task}}) == "ok:1");
  task["input"]["Amount"] = 20000;
  CHECK(c.run("needed", {{"task", task}}) == "ok:2");
  CHECK(c.run("assign", {{"task", task}, {"candidates", kCandidates}}) == "ok:nil");  // the default
  task["reason"] = "high_amount";
  // r1 0.95 on 40: proven; r2 0.70 on 25: below; r3 3 answers, r4 none: not proven yet
  CHECK(c.run("assign_list", {{"task", task}, {"candidates", kCandidates}}) == "ok:{r1}");
  // fraud: r1 r2 r3; r2 is below 0.9 on 25 answers; r3 (3 answers) is not judged yet; 0.5 each, r1 holds less
  CHECK(c.run("chain", {{"candidates", kCandidates}}) == "ok:{r1,r3}");
  json at_risk = {{"kind", "at_risk"}, {"now_ms", kMonday}, {"deadline_ms", kMonday + kHour}};
  json breached = {{"kind", "breached"}, {"now_ms", kMonday + 2 * kHour}, {"deadline_ms", kMonday + kHour}};
  CHECK(c.run("escalate", {{"task", task}, {"event", at_risk}}) == "ok:{action=priority,value=0.95}");
  CHECK(c.run("escalate", {{"task", task}, {"event", breached}}) == "ok:{{action=reassign,pool=senior},{action=notify}}");
  task["pool"] = "senior";
  CHECK(c.run("escalate", {{"task", task}, {"event", breached}}) == "ok:{{action=notify}}");
  task["reason"] = "missing_amount";
  CHECK(c.run("escalate", {{"task", task}, {"event", breached}}) == "ok:{action=default,label=bad}");
  CHECK(c.run("sla", {{"task", task}}) == "ok:true");
}

TEST_CASE("hitl.inverse_confidence weighs unsure samples up and names a bad argument", "[policy][stdlib]") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
  weight = function(sample)
    if sample.decision_id == "bad" then return hitl.inverse_confidence({}) end
    return hitl.inverse_confidence(sample)
  end,
})");
  json input = json::object();
  hitl::policy::SampleView s{"d", "x", &input, "bad", "good", "correct", 0.55, {}, {}, 0};
  bool failed = false;
  CHECK(f.engine->weight("d", s, failed) == Approx(1 / 0.56));
  s.confidence = 0.99;
  CHECK(f.engine->weight("d", s, failed) == Approx(1.0));
  CHECK_FALSE(failed);
  s.decision_id = "bad";
  CHECK(f.engine->weight("d", s, failed) == 1.0);  // the error falls back to the default weight
  CHECK(failed);
}
