// Replay (replay/replay.hpp): a stricter candidate beside a current policy over known records,
// checked number by number, and the HTML page escaping what the data holds.
#include "replay/replay.hpp"

#include "common/hash.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace hitl::replay;
using nlohmann::json;

namespace {

const fs::path kLib = fs::path(HITL_SOURCE_DIR) / "scripts" / "lib";

// Review when p(bad) lies in [lo, hi].
std::string band_policy(double lo, double hi) {
  return "local hitl = require 'hitl'\nreturn { flag = function(p)\n"
         "  if hitl.between(p.prediction.scores.bad, " + std::to_string(lo) + ", " + std::to_string(hi) +
         ") then return hitl.review('uncertain') end\n"
         "  if p.input.amount > 5000 then return hitl.reject('too_large') end\n"
         "  return hitl.auto() end }\n";
}

struct Engines {
  fs::path dir = fs::temp_directory_path() / ("hitl-replay-" + hitl::random_hex(8));
  std::unique_ptr<hitl::policy::PolicyEngine> current, candidate;
  Engines() {
    fs::create_directories(dir);
    std::ofstream(dir / "current.lua") << band_policy(0.4, 0.6);
    std::ofstream(dir / "candidate.lua") << band_policy(0.2, 0.8);
    current = std::make_unique<hitl::policy::PolicyEngine>(std::vector<hitl::policy::DomainPolicy>{{"d", dir / "current.lua"}}, kLib);
    candidate = std::make_unique<hitl::policy::PolicyEngine>(std::vector<hitl::policy::DomainPolicy>{{"d", dir / "candidate.lua"}}, kLib);
  }
  ~Engines() { fs::remove_all(dir); }
};

Record record(const std::string& id, double p_bad, double amount, const std::string& age, std::optional<std::string> truth) {
  Record r;
  r.id = id;
  r.input = {{"amount", amount}, {"age", age}};
  r.meta = json::object();
  r.prediction.label = p_bad >= 0.5 ? "bad" : "good";
  r.prediction.confidence = p_bad >= 0.5 ? p_bad : 1 - p_bad;
  r.prediction.scores = {{"good", 1 - p_bad}, {"bad", p_bad}};
  r.truth = std::move(truth);
  return r;
}

}  // namespace

TEST_CASE("a stricter candidate flags more, and each routing change is counted with examples") {
  Engines e;
  Replay rp(*e.candidate, e.current.get(), "d", hitl::report::GroupSpec{"age", {}});
  rp.add(record("a", 0.05, 100, "young", "good"));   // auto / auto, model right
  rp.add(record("b", 0.30, 100, "young", "bad"));    // auto -> review, model wrong: missed -> caught
  rp.add(record("c", 0.70, 100, "old", "good"));     // auto -> review, model wrong: missed -> caught
  rp.add(record("d", 0.50, 100, "old", std::nullopt));  // review / review
  rp.add(record("e", 0.10, 9000, "old", "good"));    // reject / reject
  rp.add(record("f", 0.25, 100, "young", "good"));   // auto -> review, model right
  rp.set_handle_seconds(90.0);
  const json j = to_json(rp.report());
  INFO(j.dump(2));
  CHECK(j["records"] == 6);
  CHECK(j["current"]["review"] == 1);
  CHECK(j["current"]["reject"] == 1);
  CHECK(j["candidate"]["review"] == 4);
  CHECK(j["candidate"]["flag_rate"].get<double>() == Approx(5.0 / 6));
  CHECK(j["current"]["flag_rate"].get<double>() == Approx(2.0 / 6));
  CHECK(j["current"]["reasons"] == json{{"uncertain", 1}, {"too_large", 1}});
  CHECK(j["candidate"]["reasons"] == json{{"uncertain", 4}, {"too_large", 1}});
  CHECK(j["current"]["with_truth"] == 5);
  CHECK(j["current"]["model_errors"] == 2);
  CHECK(j["current"]["errors_missed"] == 2);
  CHECK(j["current"]["errors_caught"] == 0);
  CHECK(j["candidate"]["errors_missed"] == 0);
  CHECK(j["candidate"]["errors_caught"] == 2);
  CHECK(j["current"]["reviewer_hours"].get<double>() == Approx(90.0 / 3600));
  CHECK(j["candidate"]["reviewer_hours"].get<double>() == Approx(4 * 90.0 / 3600));
  REQUIRE(j["routing_changes"].size() == 1);
  CHECK(j["routing_changes"][0] == json{{"from", "auto"}, {"to", "review"}, {"count", 3}, {"examples", {"b", "c", "f"}}});
  REQUIRE(j["groups"].size() == 2);
  CHECK(j["groups"][0]["group"] == "old");
  CHECK(j["groups"][0]["current"]["flag_rate"].get<double>() == Approx(2.0 / 3));
  CHECK(j["groups"][0]["candidate"]["flag_rate"].get<double>() == Approx(1.0));
  CHECK(j["groups"][1]["candidate"]["review"] == 2);
}

