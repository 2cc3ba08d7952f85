// PolicyEngine: verdicts, the p/task tables, load-time checks, the sandbox, budgets, failing
// closed, threads, and the credit_risk example policy. Policies are real files in temp folders.
#include "common/hash.hpp"
#include "policy/policy_engine.hpp"
#include "policy_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;
using namespace hitl::policy;
using namespace policy_test;

namespace {
// The PolicyError text for a policy file `text`, with the temp folder taken out of the path.
std::string load_error(const std::string& text) {
  TempDir dir;
  auto file = dir.write("policy.lua", text);
  try {
    PolicyEngine engine({{"d", file}}, kLib);
  } catch (const PolicyError& e) {
    std::string msg = e.what();
    const std::string folder = dir.path.string() + "/";
    if (msg.rfind(folder, 0) == 0) msg.erase(0, folder.size());
    return msg;
  }
  return "";
}

const char* kEcho = R"(local hitl = require "hitl"
return { flag = function(p) return hitl.review(tostring(p.input.x)) end })";
}  // namespace

TEST_CASE("flag returns auto review and reject verdicts") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  if p.input.kind == "ok" then return hitl.auto() end
  if p.input.kind == "bad" then return hitl.reject("fraud") end
  return hitl.review("unsure")
end })");
  auto a = f.flag({{"kind", "ok"}});
  CHECK(a.action == Action::auto_approve);
  CHECK(a.reason.empty());
  CHECK_FALSE(a.policy_error);
  auto r = f.flag({{"kind", "bad"}});
  CHECK(r.action == Action::reject);
  CHECK(r.reason == "fraud");
  auto v = f.flag({{"kind", "other"}});
  CHECK(v.action == Action::review);
  CHECK(v.reason == "unsure");
  CHECK_FALSE(v.policy_error);
  CHECK(f.engine->error_count("d") == 0);
}

TEST_CASE("p exposes nested input prediction scores meta and domain") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local items = p.input.items
  return hitl.review(string.format("%s|%s|%.2f|%.2f|%s|%s|%d|%s|%s|%s",
    p.domain, p.prediction.label, p.prediction.confidence, p.prediction.scores.bad,
    p.meta.source, p.input.applicant.address.city, #items, tostring(items[1]),
    tostring(p.input.gone), math.type(p.input.n)))
end })");
  json input = {{"applicant", {{"address", {{"city", "Lyon"}}}}},
                {"items", {10, 20, 30}},
                {"gone", nullptr},
                {"n", 7}};
  auto v = f.flag(input, {{"source", "web"}});
  CHECK_FALSE(v.policy_error);
  CHECK(v.reason == "d|good|0.80|0.20|web|Lyon|3|10|nil|integer");
}

TEST_CASE("p.meta is an empty table when meta is null") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p) return hitl.review(type(p.meta) .. ":" .. tostring(next(p.meta))) end })");
  CHECK(f.flag({{"x", 1}}, json()).reason == "table:nil");
}

TEST_CASE("input nested deeper than 32 levels fails closed") {
  Fixture f(kEcho);
  json deep = 1;
  for (int i = 0; i < 40; ++i) deep = json{{"a", deep}};
  auto v = f.flag(deep);
  CHECK(v.policy_error);
  CHECK(v.error.find("nested deeper than 32") != std::string::npos);
}

TEST_CASE("priority defaults to 0.5 without a priority function") {
  Fixture f(kEcho);
  CHECK(f.priority("r", {{"x", 1}}) == 0.5);
  CHECK(f.engine->error_count("d") == 0);
}

TEST_CASE("priority sees the task and is clamped to 0..1") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.auto() end,
  priority = function(t)
    if t.reason == "scaled" then return t.input.v * t.prediction.confidence end
    if t.domain ~= "d" then error("wrong domain") end
    return t.input.v
  end })");
  CHECK(f.priority("plain", {{"v", 7}}) == 1.0);
  CHECK(f.priority("plain", {{"v", -3}}) == 0.0);
  CHECK(f.priority("scaled", {{"v", 0.5}}) == Approx(0.4));
  CHECK(f.engine->error_count("d") == 0);
}

