// The model registry on disk: versions with lineage, atomic promotion, rollback, history.
#include "registry/registry.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>


namespace fs = std::filesystem;
using hitl::test::TempDir;
using hitl::registry::ModelVersion;
using hitl::registry::Registry;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ModelVersion version(const std::string& dataset) {
  ModelVersion v;
  v.domain = "loans";
  v.model = "lr";
  v.plugin = "logreg";
  v.plugin_version = "logreg-1";
  v.dataset = dataset;
  v.split = "train";
  v.trigger = "test";
  v.created_ms = 5;
  return v;
}

}  // namespace

TEST_CASE("registry: versions record lineage and promotion swaps the artifact atomically", "[registry]") {
  TempDir dir("hitl-registry");
  Registry reg(dir.path / "registry");
  const fs::path artifact = dir.path / "model" / "live.json";
  auto m1 = reg.add(version("loans-v1"), "{\"w\":1}");
  auto m2 = reg.add(version("loans-v2"), "{\"w\":2}");
  CHECK(m1.id == "loans-m1");
  CHECK(m2.id == "loans-m2");
  CHECK(m1.artifact_sha256.size() == 64);
  REQUIRE(reg.list("loans").size() == 2);
  CHECK(reg.list("loans")[1].dataset == "loans-v2");
  CHECK(reg.live("loans").id.empty());

  auto l1 = reg.promote("loans", "loans-m1", artifact, 10, "alice", "first");
  CHECK(l1.id == "loans-m1");
  CHECK(l1.previous.empty());
  CHECK(slurp(artifact) == "{\"w\":1}");
  auto l2 = reg.promote("loans", "loans-m2", artifact, 20, "alice", "better auc");
  CHECK(l2.previous == "loans-m1");
  CHECK(slurp(artifact) == "{\"w\":2}");
  CHECK(reg.live("loans").id == "loans-m2");
  CHECK_THROWS_WITH(reg.promote("loans", "loans-m2", artifact, 21, "alice", ""), Catch::Contains("already live"));
  CHECK_THROWS_WITH(reg.promote("loans", "loans-m9", artifact, 21, "alice", ""), Catch::Contains("no model version"));

  auto back = reg.rollback("loans", artifact, 30, "bob", "");
  CHECK(back.id == "loans-m1");
  CHECK(back.reason == "rollback from loans-m2");
  CHECK(slurp(artifact) == "{\"w\":1}");
  auto h = reg.history("loans");
  REQUIRE(h.size() == 3);
  CHECK(h[2]["by"] == "bob");
  CHECK(h[2]["previous"] == "loans-m2");

  // An artifact altered in the registry is never promoted.
  { std::ofstream(dir.path / "registry" / "loans" / "loans-m2.artifact") << "{\"w\":666}"; }
  CHECK_THROWS_WITH(reg.promote("loans", "loans-m2", artifact, 40, "eve", ""), Catch::Contains("altered on disk"));
  CHECK(slurp(artifact) == "{\"w\":1}");
}

TEST_CASE("registry: a rollback needs an earlier promotion", "[registry]") {
  TempDir dir("hitl-registry");
  Registry reg(dir.path);
  CHECK_THROWS_WITH(reg.rollback("loans", dir.path / "a.json", 1, "x", ""), Catch::Contains("no promoted model"));
  reg.add(version("loans-v1"), "{}");
  reg.promote("loans", "loans-m1", dir.path / "a.json", 2, "x", "");  // no configured file: nothing kept
  CHECK_THROWS_WITH(reg.rollback("loans", dir.path / "a.json", 3, "x", ""), Catch::Contains("no earlier version"));
}

TEST_CASE("registry: the first promotion keeps the configured artifact as m0 to roll back to", "[registry]") {
  TempDir dir("hitl-registry");
  Registry reg(dir.path / "registry");
  const fs::path artifact = dir.path / "live.json";
  { std::ofstream(artifact) << "{\"configured\":true}"; }
  reg.add(version("loans-v1"), "{\"w\":1}");
  auto live = reg.promote("loans", "loans-m1", artifact, 10, "hitl", "auto");
  CHECK(live.previous == "loans-m0");
  auto m0 = reg.find("loans", "loans-m0");
  REQUIRE(m0);
  CHECK(m0->trigger.find("configured artifact") != std::string::npos);
  CHECK(reg.list("loans").front().id == "loans-m0");
  CHECK(reg.add(version("loans-v2"), "{\"w\":2}").id == "loans-m2");  // numbering goes on after m1
  auto back = reg.rollback("loans", artifact, 20, "ops", "");
  CHECK(back.id == "loans-m0");
  CHECK(slurp(artifact) == "{\"configured\":true}");
  reg.promote("loans", "loans-m2", artifact, 30, "hitl", "");
  CHECK(reg.list("loans").size() == 3);  // m0 is kept once
}

TEST_CASE("registry: m0 carries the configured artifact's version and sorts oldest first by time too", "[registry]") {
  TempDir dir("hitl-registry");
  const fs::path artifact = dir.path / "live.json";
  { std::ofstream(artifact) << "{\"configured\":true}"; }
  fs::path asked;
  Registry reg(dir.path / "registry", [&](const fs::path& p) {
    asked = p;
    return std::string("logreg-configured");
  });
  reg.add(version("loans-v1"), "{\"w\":1}");  // created_ms 5: older than the file's time
  const std::int64_t promoted_at = 2'000'000'000'000;
  reg.promote("loans", "loans-m1", artifact, promoted_at, "hitl", "auto");
  auto versions = reg.list("loans");
  REQUIRE(versions.size() == 2);
  CHECK(versions[0].id == "loans-m0");
  CHECK(versions[0].plugin_version == "logreg-configured");  // what decisions before the promotion carry
  CHECK(asked == artifact);                                   // read before the promotion replaced it
  CHECK(versions[0].created_ms <= versions[1].created_ms);
  CHECK(versions[0].created_ms < promoted_at);
}