TEST_CASE("without a current policy each record's recorded routing is the baseline") {
  Engines e;
  Replay rp(*e.candidate, nullptr, "d", {});
  auto r = record("a", 0.3, 100, "x", std::nullopt);
  r.recorded = Routing{Route::reject, "manual"};
  rp.add(r);
  const json j = to_json(rp.report());
  CHECK(j["current"]["reject"] == 1);
  CHECK(j["current"]["reasons"] == json{{"manual", 1}});
  CHECK(j["routing_changes"][0]["from"] == "reject");
  CHECK(j["routing_changes"][0]["to"] == "review");
  CHECK(j["current"]["reviewer_hours"].is_null());  // no measured handle time
}

TEST_CASE("the HTML page shows ids and group values from the data as text") {
  Engines e;
  Replay rp(*e.candidate, e.current.get(), "d", hitl::report::GroupSpec{"age", {}});
  rp.add(record("<script>alert(1)</script>", 0.3, 100, "<img src=x onerror=alert(1)>", "good"));
  const std::string html = to_html(rp.report());
  CHECK(html.find("<script>alert") == std::string::npos);
  CHECK(html.find("<img src=x") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("http") == std::string::npos);  // no network: nothing to fetch
}

TEST_CASE("records from a file need an input and a prediction with a label") {
  CHECK(record_of_line(json::parse(R"({"id":"x","input":{"a":1},"prediction":{"label":"good","confidence":0.7},"truth":"bad"})")).truth == "bad");
  CHECK_THROWS(record_of_line(json::parse(R"({"id":"x","prediction":{"label":"good"}})")));
  CHECK_THROWS(record_of_line(json::parse(R"({"id":"x","input":{},"prediction":{"confidence":0.7}})")));
  CHECK_THROWS(record_of_line(json::parse(R"([1,2])")));
}

TEST_CASE("difference kinds: a route change, else a reason, else a review's priority") {
  const auto& kinds = difference_kinds();
  CHECK(kinds == std::vector<std::string>{"auto->review", "auto->reject", "review->auto", "review->reject", "reject->auto",
                                          "reject->review", "reason_changed", "priority_changed"});
  auto kind = [&](const Answer& a, const Answer& b) {
    const auto k = difference_of(a, b);
    return k ? kinds.at(*k) : std::string("none");
  };
  const Answer automatic{{Route::automatic, ""}, std::nullopt};
  const Answer review{{Route::review, "low"}, 0.2};
  const Answer reject{{Route::reject, "bad"}, std::nullopt};
  CHECK(kind(automatic, automatic) == "none");
  CHECK(kind(automatic, review) == "auto->review");
  CHECK(kind(review, automatic) == "review->auto");
  CHECK(kind(reject, review) == "reject->review");
  CHECK(kind(review, reject) == "review->reject");
  CHECK(kind(review, Answer{{Route::review, "other"}, 0.9}) == "reason_changed");
  CHECK(kind(review, Answer{{Route::review, "low"}, 0.9}) == "priority_changed");
  CHECK(kind(review, Answer{{Route::review, "low"}, 0.2}) == "none");
  CHECK(kind(review, Answer{{Route::review, "low"}, std::nullopt}) == "none");  // not asked: not compared
  CHECK(kind(reject, Answer{{Route::reject, "worse"}, std::nullopt}) == "reason_changed");
  hitl::policy::Verdict judged;
  judged.judge = true;
  judged.reason = "ask";
  CHECK(routing_of(judged).route == Route::review);
}