TEST_CASE("priority errors and non-numbers give 1.0 and are counted") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.auto() end,
  priority = function(t)
    if t.reason == "boom" then error("no priority today") end
    if t.reason == "nan" then return 0/0 end
    return "high"
  end })");
  CHECK(f.priority("boom", json::object()) == 1.0);
  CHECK(f.priority("text", json::object()) == 1.0);
  CHECK(f.priority("nan", json::object()) == 1.0);
  CHECK(f.engine->error_count("d") == 3);
}

TEST_CASE("a syntax error names the file and the line") {
  TempDir dir;
  auto file = dir.write("bad_syntax.lua", "local hitl = require 'hitl'\n\nlocal x = = 1\nreturn {}\n");
  std::string msg;
  try {
    PolicyEngine engine({{"d", file}}, kLib);
  } catch (const PolicyError& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.rfind(file.string() + ":3:", 0) == 0);
}

TEST_CASE("load-time shape checks name the file and the problem") {
  CHECK(load_error("return { }") == "policy.lua: flag must be a function, got nil");
  CHECK(load_error("return { flag = 3 }") == "policy.lua: flag must be a function, got number");
  CHECK(load_error("return { flag = function() end, priority = 'x' }") ==
        "policy.lua: priority must be a function when present, got string");
  CHECK(load_error("return 42") == "policy.lua: the file must return a table with flag(p), got number");
  CHECK(load_error("error('top level broke')").find("top level broke") != std::string::npos);
  CHECK(load_error("while true do end") == "policy.lua: instruction budget exceeded");
}

TEST_CASE("load errors use the path as given and name missing files") {
  TempDir dir;
  auto file = dir.write("p.lua", "return {}");
  try {
    PolicyEngine engine({{"d", file}}, kLib);
    FAIL("no error");
  } catch (const PolicyError& e) {
    CHECK(std::string(e.what()) == file.string() + ": flag must be a function, got nil");
  }
  CHECK_THROWS_WITH(PolicyEngine::check_file(dir.path / "absent.lua", kLib),
                    (dir.path / "absent.lua").string() + ": file not found");
}

TEST_CASE("require loads library modules and modules next to the policy") {
  TempDir dir;
  dir.write("rules.lua", "return { limit = 42 }");
  dir.write("sub/limits.lua", "local r = require 'rules'\nreturn { twice = r.limit * 2 }");
  auto file = dir.write("policy.lua", R"(local hitl = require "hitl"
local rules = require "rules"
return { flag = function(p)
  local limits = require "sub.limits"
  return hitl.review(rules.limit .. "/" .. limits.twice .. "/" .. tostring(require("rules") == rules))
end })");
  PolicyEngine engine({{"d", file}}, kLib);
  std::string d = "d";
  json input = json::object(), meta;
  PredictionView pred;
  auto v = engine.flag(d, FlagInput{&d, &input, &meta, &pred});
  CHECK_FALSE(v.policy_error);
  CHECK(v.reason == "42/84/true");
}

TEST_CASE("require refuses paths and parent folders and standard modules") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local ok, err = pcall(require, p.input.name)
  return hitl.review(ok and "loaded" or err)
end })");
  CHECK(f.flag({{"name", "../x"}}).reason == R"(require "../x": empty segment in module name (no "..", no leading dot))");
  CHECK(f.flag({{"name", "sub/x"}}).reason.find("invalid character in module name") != std::string::npos);
  CHECK(f.flag({{"name", "/etc/passwd"}}).reason.find("invalid character in module name") != std::string::npos);
  CHECK(f.flag({{"name", "a..b"}}).reason.find("empty segment") != std::string::npos);
  for (const char* std_module : {"os", "io", "debug", "package"}) {
    auto v = f.flag({{"name", std_module}});
    INFO(v.reason);
    CHECK(v.reason.find("module not found") != std::string::npos);
  }
}

