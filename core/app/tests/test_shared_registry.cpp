// Two instances (two Apps, each with its own folder) on one PostgreSQL database, with no shared
// folder: a model version registered and promoted on A is listed, live and scoring on B (over
// the real LISTEN/NOTIFY event); a dataset version and a marked golden case written on A are
// read on B; an artifact whose bytes were altered in the database is refused in one line and
// B's live model keeps scoring (app/shared_learning.hpp, common/file_store.hpp).
#include <catch2/catch.hpp>

#include "app/app.hpp"
#include "cluster/cluster.hpp"
#include "common/files.hpp"
#include "common/hash.hpp"
#include "config/service_config.hpp"
#include "dataset/dataset.hpp"
#include "dataset/marked_gold.hpp"
#include "learning/training.hpp"
#include "plugin/plugin_registry.hpp"
#include "registry/registry.hpp"

#include "support/eventually.hpp"
#include "support/postgres.hpp"
#include "support/temp_dir.hpp"
#include "shared_instance.hpp"

#include <nlohmann/json.hpp>

#include <memory>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {
using namespace std::chrono_literals;

using hitl::test::cut_artifact;

// One instance: its own folder (config, policy, the configured artifact, registry and datasets
// folders), storage and queue on the shared database.
struct Instance {
  hitl::test::TempDir dir{"hitl-shared"};
  std::unique_ptr<hitl::service::App> app;

  explicit Instance(const std::string& url) : app(hitl::test::shared_instance(dir, url)) {}
  const hitl::config::ServiceConfig& cfg() const { return app->config(); }
  hitl::registry::Registry registry() const { return hitl::registry::Registry(cfg().registry_dir); }
  fs::path artifact() const { return hitl::learning::live_artifact(cfg(), "loans"); }
  // The live model's label for x.
  std::string label(double x) const {
    std::vector<hitl::sdk::Prediction> out;
    const auto st = app->model("scorer")->predict({hitl::sdk::Record{{"x", x}}}, out);
    INFO(st.message);
    REQUIRE(st.ok());
    return out.at(0).label;
  }
};

hitl::registry::ModelVersion registered(Instance& on, double cut) {
  hitl::registry::ModelVersion v;
  v.domain = "loans";
  v.model = "scorer";
  v.plugin = "logreg";
  v.trigger = "test";
  v.created_ms = 1000;
  return on.registry().add(v, cut_artifact(cut));
}

void promote(Instance& on, const std::string& id) {
  on.registry().promote("loans", id, on.artifact(), 2000, "test", "shared registry test");
  on.app->reload_models();
  on.app->cluster().publish({hitl::cluster::EventKind::model_promoted, "", "", false});
}

}  // namespace

TEST_CASE("a model promoted on one instance is listed, live and scoring on another, with no shared folder") {
  const auto url = hitl::test::pg::database_for_folder("shared-registry-promote");
  Instance a(url), b(url);
  REQUIRE(a.cfg().registry_dir != b.cfg().registry_dir);
  b.app->cluster().listen([&b](const hitl::cluster::Event& e) { b.app->hear(e); });
  CHECK(b.label(0.2) == "good");  // the configured artifact: bad above 0.5

  const auto m1 = registered(a, -5);  // bad everywhere
  promote(a, m1.id);
  CHECK(a.label(0.2) == "bad");
  // B heard the event, installed the version from the database and swapped it in. Its listening
  // connection opens on a thread of its own: an event sent before it listens is lost (the 2 s
  // poll covers that in a service, not here), so A says it again until B has heard.
  CHECK(hitl::test::eventually(
      [&] {
        a.app->cluster().publish({hitl::cluster::EventKind::model_promoted, "", "", false});
        return b.label(0.2) == "bad";
      },
      20s, 200ms));
  const auto listed = b.registry().list("loans");
  REQUIRE(listed.size() == 2);  // m0 (the configured artifact A kept) and m1
  CHECK(listed[1].id == m1.id);
  CHECK(listed[1].artifact_sha256 == hitl::sha256_hex(cut_artifact(-5)));
  CHECK(b.registry().live("loans").id == m1.id);
  CHECK(hitl::read_whole_file(b.artifact()) == cut_artifact(-5));
  // B's registry folder holds no manifest: the database does.
  CHECK_FALSE(fs::exists(b.cfg().registry_dir / "loans" / (m1.id + ".json")));
  b.app->cluster().stop();
}

