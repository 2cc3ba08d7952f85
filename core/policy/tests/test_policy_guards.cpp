// The guards of a policy call (issue 14): the instruction budget reaches every re-entry into Lua
// (xpcall handlers, __close, load, metamethods, sort comparators, gsub functions),
// finalizers are refused, C library loops are charged (pattern matching, table functions), a
// wall-clock deadline and interrupt() stop a call (the sandbox has no coroutine library), a stopped state is replaced, and every string
// a hook returns is checked (UTF-8, NUL, length). Each failure fails closed with policy_error.
#include "common/utf8.hpp"
#include "policy_fixture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace policy_test;

namespace {

// Each mode is one hostile body of flag(p); "ok" answers review "fine". `calls` counts the calls
// this lua_State has seen, so a test can tell a fresh state from a reused one.
const char* kHostile = R"(local hitl = require "hitl"
local calls = 0
local function spin() while true do end end
local modes = {
  xpcall_handler = function() xpcall(spin, spin) end,
  xpcall_error_handler = function() xpcall(function() error("x") end, spin) end,
  xpcall_handler_pcall = function() xpcall(spin, function() while true do pcall(spin) end end) end,
  xpcall_ok = function() local ok, m = xpcall(function() error("boom", 0) end, function(m) return "handled " .. m end)
                         return hitl.review(m) end,
  pcall_after_budget = function() pcall(spin) while true do pcall(spin) end end,
  gc = function() setmetatable({}, {__gc = spin}) end,
  close = function() local x <close> = setmetatable({}, {__close = spin}) end,
  close_on_error = function() local x <close> = setmetatable({}, {__close = spin}) error("x") end,
  load = function() load("while true do end")() end,
  index = function() return setmetatable({}, {__index = spin}).x end,
  sort = function() table.sort({3, 2, 1}, function() spin() end) end,
  gsub_function = function() string.gsub("abc", ".", spin) end,
  table_move = function() table.move({}, 1, 1 << 40, 2) end,
  table_insert_len = function() table.insert(setmetatable({}, {__len = function() return 1 << 40 end}), 1, "x") end,
}
return { flag = function(p)
  calls = calls + 1
  local m = modes[p.input.mode]
  if m then return m() or hitl.review("survived") end
  return hitl.review("fine " .. calls)
end })";

constexpr auto kGenerous = std::chrono::seconds(3);  // "fails fast", far above what is measured

struct Timed {
  Verdict verdict;
  std::chrono::steady_clock::duration took;
};

Timed timed_flag(Fixture& f, const json& input) {
  const auto start = std::chrono::steady_clock::now();
  Verdict v = f.flag(input);
  return {std::move(v), std::chrono::steady_clock::now() - start};
}

void check_fails_closed(const Timed& t, const std::string& error_part) {
  INFO(t.verdict.error);
  CHECK(t.verdict.policy_error);
  CHECK(t.verdict.action == Action::review);
  CHECK(t.verdict.reason == "policy_error");
  CHECK(t.verdict.error.find(error_part) != std::string::npos);
  CHECK(t.took < kGenerous);
}

}  // namespace

TEST_CASE("re-entries into Lua run under the budget and fail closed", "[policy][guards]") {
  Fixture f(kHostile, Limits{100'000, 8u << 20, 10'000});
  for (const char* mode : {"xpcall_handler", "xpcall_error_handler", "xpcall_handler_pcall", "pcall_after_budget",
                           "close", "close_on_error", "load", "index", "sort", "gsub_function", "table_move"}) {
    INFO(mode);
    check_fails_closed(timed_flag(f, {{"mode", mode}}), "instruction budget exceeded");
    CHECK(f.flag({{"mode", "ok"}}).reason.rfind("fine", 0) == 0);  // the engine keeps working
  }
  CHECK(f.engine->error_count("d") == 11);
}

TEST_CASE("an xpcall handler still handles ordinary errors", "[policy][guards]") {
  Fixture f(kHostile, Limits{100'000, 8u << 20, 10'000});
  auto v = f.flag({{"mode", "xpcall_ok"}});
  CHECK_FALSE(v.policy_error);
  CHECK(v.reason == "handled boom");
}

TEST_CASE("finalizers and __len tricks are refused", "[policy][guards]") {
  Fixture f(kHostile, Limits{100'000, 8u << 20, 10'000});
  check_fails_closed(timed_flag(f, {{"mode", "gc"}}), "__gc metamethods are refused");
  check_fails_closed(timed_flag(f, {{"mode", "table_insert_len"}}), "tables with a __len metamethod are refused");
}