TEST_CASE("the sandbox has no io or os.execute or debug or package or file loaders") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local seen = {}
  for _, name in ipairs({"io", "debug", "package", "dofile", "loadfile", "coroutine"}) do
    if _G[name] ~= nil then seen[#seen + 1] = name end
  end
  if os.execute or os.getenv or os.remove or os.exit then seen[#seen + 1] = "os.*" end
  if string.dump then seen[#seen + 1] = "string.dump" end
  if type(os.time()) ~= "number" or type(os.clock()) ~= "number" or type(os.date("%Y")) ~= "string" then
    seen[#seen + 1] = "os.time/clock/date missing"
  end
  if type(collectgarbage("count")) ~= "number" then seen[#seen + 1] = "gc count missing" end
  local ok = pcall(collectgarbage, "collect")
  if ok then seen[#seen + 1] = "collectgarbage collect allowed" end
  print("print goes to the debug log", 1, nil, {})  -- must not fail
  if #seen == 0 then return hitl.auto() end
  return hitl.review(table.concat(seen, ","))
end })");
  auto v = f.flag(json::object());
  INFO(v.reason << v.error);
  CHECK(v.action == Action::auto_approve);
}

TEST_CASE("bytecode is refused and text load works") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local f1, e1 = load("\27LuaT\0\25\147\13\10\26\10")
  local f2, e2 = load("return 1", "x", "b")
  local f3 = load("return 40 + 2")
  return hitl.review(tostring(f1) .. "|" .. e1 .. "|" .. tostring(f2) .. "|" .. e2 .. "|" .. f3())
end })");
  auto v = f.flag(json::object());
  INFO(v.reason << v.error);
  CHECK(v.reason.rfind("nil|", 0) == 0);
  CHECK(v.reason.find("attempt to load a binary chunk") != std::string::npos);
  CHECK(v.reason.find("binary chunks are refused") != std::string::npos);
  CHECK(v.reason.find("|42") != std::string::npos);
  CHECK(load_error("\x1bLua\x54\x00 not really bytecode").find("binary chunk") != std::string::npos);
}

TEST_CASE("an endless loop fails closed and the engine keeps working") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  if p.input.mode == "loop" then while true do end end
  if p.input.mode == "caught" then
    for i = 1, 1e9 do pcall(function() for j = 1, 1e9 do end end) end
    return hitl.auto()
  end
  return hitl.review("fine")
end })", Limits{100'000, 32u << 20});
  auto v = f.flag({{"mode", "loop"}});
  CHECK(v.action == Action::review);
  CHECK(v.reason == "policy_error");
  CHECK(v.policy_error);
  CHECK(v.error == "instruction budget exceeded");
  auto caught = f.flag({{"mode", "caught"}});  // pcall inside the policy must not rescue it
  CHECK(caught.action == Action::review);
  CHECK(caught.error == "instruction budget exceeded");
  auto next = f.flag({{"mode", "ok"}});
  CHECK_FALSE(next.policy_error);
  CHECK(next.reason == "fine");
  CHECK(f.engine->error_count("d") == 2);
}

TEST_CASE("a memory bomb fails closed and the engine keeps working") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  if p.input.mode == "table" then
    local t = {}
    for i = 1, 1e9 do t[i] = {i} end
  elseif p.input.mode == "rep" then
    local s = string.rep("x", 1e9)
  elseif p.input.mode == "concat" then
    local s = "x"
    for i = 1, 64 do s = s .. s end
  end
  return hitl.review("fine")
end })", Limits{1'000'000'000, 2u << 20});
  for (const char* mode : {"table", "rep", "concat"}) {
    auto v = f.flag({{"mode", mode}});
    INFO(mode);
    CHECK(v.policy_error);
    CHECK(v.action == Action::review);
    CHECK(v.error == "memory limit exceeded");
    auto next = f.flag({{"mode", "ok"}});
    CHECK(next.reason == "fine");
  }
  CHECK(f.engine->error_count("d") == 3);
}

TEST_CASE("bad return values fail closed") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local m = p.input.mode
  if m == "nil" then return nil end
  if m == "string" then return "auto" end
  if m == "noaction" then return { reason = "x" } end
  if m == "noreason" then return { action = "review" } end
  if m == "emptyreason" then return hitl.review("") end
  if m == "numreason" then return hitl.reject(3) end
  return { action = "auto" }