TEST_CASE("an artifact altered in the database is refused in one line, and the live model keeps scoring") {
  const auto url = hitl::test::pg::database_for_folder("shared-registry-altered");
  Instance a(url), b(url);
  const auto m1 = registered(a, -5);
  promote(a, m1.id);
  // No event this time (one lost, say): B's 2 s model poll installs it all the same.
  b.app->reload_models();
  REQUIRE(b.label(0.2) == "bad");

  const auto m2 = registered(a, 5);  // good everywhere
  promote(a, m2.id);
  REQUIRE(a.label(0.2) == "good");
  {
    pqxx::connection c(url);
    pqxx::work tx(c);
    tx.exec("UPDATE blobs SET bytes = convert_to(replace(convert_from(bytes, 'UTF8'), '-50', '-51'), 'UTF8') "
            "WHERE name = 'registry/loans/" + m2.id + ".artifact'");
    tx.commit();
  }
  try {
    b.registry().install_live("loans", b.artifact());
    FAIL("an altered artifact was installed");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    CHECK_THAT(msg, Catch::Contains("blob registry/loans/" + m2.id + ".artifact") && Catch::Contains("altered in the database"));
    // The line docs/deploy.md shows is the one the service logs.
    REQUIRE(m2.id == "loans-m2");
    CHECK_THAT(hitl::read_whole_file(std::string(HITL_SOURCE_DIR) + "/docs/deploy.md"),
               Catch::Contains("domain loans: live model loans-m2 not installed, the model in place keeps scoring: " + msg));
  }
  b.app->hear({hitl::cluster::EventKind::model_promoted, "", "", false});
  CHECK(b.label(0.2) == "bad");  // still m1
  CHECK(hitl::read_whole_file(b.artifact()) == cut_artifact(-5));
  // Nothing else reads the altered bytes either: loading it as a candidate, promoting it again.
  CHECK_THROWS_WITH(b.registry().artifact_path("loans", m2.id), Catch::Contains("altered in the database"));
  a.registry().promote("loans", m1.id, a.artifact(), 3000, "test", "back");
  CHECK_THROWS_WITH(a.registry().promote("loans", m2.id, a.artifact(), 4000, "test", ""),
                    Catch::Contains("altered in the database"));
  CHECK(hitl::read_whole_file(a.artifact()) == cut_artifact(-5));
}

TEST_CASE("a dataset version and a marked golden case written on one instance are read on another") {
  const auto url = hitl::test::pg::database_for_folder("shared-registry-datasets");
  Instance a(url), b(url);
  std::vector<hitl::dataset::Sample> samples(3);
  for (int i = 0; i < 3; ++i) {
    samples[i].decision_id = "d" + std::to_string(i);
    samples[i].input = {{"x", i * 0.4}};
    samples[i].label = i ? "bad" : "good";
    samples[i].created_ms = 100 + i;
  }
  bool created = false;
  const auto v = hitl::dataset::Store(a.cfg().datasets_dir).snapshot("loans", samples, 5000, "p", "test", created);
  REQUIRE(created);
  const hitl::dataset::Store on_b(b.cfg().datasets_dir);
  const auto found = on_b.find(v.id);
  REQUIRE(found);
  CHECK(found->content_hash == v.content_hash);
  const auto rows = on_b.read(*found);
  REQUIRE(rows.size() == 3);
  CHECK(rows[2].decision_id == "d2");
  CHECK(rows[2].label == "bad");

  hitl::dataset::MarkedCase c;
  c.decision_id = "d1";
  c.input = {{"x", 0.4}};
  c.label = "bad";
  REQUIRE(hitl::dataset::MarkedGold(a.cfg().datasets_dir).mark("loans", c));
  CHECK_FALSE(hitl::dataset::MarkedGold(b.cfg().datasets_dir).mark("loans", c));  // B sees it marked
  CHECK(hitl::dataset::MarkedGold(b.cfg().datasets_dir).decision_ids("loans") == std::set<std::string>{"d1"});
  // Erasure on B reaches the shared copies.
  CHECK(hitl::dataset::forget(b.cfg().datasets_dir, "loans", {"d1"}) == 2);
  CHECK(hitl::dataset::Store(a.cfg().datasets_dir).read(*hitl::dataset::Store(a.cfg().datasets_dir).find(v.id)).size() == 2);
  CHECK(hitl::dataset::MarkedGold(a.cfg().datasets_dir).decision_ids("loans").empty());
}
