// The base holdout is judged on only for models recorded as never having trained on it: `hitl
// train` and retraining leave its rows out and say so in the model's training statistics; a model
// of unknown lineage (a configured artifact trained elsewhere) may have memorised them, so the
// paired test leaves the base holdout out and the evaluation says why.
#include "cut_models.hpp"

#include "data/records.hpp"

#include <catch2/catch.hpp>

using hitl::test::cut_model;
using hitl::test::CutFixture;
using hitl::test::traffic;

namespace {

// A base file of `n` rows (amount = 0..n-1, every third one bad) and a domain using it.
hitl::config::DomainConfig base_domain(const fs::path& csv, int n) {
  std::ofstream out(csv);
  out << "amount,Status\n";
  for (int i = 0; i < n; ++i) out << i << "," << (i % 3 ? "good" : "bad") << "\n";
  out.close();
  hitl::config::DomainConfig d;
  d.labels = {"good", "bad"};
  d.retrain_base_data = csv;
  d.retrain_base_label = "Status";
  d.retrain_base_holdout_fraction = 0.2;
  return d;
}

hitl::sdk::Dataset read(const fs::path& csv) { return hitl::data::to_dataset(hitl::data::read_csv(csv), "Status"); }

}  // namespace

TEST_CASE("training on the base file leaves out exactly its holdout rows, and records it", "[learning]") {
  hitl::test::TempDir dir("holdout-lineage");
  const auto d = base_domain(dir.path / "base.csv", 500);
  const auto base = hitl::learning::read_base_data(d);
  const auto kept = hitl::learning::without_base_holdout(d, read(d.retrain_base_data));
  CHECK(kept.data.rows.size() == base.train.rows.size());
  REQUIRE(kept.left_out);
  CHECK(kept.left_out->rows == base.holdout.size());
  CHECK(kept.left_out->fraction == 0.2);
  CHECK(kept.left_out->file == "base.csv");
  for (std::size_t i = 0; i < kept.data.rows.size(); ++i)
    REQUIRE_FALSE(hitl::learning::in_base_holdout(kept.data.rows[i], kept.data.labels[i], 0.2));
}

TEST_CASE("training on another file leaves out only the base holdout rows it shares", "[learning]") {
  hitl::test::TempDir dir("holdout-lineage-other");
  const auto d = base_domain(dir.path / "base.csv", 300);
  const auto holdout = hitl::learning::read_base_data(d).holdout;
  REQUIRE(holdout.size() > 20);
  // The other file: the base file's rows, relabelled, so no row is a base row any more, plus two
  // genuine holdout rows.
  const auto other = dir.path / "other.csv";
  {
    std::ofstream out(other);
    out << "amount,Status\n";
    for (int i = 0; i < 300; ++i) out << i << "," << (i % 3 ? "bad" : "good") << "\n";
    for (int k = 0; k < 2; ++k) out << holdout[k].input["amount"].get<double>() << "," << holdout[k].label << "\n";
  }
  const auto kept = hitl::learning::without_base_holdout(d, read(other));
  CHECK(kept.data.rows.size() == 300);
  REQUIRE(kept.left_out);
  CHECK(kept.left_out->rows == 2);
  // Without base data nothing is left out and nothing recorded.
  hitl::config::DomainConfig none;
  none.labels = d.labels;
  const auto all = hitl::learning::without_base_holdout(none, read(other));
  CHECK(all.data.rows.size() == 302);
  CHECK_FALSE(all.left_out);
}

TEST_CASE("a model's record of the left-out holdout is trusted only for its own artifact and share", "[learning]") {
  hitl::test::TempDir dir("holdout-record");
  hitl::config::DomainConfig d;
  d.retrain_base_holdout_fraction = 0.2;
  using hitl::learning::base_holdout_possibly_seen;
  CHECK(base_holdout_possibly_seen(cut_model(dir.path, "clean", 0.5, 0.2), d).empty());
  CHECK(base_holdout_possibly_seen(cut_model(dir.path, "unknown", 0.5, 0), d).find("unknown lineage") !=
        std::string::npos);
  CHECK(base_holdout_possibly_seen(cut_model(dir.path, "smaller", 0.5, 0.1), d).find("smaller than the 0.2") !=
        std::string::npos);
  // The artifact replaced without its statistics (the record names the old one).
  const auto swapped = cut_model(dir.path, "swapped", 0.5, 0.2);
  std::ofstream(swapped, std::ios::app) << " ";
  CHECK(base_holdout_possibly_seen(swapped, d).find("does not name this artifact") != std::string::npos);
  // A larger share left out covers a smaller holdout.
  CHECK(base_holdout_possibly_seen(cut_model(dir.path, "larger", 0.5, 0.3), d).empty());
}

TEST_CASE("a live model of unknown lineage is not judged on the base holdout, and the evaluation says so",
          "[learning]") {
  CutFixture f(0.3, 0);  // the configured artifact: no record of what it trained on
  const json e = f.evaluate(0.5, traffic(40));
  INFO(e.dump(2));
  // Still scored and shown, but out of the paired test: only the 50 audit rows count.
  CHECK(e["sets"]["base_holdout"]["rows"] == 200);
  CHECK(e["sets"]["base_holdout"]["counted"] == false);
  CHECK(e["sets"]["base_holdout"]["possibly_seen_by"]["live"].get<std::string>().find("unknown lineage") !=
        std::string::npos);
  CHECK_FALSE(e["sets"]["base_holdout"]["possibly_seen_by"].contains("candidate"));
  CHECK(e["unbiased"]["rows"] == 50);
  CHECK(e["unbiased"]["sets"] == json::array({"audit"}));
  CHECK(e["unbiased"]["paired"]["candidate_only_right"] == 10);
  CHECK(e["unbiased"]["paired"]["live_only_right"] == 0);
  const std::string reason = e["default"]["reason"];
  CHECK(reason.find("better on 50 unbiased rows") == 0);
  CHECK(reason.find("the base holdout is not counted: the live model may have trained on it") != std::string::npos);
}

TEST_CASE("without audit samples, an untrusted base holdout leaves nothing to judge on: refused, saying why",
          "[learning]") {
  CutFixture f(0.3);
  hitl::learning::CompareRequest r;
  r.domain = &f.domain;
  r.model = &f.model;
  r.rows = traffic(40);
  r.base_holdout = traffic(200);
  r.candidate_artifact = cut_model(f.dir.path, "candidate", 0.5, 0).string();  // the candidate's lineage unknown
  auto c = hitl::learning::compare(f.plugins, r);
  const auto p = hitl::learning::decide_promotion(*f.policies, "d", c.json, r.rule);
  INFO(c.json.dump(2));
  CHECK_FALSE(p.promote);
  CHECK_FALSE(c.json.contains("unbiased"));
  CHECK(c.json["sets"]["base_holdout"]["possibly_seen_by"].contains("candidate"));
  CHECK(p.reason.find("no unbiased rows to judge on") == 0);
  CHECK(p.reason.find("the candidate model may have trained on it") != std::string::npos);
}

TEST_CASE("both models recorded as never trained on it: the base holdout counts", "[learning]") {
  CutFixture f(0.3);
  const json e = f.evaluate(0.5, traffic(40));
  CHECK(e["sets"]["base_holdout"]["counted"] == true);
  CHECK_FALSE(e["sets"]["base_holdout"].contains("possibly_seen_by"));
  CHECK(e["unbiased"]["rows"] == 250);
  CHECK(e["unbiased"]["sets"] == json::array({"base_holdout", "audit"}));
}