end })");
  struct Case { const char* mode; const char* text; };
  for (auto c : {Case{"nil", "flag returned nil instead of a verdict"}, Case{"string", "flag returned string instead"},
                 Case{"noaction", "without a valid action"}, Case{"noreason", "review verdict without a reason"},
                 Case{"emptyreason", "hitl.review: reason must be a non-empty string, got an empty string"},
                 Case{"numreason", "hitl.reject: reason must be a non-empty string, got number"}}) {
    auto v = f.flag({{"mode", c.mode}});
    INFO(c.mode << ": " << v.error);
    CHECK(v.action == Action::review);
    CHECK(v.reason == "policy_error");
    CHECK(v.error.find(c.text) != std::string::npos);
  }
  CHECK(f.engine->error_count("d") == 6);
  CHECK(f.flag({{"mode", "plain"}}).action == Action::auto_approve);  // a plain verdict table is fine
}

TEST_CASE("error() fails closed and keeps the message and counts") {
  Fixture f(R"(return { flag = function(p) error("credit bureau field missing") end })");
  auto v = f.flag(json::object());
  CHECK(v.action == Action::review);
  CHECK(v.policy_error);
  CHECK(v.error == "policy.lua:1: credit bureau field missing");
  f.flag(json::object());
  CHECK(f.engine->error_count("d") == 2);
}

TEST_CASE("unknown domains fail closed") {
  Fixture f(kEcho);
  CHECK(f.engine->has_domain("d"));
  CHECK_FALSE(f.engine->has_domain("other"));
  std::string other = "other";
  json input = json::object(), meta;
  PredictionView pred;
  auto v = f.engine->flag(other, FlagInput{&other, &input, &meta, &pred});
  CHECK(v.policy_error);
  CHECK(v.action == Action::review);
  CHECK(v.error.find("other") != std::string::npos);
}

TEST_CASE("many threads calling flag concurrently get their own correct answers") {
  Fixture f(R"(local hitl = require "hitl"
local calls = 0  -- per lua_State, so per thread
return { flag = function(p)
  calls = calls + 1
  if p.input.x % 2 == 0 then return hitl.auto() end
  return hitl.review(tostring(p.input.x * 3) .. ":" .. p.meta.thread .. ":" .. calls)
end })");
  constexpr int kThreads = 6, kCalls = 3000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        auto v = f.flag({{"x", i}}, {{"thread", t}});
        if (i % 2 == 0) {
          if (v.action != Action::auto_approve) ++wrong;
        } else if (v.reason != std::to_string(i * 3) + ":" + std::to_string(t) + ":" + std::to_string(i + 1)) {
          ++wrong;
        }
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
  CHECK(f.engine->error_count("d") == 0);
}

TEST_CASE("a new engine on the same thread never sees the old engine's states") {
  for (int round = 0; round < 5; ++round) {
    Fixture f("local hitl = require 'hitl'\nreturn { flag = function(p) return hitl.review('round" + std::to_string(round) +
              "') end }");
    CHECK(f.flag(json::object()).reason == "round" + std::to_string(round));
  }
}

TEST_CASE("hitl helpers compute what docs/policy.md says") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local s = p.prediction.scores
  local label, top = hitl.top(s)
  return hitl.review(string.format("%s|%s|%s|%.2f|%.3f|%.3f|%s|%.2f|%s|%s|%s|%s|%s",
    tostring(hitl.between(0.5, 0.35, 0.65)), tostring(hitl.between(0.7, 0.35, 0.65)),
    tostring(hitl.between(nil, 0, 1)), hitl.clamp(3, 0, 1), hitl.margin(s), hitl.entropy(s),
    label, top, string.format("%.3f", hitl.entropy({a = 0.5, b = 0.5}, true)),
    hitl.get(p.input, "a.b.c", "dflt"), tostring(hitl.get(p.input, "a.list.2")),
    hitl.get(p.input, "a.missing.x", "dflt"), tostring(hitl.margin({}))))
