// hitl replay over a stored fixture: a stricter candidate beside the routing the stored decisions
// got, every figure checked against the rules the fixture was built with.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using hitl::test::run_hitl;
using hitl::test::Service;
using nlohmann::json;

namespace {

// The fixture: 1000 loans with confidence 0.5, 0.8, 0.92, 0.97 in turn; every 50th amount negative.
double confidence_of(int i) { return std::array<double, 4>{0.5, 0.8, 0.92, 0.97}[i % 4]; }
bool negative(int i) { return i % 50 == 0; }

const char* kStricter = R"(
local hitl = require "hitl"
return { flag = function(p)
  if (p.input.amount or 0) < 0 then return hitl.reject("negative_amount") end
  if p.prediction.confidence >= 0.95 then return hitl.auto() end
  return hitl.review("strict")
end }
)";

}  // namespace

TEST_CASE("hitl replay of a stricter candidate reports its higher flag rate and the exact routing changes", "[cli]") {
  Service s;
  std::ofstream f(s.dir.path / "fixture.jsonl");
  int auto_now = 0, review_now = 0, reject = 0, auto_to_review = 0;
  for (int i = 0; i < 1000; ++i) {
    const double amount = negative(i) ? -1 : 100 + i;
    f << json{{"id", "r-" + std::to_string(i)}, {"input", {{"amount", amount}}},
              {"prediction", {{"label", "good"}, {"confidence", confidence_of(i)}}}}.dump()
      << "\n";
    if (negative(i)) ++reject;
    else if (confidence_of(i) >= 0.9) ++auto_now, auto_to_review += confidence_of(i) < 0.95;
    else ++review_now;
  }
  f.close();
  REQUIRE(run_hitl("ingest --config " + s.config.string() + " --domain loans " + (s.dir.path / "fixture.jsonl").string()).exit_code == 0);
  const auto candidate = s.dir.write("stricter.lua", kStricter);
  const auto html = s.dir.path / "replay.html";
  auto r = run_hitl("replay --config " + s.config.string() + " --domain loans --policy " + candidate.string() +
                    " --json --html " + html.string());
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out.substr(r.out.find('{')));
  CHECK(j["records"] == 1000);
  CHECK(j["skipped"] == 0);
  CHECK(j["current"]["review"] == review_now);
  CHECK(j["current"]["reject"] == reject);
  CHECK(j["candidate"]["review"] == review_now + auto_to_review);
  CHECK(j["candidate"]["reject"] == reject);
  CHECK(j["current"]["flag_rate"].get<double>() == Approx((review_now + reject) / 1000.0));
  CHECK(j["candidate"]["flag_rate"].get<double>() == Approx((review_now + reject + auto_to_review) / 1000.0));
  CHECK(j["candidate"]["flag_rate"].get<double>() > j["current"]["flag_rate"].get<double>());
  CHECK(j["current"]["reasons"] == json{{"low_confidence", review_now}, {"negative_amount", reject}});
  CHECK(j["candidate"]["reasons"] == json{{"strict", review_now + auto_to_review}, {"negative_amount", reject}});
  REQUIRE(j["routing_changes"].size() == 1);
  CHECK(j["routing_changes"][0]["from"] == "auto");
  CHECK(j["routing_changes"][0]["to"] == "review");
  CHECK(j["routing_changes"][0]["count"] == auto_to_review);
  // Examples are the first changed records in stored order ((created_ms, id)): each is one of them.
  CHECK(j["routing_changes"][0]["examples"].size() == 5);
  for (const auto& id : j["routing_changes"][0]["examples"]) {
    const int i = std::stoi(id.get<std::string>().substr(2));
    CHECK((i % 4 == 2 && !negative(i)));
  }
  CHECK(auto_now > auto_to_review);
  std::ifstream page(html);
  const std::string text((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  CHECK(text.find("<svg") != std::string::npos);
  // The same records from the file, against the configured policy instead of the recorded routing.
  auto from_file = run_hitl("replay --config " + s.config.string() + " --domain loans --policy " + candidate.string() +
                            " --json --data " + (s.dir.path / "fixture.jsonl").string());
  REQUIRE(from_file.exit_code == 0);
  const json k = json::parse(from_file.out.substr(from_file.out.find('{')));
  CHECK(k["current"] == j["current"]);
  CHECK(k["candidate"] == j["candidate"]);
  CHECK(k["routing_changes"][0]["count"] == auto_to_review);
  CHECK(k["routing_changes"][0]["examples"][0] == "r-2");  // file order
  // A broken candidate is refused before anything runs.
  auto broken = run_hitl("replay --config " + s.config.string() + " --domain loans --policy " +
                         s.dir.write("broken.lua", "return {").string());
  CHECK(broken.exit_code == 2);
}
