// Dataset versions on disk: immutability, lineage, content hashes, time splits and CSV export.
#include "dataset/dataset.hpp"
#include "dataset/marked_gold.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>


namespace fs = std::filesystem;
using hitl::test::TempDir;
using hitl::dataset::Sample;
using hitl::dataset::Split;
using hitl::dataset::Store;

namespace {

Sample sample(const std::string& id, std::int64_t t, const std::string& label, const std::string& model, double conf) {
  Sample s;
  s.decision_id = id;
  s.input = {{"Amount", 1000 + t}, {"Home", "rent, owner"}};
  s.label = label;
  s.model_label = model;
  s.model_confidence = conf;
  s.outcome = label == model ? "approve" : "correct";
  s.reviewers = {"alice"};
  s.tags = {label == model ? "confirmed" : "user-correction"};
  s.weight = 1 / (conf + 0.01);
  s.created_ms = t;
  return s;
}

}  // namespace

TEST_CASE("dataset: snapshots are immutable versions with lineage and counts", "[dataset]") {
  TempDir dir("hitl-dataset");
  Store store(dir.path);
  bool created = false;
  std::vector<Sample> rows{sample("a", 10, "good", "good", 0.7), sample("b", 20, "bad", "good", 0.6)};
  auto v1 = store.snapshot("loans", rows, 100, "hash1", "test", created);
  CHECK(created);
  CHECK(v1.id == "loans-v1");
  CHECK(v1.parent.empty());
  CHECK(v1.rows == 2);
  CHECK(v1.new_rows == 2);
  CHECK(v1.from_ms == 10);
  CHECK(v1.to_ms == 20);
  CHECK(v1.labels == std::map<std::string, std::size_t>{{"bad", 1}, {"good", 1}});
  CHECK(v1.tags == std::map<std::string, std::size_t>{{"confirmed", 1}, {"user-correction", 1}});
  CHECK(v1.content_hash.size() == 64);

  // The same rows again: no new version.
  auto same = store.snapshot("loans", rows, 200, "hash1", "test", created);
  CHECK_FALSE(created);
  CHECK(same.id == "loans-v1");

  rows.push_back(sample("c", 30, "bad", "bad", 0.55));
  auto v2 = store.snapshot("loans", rows, 300, "hash1", "test", created);
  CHECK(created);
  CHECK(v2.id == "loans-v2");
  CHECK(v2.parent == "loans-v1");
  CHECK(v2.rows == 3);
  CHECK(v2.new_rows == 1);
  CHECK(store.list("loans").size() == 2);
  CHECK(store.list("other").empty());
  REQUIRE(store.find("loans-v1"));
  CHECK(store.read(*store.find("loans-v1")).size() == 2);  // the old version is untouched
  auto back = store.read(v2);
  REQUIRE(back.size() == 3);
  CHECK(back[2].decision_id == "c");
  CHECK(back[1].weight == Approx(1 / 0.61));
  CHECK(back[0].input["Home"] == "rent, owner");

  // A samples file altered on disk is refused.
  { std::ofstream(dir.path / "loans" / "loans-v1.jsonl", std::ios::app) << "{}\n"; }
  CHECK_THROWS_WITH(store.read(*store.find("loans-v1")), Catch::Contains("does not match its content hash"));

  // A manifest whose id is not its file's is refused with its path, not a crash in the sort.
  { std::ofstream(dir.path / "loans" / "loans-v3.json") << hitl::dataset::version_json(v2).dump(); }
  CHECK_THROWS_WITH(store.list("loans"), Catch::Contains("loans-v3.json: not a valid manifest"));
}

TEST_CASE("dataset: the holdout is the newest rows and the split never overlaps", "[dataset]") {
  std::vector<Sample> rows;
  for (int i = 9; i >= 0; --i) rows.push_back(sample("s" + std::to_string(i), i * 10, "good", "good", 0.8));
  auto train = Store::split(rows, Split::train, 0.2);
  auto holdout = Store::split(rows, Split::holdout, 0.2);
  REQUIRE(train.size() == 8);
  REQUIRE(holdout.size() == 2);
  for (auto& t : train) CHECK(t.created_ms < holdout.front().created_ms);
  CHECK(holdout.front().decision_id == "s8");
  CHECK(holdout.back().decision_id == "s9");
  CHECK(Store::split(rows, Split::all, 0.2).size() == 10);
  CHECK(Store::split(rows, Split::holdout, 0).empty());
  CHECK_THROWS(Store::split(rows, Split::train, 1.5));
  CHECK_THROWS(hitl::dataset::parse_split("test"));
}

TEST_CASE("dataset: CSV export has the input columns and quotes what needs it", "[dataset]") {
  std::vector<Sample> rows{sample("a", 10, "good", "good", 0.7), sample("b\"x", 20, "bad", "good", 0.6)};
  rows[1].input["Extra"] = 3;
  rows[1].tags.push_back("production-failure");
  std::ostringstream out;
  Store::write_csv(rows, out);
  std::istringstream in(out.str());
  std::string header, first, second;
  std::getline(in, header);
  std::getline(in, first);
  std::getline(in, second);
  CHECK(header == "decision_id,Amount,Extra,Home,label,model_label,model_confidence,outcome,tags,weight,created_ms");
  CHECK(first.rfind("a,1010,,\"rent, owner\",good,good,0.7,approve,confirmed,", 0) == 0);
  CHECK(second.rfind("\"b\"\"x\",1020,3,\"rent, owner\",bad,good,0.6,correct,user-correction;production-failure,", 0) == 0);
}

TEST_CASE("dataset: marked golden cases append once each and a bad line names the file and line", "[dataset]") {
  TempDir dir("hitl-marked");
  hitl::dataset::MarkedGold gold(dir.path);
  CHECK(gold.read("loans").empty());
  hitl::dataset::MarkedCase c;
  c.decision_id = "app-7";
  c.input = {{"Amount", 9000}};
  c.label = "bad";
  c.model_label = "good";
  c.marked_by = "alice";
  CHECK(gold.mark("loans", c));
  CHECK_FALSE(gold.mark("loans", c));  // already marked: nothing written
  c.decision_id = "app-8";
  CHECK(gold.mark("loans", c));
  auto cases = gold.read("loans");
  REQUIRE(cases.size() == 2);
  CHECK(cases[0].decision_id == "app-7");
  CHECK(cases[0].label == "bad");
  CHECK(cases[0].input["Amount"] == 9000);
  CHECK(gold.decision_ids("loans") == std::set<std::string>{"app-7", "app-8"});
  // A bad line is skipped and described; a torn last line does not swallow the next case.
  std::ofstream(gold.file("loans"), std::ios::app) << "{\"decision_id\": \"x\"}\n{\"decision_id\": \"torn";
  c.decision_id = "app-9";
  CHECK(gold.mark("loans", c));
  std::vector<std::string> problems;
  cases = gold.read("loans", &problems);
  REQUIRE(cases.size() == 3);
  CHECK(cases[2].decision_id == "app-9");
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("golden.jsonl:3:") != std::string::npos);
  CHECK(problems[1].find("golden.jsonl:4:") != std::string::npos);
}