end })");
  PredictionView pred{"good", 0.7, {{"good", 0.7}, {"bad", 0.3}}};
  auto v = f.flag({{"a", {{"b", {{"c", "deep"}}}, {"list", {5, 6}}}}}, json(), pred);
  INFO(v.error);
  // entropy(0.7, 0.3) = -(0.7 ln 0.7 + 0.3 ln 0.3) = 0.611
  CHECK(v.reason == "true|false|false|1.00|0.400|0.611|good|0.70|1.000|deep|6|dflt|0");
}

TEST_CASE("hitl.retrain_after answers as the counts say and refuses non-numbers") {
  Fixture f(R"(local hitl = require "hitl"
local hook = hitl.retrain_after(10, 2)
return { flag = function(p)
  local a, why = hook({ samples = 12, corrections = 2 })
  local b = hook({ samples = 12, corrections = 1 })
  local ok, err = pcall(hitl.retrain_after, "10", 2)
  return hitl.review(string.format("%s|%s|%s|%s|%s", tostring(a), why, tostring(b), tostring(ok),
    tostring(err:find("expected two numbers", 1, true) ~= nil)))
end })");
  auto v = f.flag(json::object());
  INFO(v.error);
  CHECK(v.reason == "true|12 outcomes, 2 corrections|false|false|true");
}

TEST_CASE("hitl.prob reads the score, else label and confidence") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local no_scores = { label = "good", confidence = 0.8 }
  return hitl.review(string.format("%.2f|%.2f|%.2f|%.2f|%.2f|%.2f", hitl.prob(p.prediction, "bad"),
    hitl.prob(p.prediction, "other"), hitl.prob(no_scores, "good"), hitl.prob(no_scores, "bad"),
    hitl.prob({}, "good"), hitl.prob(nil, "good")))
end })");
  PredictionView pred{"good", 0.7, {{"good", 0.7}, {"bad", 0.3}}};
  auto v = f.flag(json::object(), json(), pred);
  INFO(v.error);
  // "other" has no score: the prediction's label is "good", so 1 - 0.7.
  CHECK(v.reason == "0.30|0.30|0.80|0.20|0.00|0.00");
}

TEST_CASE("the credit_risk example reviews uncertain and large loans and passes small confident ones") {
  const fs::path file = fs::path(HITL_SOURCE_DIR) / "examples" / "credit_risk" / "policy.lua";
  REQUIRE_NOTHROW(PolicyEngine::check_file(file, kLib));
  PolicyEngine engine({{"credit_risk", file}}, kLib);
  std::string domain = "credit_risk";
  json meta;
  auto run = [&](double amount, double p_bad) {
    json input = {{"Seniority", 9}, {"Home", "rent"}, {"Amount", amount}, {"Price", 1200}};
    PredictionView pred{p_bad >= 0.5 ? "bad" : "good", std::max(p_bad, 1 - p_bad), {{"good", 1 - p_bad}, {"bad", p_bad}}};
    return engine.flag(domain, FlagInput{&domain, &input, &meta, &pred});
  };
  auto uncertain = run(800, 0.5);
  CHECK(uncertain.action == Action::review);
  CHECK(uncertain.reason == "uncertain");
  auto confident = run(800, 0.05);
  CHECK(confident.action == Action::auto_approve);
  auto large = run(4000, 0.05);
  CHECK(large.action == Action::review);
  CHECK(large.reason == "high_amount");
  CHECK(engine.error_count(domain) == 0);

  auto prio = [&](double amount, double p_bad) {
    json input = {{"Amount", amount}};
    PredictionView pred{"good", 1 - p_bad, {{"good", 1 - p_bad}, {"bad", p_bad}}};
    std::string reason = "uncertain";
    return engine.priority(domain, TaskView{&domain, &reason, &input, &meta, &pred});
  };
  CHECK(prio(4000, 0.5) > prio(800, 0.5));  // more money first
  CHECK(prio(800, 0.5) > prio(800, 0.36));  // less sure first
  CHECK(prio(800, 0.5) == Approx(0.58));    // the figures in docs/policy.md
  CHECK(prio(4000, 0.05) == Approx(0.45));
  CHECK(prio(100000, 0.5) <= 1.0);
  CHECK(engine.error_count(domain) == 0);
}

