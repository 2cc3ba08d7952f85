// Flagging signals in the policy engine: hitl.now() on the service clock, hitl.stats() over a
// SignalSource, p.predictions with hitl.disagreement / hitl.mean_scores, and p.ood. Results come
// back encoded in the verdict's reason; failures must fail closed (review, policy_error).
#include "common/clock.hpp"
#include "support/temp_dir.hpp"
#include "policy/policy_engine.hpp"

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

namespace {
const fs::path kLib = fs::path(HITL_SOURCE_DIR) / "scripts" / "lib";


// A SignalSource answering fixed figures; records what it was asked.
struct FakeSource final : SignalSource {
  WindowFigures figures;
  bool has_segments = true;
  mutable std::atomic<int> calls{0};
  mutable std::string last_segment = "(none)";
  mutable std::int64_t last_window = 0;
  StatsStatus window(const std::string& domain, const std::string* segment, std::int64_t window_seconds, std::int64_t,
                     WindowFigures& out) const noexcept override {
    ++calls;
    if (domain != "d") return StatsStatus::unknown_domain;
    if (window_seconds < 1 || window_seconds > 3600) return StatsStatus::bad_window;
    if (segment && !has_segments) return StatsStatus::no_segment_field;
    last_segment = segment ? *segment : "(none)";
    last_window = window_seconds;
    out = figures;
    out.window_seconds = window_seconds;
    return StatsStatus::ok;
  }
  std::int64_t max_window_seconds() const noexcept override { return 3600; }
};

struct Fixture {
  hitl::test::TempDir dir{"hitl-signals-test"};
  std::string domain = "d";
  std::unique_ptr<PolicyEngine> engine;
  explicit Fixture(const std::string& body) {
    const fs::path file = dir.path / "policy.lua";
    std::ofstream(file) << "local hitl = require \"hitl\"\nreturn { flag = function(p)\n" << body << "\nend }\n";
    engine = std::make_unique<PolicyEngine>(std::vector<DomainPolicy>{{domain, file}}, kLib);
  }
  Verdict flag(const FlagInput& extra = {}, const json& input = json::object()) {
    static const PredictionView pred{"good", 0.8, {{"good", 0.8}, {"bad", 0.2}}};
    json meta = json::object();
    FlagInput in = extra;
    in.domain = &domain;
    in.input = &input;
    in.meta = &meta;
    if (!in.prediction) in.prediction = &pred;
    return engine->flag(domain, in);
  }
};

struct ClockOffset {  // moves the service clock for one test
  explicit ClockOffset(std::int64_t to_ms) { hitl::set_clock_offset_ms(to_ms - (hitl::now_ms() - hitl::clock_offset_ms())); }
  ~ClockOffset() { hitl::set_clock_offset_ms(0); }
};
}  // namespace

TEST_CASE("hitl.now follows the service clock in UTC and with an offset") {
  Fixture f(R"(local n = hitl.now()
local k = hitl.now(5.5)
return hitl.review(string.format("%d_%d_%d_%s_%d_%d_%d", n.hour, n.minute, n.weekday, tostring(n.ms > 4102444800000),
  k.hour, k.minute, k.weekday)))");
  ClockOffset at(4102545600000 + 17 * 60 * 1000);  // 2100-01-02T04:17:00Z, a Saturday
  auto v = f.flag();
  REQUIRE_FALSE(v.policy_error);
  // UTC: 04:17 Saturday (6); UTC+5:30: 09:47 Saturday.
  CHECK(v.reason == "4_17_6_true_9_47_6");
}

TEST_CASE("hitl.now wraps the weekday across midnight and refuses a bad offset") {
  Fixture f(R"(if p.input.bad then return hitl.review(tostring(hitl.now(20).hour)) end
local n = hitl.now(-5)
return hitl.review(n.hour .. "_" .. n.weekday))");
  ClockOffset at(4102444800000 + 2 * 3600 * 1000);  // 2100-01-01T02:00:00Z, a Friday
  CHECK(f.flag().reason == "21_4");                 // 21:00 on Thursday at UTC-5
  auto bad = f.flag({}, {{"bad", true}});
  CHECK(bad.policy_error);
  CHECK(bad.reason == "policy_error");
  CHECK(bad.error.find("hitl.now: utc_offset_hours must be a number in [-14, 14], got 20") != std::string::npos);
}