TEST_CASE("pathological patterns fail closed fast in find, match, gmatch and gsub", "[policy][guards]") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local s = string.rep("a", 300)
  local bad = ".-.-.-.-b"
  local m = p.input.mode
  if m == "find" then string.find(s, bad)
  elseif m == "match" then s:match(bad)
  elseif m == "gmatch" then for x in s:gmatch(bad) do end
  elseif m == "gsub" then s:gsub(bad, "")
  elseif m == "caught" then for i = 1, 1e9 do pcall(string.find, s, "a-a-b") end
  elseif m == "plain" then string.find(string.rep("a", 1 << 20), string.rep("a", 1 << 19) .. "b", 1, true)
  elseif m == "repeat" then string.find(string.rep("a", 1 << 20), "a*b")
  elseif m == "capture" then string.find(string.rep("a", 1 << 16), "(a*)%1b")
  else
    local words = {}
    for w in ("alpha beta  gamma"):gmatch("%a+") do words[#words + 1] = w end
    return hitl.review(table.concat(words, ",") .. (("x-y-z"):gsub("%-", "+")) .. (("key=v"):match("^(%w+)=") or "?"))
  end
  return hitl.auto()
end })", Limits{1'000'000, 8u << 20, 10'000});
  for (const char* mode : {"find", "match", "gmatch", "gsub", "caught", "plain", "repeat", "capture"}) {
    INFO(mode);
    check_fails_closed(timed_flag(f, {{"mode", mode}}), "pattern too complex");
  }
  auto ok = f.flag({{"mode", "ok"}});  // ordinary patterns work as in stock Lua
  CHECK_FALSE(ok.policy_error);
  CHECK(ok.reason == "alpha,beta,gammax+y+zkey");
}

TEST_CASE("the deadline stops a call whatever the budget", "[policy][guards]") {
  Fixture f(kHostile, Limits{1ull << 50, 8u << 20, 100});
  const auto t = timed_flag(f, {{"mode", "xpcall_handler"}});
  check_fails_closed(t, "deadline exceeded");
  CHECK(t.took >= std::chrono::milliseconds(100));
  CHECK(f.flag({{"mode", "ok"}}).reason == "fine 1");  // a fresh state replaced the stopped one
}

TEST_CASE("a call that comes back from C past its deadline fails all the same", "[policy][guards]") {
  // Far fewer than 1,000 instructions (the hook never fires), but tens of milliseconds in C.
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  if p.input.mode == "slow" then local s = string.rep("x", 24 << 20):upper():lower() end
  return hitl.review("done")
end })", Limits{1ull << 50, 128u << 20, 20});  // loading takes about 1 ms, "slow" about 150
  check_fails_closed(timed_flag(f, {{"mode", "slow"}}), "deadline exceeded");
}

TEST_CASE("interrupt stops a running call and every later one", "[policy][guards]") {
  Fixture f(kHostile, Limits{1ull << 50, 8u << 20, 600'000});
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    f.engine->interrupt();
  });
  const auto t = timed_flag(f, {{"mode", "pcall_after_budget"}});
  stopper.join();
  check_fails_closed(t, "service stopping");
  check_fails_closed(timed_flag(f, {{"mode", "ok"}}), "service stopping");
}

TEST_CASE("a state stopped by a guard is replaced and the next call works", "[policy][guards]") {
  Fixture f(kHostile, Limits{100'000, 8u << 20, 10'000});
  CHECK(f.flag({{"mode", "ok"}}).reason == "fine 1");
  CHECK(f.flag({{"mode", "ok"}}).reason == "fine 2");
  CHECK(f.flag({{"mode", "xpcall_handler"}}).policy_error);
  CHECK(f.flag({{"mode", "ok"}}).reason == "fine 1");  // a new lua_State, not the stopped one
  CHECK(f.flag({{"mode", "ok"}}).reason == "fine 2");
}

TEST_CASE("strings a policy returns must be short valid UTF-8 without NUL", "[policy][guards]") {
  Fixture f(R"(local hitl = require "hitl"
return { flag = function(p)
  local m = p.input.mode
  if m == "sub" then return hitl.review(string.sub("über", 1, 1)) end
  if m == "raw" then return { action = "review", reason = "bad \xff byte" } end
  if m == "nul" then return { action = "reject", reason = "a\0b" } end
  if m == "long" then return hitl.review(string.rep("x", 257)) end
  if m == "pool" then return { action = "review", reason = "r", pool = "\xc3" } end
  if m == "skill" then return { action = "review", reason = "r", skills = { "ok", "\xed\xa0\x80" } } end
  if m == "fine" then return hitl.review(string.rep("ü", 128), { pool = "größe", skills = { "日本" } }) end
end })");
  struct Case { const char* mode; const char* error; };
  for (auto c : {Case{"sub", "reason is not valid UTF-8"}, Case{"raw", "reason is not valid UTF-8"},
                 Case{"nul", "reason contains a control character"}, Case{"long", "reason is 257 bytes long, at most 256"},
                 Case{"pool", "pool is not valid UTF-8"}, Case{"skill", "a skill is not valid UTF-8"}}) {
    INFO(c.mode);
    check_fails_closed(timed_flag(f, {{"mode", c.mode}}), c.error);
  }
  CHECK(f.engine->error_count("d") == 6);
  auto v = f.flag({{"mode", "fine"}});  // 256 bytes of valid UTF-8 is fine
  CHECK_FALSE(v.policy_error);
  CHECK(v.reason.size() == 256);
  CHECK(v.pool == "größe");
  CHECK(v.skills == std::vector<std::string>{"日本"});
}

TEST_CASE("a policy's error text is made valid UTF-8 and cut before it is stored", "[policy][guards]") {
  Fixture f(R"(return { flag = function(p)
  if p.input.mode == "bytes" then error("bad \xff\xc3 end", 0) end
  error(string.rep("é", 2000), 0)
end })");
  CHECK(f.flag({{"mode", "bytes"}}).error == "bad \xEF\xBF\xBD\xEF\xBF\xBD" " end");
  const auto v = f.flag({{"mode", "long"}});
  CHECK(v.policy_error);
  CHECK(v.error.size() == 1024);  // 512 whole "é", never half of one
  CHECK(hitl::valid_utf8(v.error));
}