TEST_CASE("policy_hash is the sha256 of the file and changes with its content") {
  TempDir dir;
  const std::string v1 = kEcho, v2 = std::string(kEcho) + "\n-- edited\n";
  auto a = dir.write("a.lua", v1);
  auto b = dir.write("b.lua", v2);
  PolicyEngine engine({{"a", a}, {"b", b}}, kLib);
  CHECK(engine.policy_hash("a") == hitl::sha256_hex(v1));
  CHECK(engine.policy_hash("b") == hitl::sha256_hex(v2));
  CHECK(engine.policy_hash("a") != engine.policy_hash("b"));
  CHECK(engine.policy_hash("a").size() == 64);
}

TEST_CASE("two domains with one name are refused") {
  TempDir dir;
  auto a = dir.write("a.lua", kEcho);
  CHECK_THROWS_WITH(PolicyEngine({{"d", a}, {"d", a}}, kLib), Catch::Contains("more than one policy"));
}

TEST_CASE("sla returns seconds or nil, sees task.priority, and a failure is counted and flagged") {
  Fixture f(R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
  sla = function(task)
    if task.reason == "none" then return nil end
    if task.reason == "bad" then return "soon" end
    if task.reason == "zero" then return 0 end
    if task.reason == "boom" then error("no sla") end
    return 60 * task.priority
  end,
})");
  json input = json::object(), meta = json::object();
  auto pred = Fixture::default_prediction();
  auto sla = [&](const std::string& reason, double priority, bool& failed) {
    TaskView t{&f.domain, &reason, &input, &meta, &pred, &priority};
    return f.engine->sla_seconds(f.domain, t, failed);
  };
  bool failed = true;
  auto s = sla("normal", 0.5, failed);
  REQUIRE(s);
  CHECK(*s == Approx(30));
  CHECK_FALSE(failed);
  s = sla("none", 0.5, failed);  // nil: no deadline, which is not "no sla()"
  REQUIRE(s);
  CHECK(*s == 0);
  CHECK_FALSE(failed);
  for (const char* reason : {"bad", "zero", "boom"}) {
    INFO(reason);
    CHECK_FALSE(sla(reason, 0.5, failed));
    CHECK(failed);
  }
  CHECK(f.engine->error_count(f.domain) == 3);
}

TEST_CASE("without sla() there is no policy answer, and version is read from the policy table") {
  Fixture plain("local hitl = require 'hitl'\nreturn { flag = function(p) return hitl.auto() end }");
  json input = json::object(), meta = json::object();
  auto pred = Fixture::default_prediction();
  std::string reason = "r";
  bool failed = true;
  CHECK_FALSE(plain.engine->sla_seconds(plain.domain, TaskView{&plain.domain, &reason, &input, &meta, &pred}, failed));
  CHECK_FALSE(failed);
  CHECK(plain.engine->policy_version(plain.domain).empty());
  Fixture versioned("return { version = '2026-12-02', flag = function(p) return { action = 'auto' } end }");
  CHECK(versioned.engine->policy_version(versioned.domain) == "2026-12-02");
  CHECK(load_error("return { flag = function() end, sla = 5 }") == "policy.lua: sla must be a function when present, got number");
  CHECK(load_error("return { flag = function() end, version = 3 }") ==
        "policy.lua: version must be a string when present, got number");
}

TEST_CASE("an error message quoting a sensitive value has it redacted before it is returned") {
  Fixture f("return { flag = function(p) error('cannot score ' .. p.input.name .. ' aged ' .. p.input.age) end }");
  json input = {{"name", "Ada Lovelace"}, {"age", 36}};
  json meta = json::object();
  auto pred = Fixture::default_prediction();
  std::vector<std::string> values{"Ada Lovelace"};
  FlagInput in{&f.domain, &input, &meta, &pred, &values};
  auto v = f.engine->flag(f.domain, in);
  CHECK(v.policy_error);
  CHECK(v.reason == "policy_error");
  CHECK(v.error.find("Ada Lovelace") == std::string::npos);
  CHECK_THAT(v.error, Catch::Contains("cannot score [redacted] aged 36"));
}