TEST_CASE("hitl.stats returns the source figures with rates and passes the segment") {
  FakeSource src;
  src.figures.predictions = 40;
  src.figures.flagged = 10;
  src.figures.rejected = 2;
  src.figures.errors = 4;
  src.figures.reviews = 7;
  src.figures.open_tasks = 12;
  Fixture f(R"(local s = hitl.stats(600, p.input.region)
return hitl.review(string.format("%d_%d_%d_%d_%d_%d_%.2f_%.2f_%.2f_%s", s.window, s.predictions, s.flagged, s.errors,
  s.reviews, s.open_tasks, s.flag_rate, s.error_rate, s.reject_rate, tostring(s.segment))))");
  f.engine->set_signals(&src);
  auto v = f.flag({}, {{"region", "eu"}});
  REQUIRE_FALSE(v.policy_error);
  CHECK(v.reason == "600_40_10_4_7_12_0.25_0.10_0.05_eu");
  CHECK(src.last_segment == "eu");
  CHECK(f.flag({}, json::object()).reason == "600_40_10_4_7_12_0.25_0.10_0.05_nil");
  CHECK(src.last_segment == "(none)");
  f.flag({}, {{"region", 3}});
  CHECK(src.last_segment == "3");  // numbers are formatted as the service formats segment values
  f.flag({}, {{"region", true}});
  CHECK(src.last_segment == "true");
}

TEST_CASE("hitl.stats with no predictions gives zero rates and a fractional window rounds up") {
  FakeSource src;
  Fixture f(R"(local s = hitl.stats(59.2)
return hitl.review(s.window .. "_" .. s.flag_rate .. "_" .. s.error_rate))");
  f.engine->set_signals(&src);
  CHECK(f.flag().reason == "60_0.0_0.0");
}

TEST_CASE("hitl.stats failures fail closed with a clear error") {
  FakeSource src;
  src.has_segments = false;
  Fixture f(R"(if p.input.case == "window" then hitl.stats(7200) end
if p.input.case == "type" then hitl.stats("600") end
if p.input.case == "segment" then hitl.stats(60, "eu") end
if p.input.case == "segtype" then hitl.stats(60, {}) end
return hitl.auto())");
  // No source at all (hitl policy check, tools without a service).
  auto none = f.flag({}, {{"case", "window"}});
  CHECK(none.policy_error);
  CHECK(none.error.find("hitl.stats: no rolling statistics in this process") != std::string::npos);
  f.engine->set_signals(&src);
  auto w = f.flag({}, {{"case", "window"}});
  CHECK(w.action == Action::review);
  CHECK(w.reason == "policy_error");
  CHECK(w.error.find("policy.lua:3: hitl.stats: window must be a number of seconds in [1, 3600], got 7200") !=
        std::string::npos);
  CHECK(f.flag({}, {{"case", "type"}}).error.find("hitl.stats: window_seconds must be a number, got string") != std::string::npos);
  CHECK(f.flag({}, {{"case", "segment"}}).error.find("has no stats_segment in the service config") != std::string::npos);
  CHECK(f.flag({}, {{"case", "segtype"}}).error.find("hitl.stats: segment must be a string") != std::string::npos);
  CHECK(f.flag({}, {{"case", "ok"}}).action == Action::auto_approve);
  CHECK(f.engine->error_count("d") == 5);
}

TEST_CASE("hitl.stats is safe from several threads") {
  FakeSource src;
  src.figures.predictions = 10;
  src.figures.flagged = 5;
  Fixture f(R"(local s = hitl.stats(60)
if s.flag_rate > 0.4 then return hitl.review("busy") end
return hitl.auto())");
  f.engine->set_signals(&src);
  std::atomic<int> busy{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        if (f.flag().reason == "busy") ++busy;
    });
  for (auto& t : threads) t.join();
  CHECK(busy == 800);
  CHECK(src.calls == 800);
}