TEST_CASE("weight(sample) sees the sample and falls back to 1/(confidence+0.01) on errors", "[policy]") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
  weight = function(s)
    if s.input.bad then return "heavy" end
    if s.input.negative then return -1 end
    if s.input.boom then error("no weight for " .. s.decision_id) end
    local w = 1
    for _, t in ipairs(s.tags) do if t == "user-correction" then w = w * 3 end end
    if s.label ~= s.model_label then w = w + 0.5 end
    return w * #s.reviewers + (s.outcome == "correct" and 0.25 or 0) + s.created_ms / 1000 + s.confidence
  end,
})");
  CHECK(f.engine->has_weight("d"));
  json input = {{"Amount", 10}};
  hitl::policy::SampleView s{"d", "id-1", &input, "bad", "good", "correct", 0.5, {"user-correction"}, {"alice", "bob"}, 2000};
  bool failed = true;
  CHECK(f.engine->weight("d", s, failed) == Approx((3 + 0.5) * 2 + 0.25 + 2 + 0.5));
  CHECK_FALSE(failed);
  for (const char* key : {"bad", "negative", "boom"}) {
    INFO(key);
    json broken = {{key, true}};
    s.input = &broken;
    CHECK(f.engine->weight("d", s, failed) == Approx(1.0));  // the default
    CHECK(failed);
  }
  CHECK(f.engine->error_count("d") == 3);

  Fixture plain(R"(return { flag = function(p) return { action = "auto" } end })");
  CHECK_FALSE(plain.engine->has_weight("d"));
  CHECK(plain.engine->weight("d", s, failed) == Approx(1.0));  // every sample as much as a base row
  CHECK_FALSE(failed);
  CHECK(PolicyEngine::default_weight() == 1.0);

  TempDir dir;
  auto bad = dir.write("p.lua", "return { flag = function(p) end, weight = 2 }");
  CHECK_THROWS_WITH(PolicyEngine::check_file(bad, kLib), Catch::Contains("weight must be a function when present, got number"));
}

TEST_CASE("the weight example of docs/policy.md gives the figures the text implies", "[policy]") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
weight = function(sample)
  local w = hitl.inverse_confidence(sample)
  for _, t in ipairs(sample.tags) do
    if t == "user-correction" then w = w * 2 end
    if t == "production-failure" then w = w * 3 end
  end
  return w
end,
})");
  json input = json::object();
  hitl::policy::SampleView s{"d", "x", &input, "bad", "good", "correct", 0.5, {"user-correction", "production-failure"}, {}, 0};
  bool failed = false;
  CHECK(f.engine->weight("d", s, failed) == Approx(6 / 0.51));
  s.tags = {"confirmed"};
  s.confidence = 0.99;
  CHECK(f.engine->weight("d", s, failed) == Approx(1.0));
  s.confidence = 0.55;
  CHECK(f.engine->weight("d", s, failed) == Approx(1.79).margin(0.005));
  CHECK_FALSE(failed);
}

TEST_CASE("promote(eval) decides with a reason and fails closed", "[policy]") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
  promote = function(eval)
    if eval.mode == "bad" then return "yes" end
    if eval.mode == "boom" then error("no eval") end
    if eval.candidate.metrics.auc > eval.live.metrics.auc then return true end
    return false, "auc did not improve"
  end,
})");
  std::string why;
  bool failed = true;
  json e = {{"live", {{"metrics", {{"auc", 0.7}}}}}, {"candidate", {{"metrics", {{"auc", 0.8}}}}}};
  CHECK(f.engine->promote("d", e, why, failed) == std::optional<bool>(true));
  CHECK_FALSE(failed);
  e["candidate"]["metrics"]["auc"] = 0.6;
  CHECK(f.engine->promote("d", e, why, failed) == std::optional<bool>(false));
  CHECK(why == "auc did not improve");
  for (const char* mode : {"bad", "boom"}) {
    e["mode"] = mode;
    CHECK(f.engine->promote("d", e, why, failed) == std::optional<bool>(false));  // the live model stays
    CHECK(failed);
    CHECK(why.rfind("promote() failed: ", 0) == 0);
  }
  Fixture plain(R"(return { flag = function(p) return { action = "auto" } end })");
  CHECK_FALSE(plain.engine->promote("d", e, why, failed).has_value());
}

TEST_CASE("retrain(stats) decides with a reason and a failure trains nothing", "[policy]") {
  Fixture f(R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("x") end,
  retrain = function(stats)
    if stats.mode == "bad" then return 1 end
    if stats.mode == "boom" then error("no stats") end
    if stats.mode == "loop" then while true do end end
    if stats.samples >= 100 and (stats.flag_rate or 0) > 0.2 then return true, stats.samples .. " samples" end
    return false
  end,
})");
  std::string why;
  bool failed = true;
  json stats = {{"samples", 120}, {"flag_rate", 0.3}, {"disagreement", nullptr}};
  CHECK(f.engine->has_retrain("d"));
  CHECK(f.engine->retrain("d", stats, why, failed) == std::optional<bool>(true));
  CHECK_FALSE(failed);
  CHECK(why == "120 samples");
  stats["flag_rate"] = nullptr;  // undefined rates reach the policy as nil
  CHECK(f.engine->retrain("d", stats, why, failed) == std::optional<bool>(false));
  CHECK(why.empty());
  const auto errors_before = f.engine->error_count("d");
  for (const char* mode : {"bad", "boom", "loop"}) {
    stats["mode"] = mode;
    CHECK(f.engine->retrain("d", stats, why, failed) == std::optional<bool>(false));
    CHECK(failed);
    CHECK(why.rfind("retrain() failed: ", 0) == 0);
  }
  CHECK(f.engine->error_count("d") == errors_before + 3);
  Fixture plain(R"(return { flag = function(p) return { action = "auto" } end })");
  CHECK_FALSE(plain.engine->has_retrain("d"));
  CHECK_FALSE(plain.engine->retrain("d", stats, why, failed).has_value());
}

TEST_CASE("the hooks of one record share its input, prediction and meta tables, other records and unnamed calls get fresh ones") {
  // flag marks each shared table; priority reports the marks it sees: 1 for input, 2 for the
  // prediction (p.prediction, p.predictions[1] and task.prediction), 4 for meta, times the calls.
  Fixture f(R"(
    local hitl = require "hitl"
    local function mark(t) t.seen = (t.seen or 0) + 1 end
    return {
      flag = function(p)
        mark(p.input); mark(p.prediction); mark(p.meta)
        assert(p.predictions[1] == p.prediction, "p.predictions[1] is p.prediction")
        assert(p.prediction.model == "logreg" and p.prediction.version == "v3", "p.prediction names its model")
        return hitl.review("r")
      end,
      priority = function(task)
        return ((task.input.seen or 0) + 2 * (task.prediction.seen or 0) + 4 * (task.meta.seen or 0)) / 16
      end,
    })");
  const json input = {{"amount", 10}};
  const json meta = json::object();
  PredictionView pred = Fixture::default_prediction();
  pred.model = "logreg";
  pred.version = "v3";
  const std::string reason = "r";
  auto run = [&](std::uint64_t record) {
    FlagInput in{&f.domain, &input, &meta, &pred};
    in.record = record;
    const Verdict v = f.engine->flag(f.domain, in);
    REQUIRE(v.error.empty());
    REQUIRE(v.action == Action::review);
    TaskView t{&f.domain, &reason, &input, &meta, &pred};
    t.record = record;
    return f.engine->priority(f.domain, t);
  };
  const std::uint64_t first = next_record_key(), second = next_record_key();
  CHECK(first != 0);
  CHECK(second != first);
  CHECK(run(first) == 7.0 / 16);   // priority saw flag's marks: one table of each for the record
  CHECK(run(first) == 14.0 / 16);  // the same record again: still its tables (flag ran twice on it)
  CHECK(run(second) == 7.0 / 16);  // the next record: fresh tables, the earlier marks gone
  CHECK(run(0) == 0.0);            // unnamed: each call builds its own
  CHECK(input == json({{"amount", 10}}));  // the record itself is never changed
  CHECK(meta == json::object());
}