TEST_CASE("p.predictions lists every model with name and version and p.prediction stays the primary") {
  Fixture f(R"(local ps = p.predictions
local parts = {}
for i, x in ipairs(ps) do parts[#parts + 1] = x.model .. "@" .. x.version .. ":" .. x.label .. ":" .. x.scores[x.label] end
local share, majority = hitl.disagreement(ps)
local mean = hitl.mean_scores(ps)
return hitl.review(table.concat(parts, ",") .. "|" .. p.prediction.label .. "|" ..
  string.format("%.3f_%s_%.3f_%.3f", share, majority, mean.good, mean.bad)))");
  std::vector<PredictionView> all = {{"good", 0.9, {{"good", 0.9}, {"bad", 0.1}}, "m1", "v1"},
                                     {"bad", 0.6, {{"good", 0.4}, {"bad", 0.6}}, "m2", "v7"},
                                     {"good", 0.7, {{"good", 0.7}, {"bad", 0.3}}, "m3", "v2"}};
  FlagInput in;
  in.prediction = &all[0];
  in.predictions = &all;
  auto v = f.flag(in);
  REQUIRE_FALSE(v.policy_error);
  CHECK(v.reason == "m1@v1:good:0.9,m2@v7:bad:0.6,m3@v2:good:0.7|good|0.333_good_0.667_0.333");
}

TEST_CASE("without an ensemble p.predictions holds the one prediction") {
  Fixture f(R"(return hitl.review(#p.predictions .. "_" .. p.predictions[1].label .. "_" .. tostring(p.ood)))");
  CHECK(f.flag().reason == "1_good_nil");
}

TEST_CASE("hitl.disagreement and hitl.mean_scores handle ties empty lists and bad input") {
  Fixture f(R"(local c = p.input.case
if c == "tie" then
  local s, m = hitl.disagreement({ {label = "b"}, {label = "a"} })
  return hitl.review(s .. "_" .. m)
elseif c == "empty" then
  local s, m = hitl.disagreement({})
  return hitl.review(s .. "_" .. tostring(m) .. "_" .. tostring(next(hitl.mean_scores({}))))
elseif c == "noscores" then
  local m = hitl.mean_scores({ {label = "a", confidence = 0.8}, {label = "b", confidence = 0.6, scores = {}} })
  return hitl.review(string.format("%.2f_%.2f", m.a, m.b))
elseif c == "bad" then
  hitl.disagreement({ {label = "a"}, "b" })
end
hitl.mean_scores(nil))");
  CHECK(f.flag({}, {{"case", "tie"}}).reason == "0.5_a");
  CHECK(f.flag({}, {{"case", "empty"}}).reason == "0_nil_nil");
  CHECK(f.flag({}, {{"case", "noscores"}}).reason == "0.40_0.30");
  CHECK(f.flag({}, {{"case", "bad"}}).error.find("hitl.disagreement: predictions[2] must be a prediction with a label, got string") !=
        std::string::npos);
  CHECK(f.flag({}, {{"case", "nil"}}).error.find("hitl.mean_scores: predictions must be an array") != std::string::npos);
}

TEST_CASE("p.ood carries the score and the furthest features") {
  Fixture f(R"(local o = p.ood
return hitl.review(string.format("%.1f_%d_%s_%.1f_%s_%.1f", o.score, #o.furthest, o.furthest[1].feature, o.furthest[1].z,
  o.furthest[2].feature, o.furthest[2].z)))");
  OodView ood{12.5, {{"Income", 12.5}, {"Home", 4.2}}};
  FlagInput in;
  in.ood = &ood;
  CHECK(f.flag(in).reason == "12.5_2_Income_12.5_Home_4.2");
}

TEST_CASE("p.ood is built at its first read, from the record's own figures, and is then a field of p") {
  // rawget sees no ood before the first read and the same table after it; a p kept by the
  // policy still reads its own record's figures when a later record's flag runs.
  Fixture f(R"(before = before or {}
local raw_before = rawget(p, "ood")
local o = p.ood
local again = p.ood
table.insert(before, p)
local first = before[1].ood
return hitl.review(string.format("%s_%s_%s_%.1f_%d_%.1f_%s", tostring(raw_before), tostring(rawget(p, "ood") == o),
  tostring(again == o), o.score, #o.furthest, first.score, tostring(p.nothing))))");
  OodView ood{12.5, {{"Income", 12.5}, {"Home", 4.2}}};
  FlagInput in;
  in.ood = &ood;
  CHECK(f.flag(in).reason == "nil_true_true_12.5_2_12.5_nil");
  OodView later{3.0, {}};
  in.ood = &later;
  CHECK(f.flag(in).reason == "nil_true_true_3.0_0_12.5_nil");
}

TEST_CASE("flag may hand a case to the judge step and judge decides") {
  hitl::test::TempDir dir{"hitl-signals-test"};
  const fs::path file = dir.path / "policy.lua";
  std::ofstream(file) << R"(local hitl = require "hitl"
return {
  flag = function(p) return hitl.judge("needs_a_look") end,
  judge = function(p, verdict)
    if p.input.case == "error" then error("judge broke") end
    if p.input.case == "again" then return hitl.judge("loop") end
    if p.input.case == "number" then return 3 end
    if verdict.label == "spam" and verdict.confidence > 0.9 then return hitl.reject("spam_" .. verdict.model) end
    if verdict.label == "ham" then return hitl.auto() end
    return hitl.review(verdict.reason .. "_" .. verdict.version .. "_" .. p.prediction.label)
  end,
})";
  PolicyEngine engine({{"d", file}}, kLib);
  const std::string d = "d";
  const PredictionView pred{"good", 0.8, {{"good", 0.8}}};
  auto run = [&](const std::string& c, const std::string& label, double conf) {
    json input = {{"case", c}}, meta = json::object();
    FlagInput in{&d, &input, &meta, &pred};
    Verdict v = engine.flag(d, in);
    REQUIRE(v.judge);
    REQUIRE(v.action == Action::review);  // a caller without a judge step fails closed
    JudgeView jv{PredictionView{label, conf, {{label, conf}}, "llm", "llm-3"}, v.reason};
    return engine.judge(d, in, jv);
  };
  CHECK(engine.has_judge("d"));
  CHECK(run("ok", "ham", 0.7).action == Action::auto_approve);
  auto spam = run("ok", "spam", 0.95);
  CHECK(spam.action == Action::reject);
  CHECK(spam.reason == "spam_llm");
  auto unsure = run("ok", "spam", 0.6);
  CHECK(unsure.action == Action::review);
  CHECK(unsure.reason == "needs_a_look_llm-3_good");
  CHECK(engine.error_count("d") == 0);
  for (const char* bad : {"error", "again", "number"}) {
    INFO(bad);
    auto v = run(bad, "ham", 0.9);
    CHECK(v.action == Action::review);
    CHECK(v.reason == "judge_error");
    CHECK(v.policy_error);
  }
  CHECK(run("again", "ham", 0.9).error.find("judge returned a judge verdict") != std::string::npos);
  CHECK(run("number", "ham", 0.9).error.find("judge returned number instead of a verdict") != std::string::npos);
  CHECK(engine.error_count("d") == 5);
}

TEST_CASE("a judge verdict without a judge hook fails closed and judge must be a function") {
  Fixture f(R"(return hitl.judge("look"))");
  auto v = f.flag();
  CHECK(v.judge);
  CHECK(v.reason == "look");
  CHECK_FALSE(f.engine->has_judge("d"));
  json input = json::object(), meta = json::object();
  const PredictionView pred{"good", 0.8, {}};
  FlagInput in{&f.domain, &input, &meta, &pred};
  auto j = f.engine->judge("d", in, JudgeView{pred, "look"});
  CHECK(j.reason == "judge_error");
  CHECK(j.error.find("the policy has no judge(p, verdict) hook") != std::string::npos);
  hitl::test::TempDir dir{"hitl-signals-test"};
  const fs::path file = dir.path / "bad.lua";
  std::ofstream(file) << "return { flag = function(p) end, judge = 5 }";
  CHECK_THROWS_WITH(PolicyEngine({{"d", file}}, kLib), Catch::Contains("judge must be a function when present, got number"));
  Fixture e(R"(return hitl.judge(""))");
  CHECK(e.flag().error.find("hitl.judge: reason must be a non-empty string") != std::string::npos);
}
