// The live models and their reload (app/model_set.hpp): the files watched are the options the
// model's plugin declares as paths, whatever their names; a change swaps a new model in.
#include "app/model_set.hpp"

#include "metrics/metrics.hpp"
#include "plugin/plugin_registry.hpp"
#include "store/writer.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using hitl::config::ModelConfig;
using hitl::service::ModelSet;

namespace {
// The fixture model (tests/fixtures/constant_model.cpp) declares one path option, `rules_file`,
// and ignores it; the storage plugin keeps the audit records of the reloads.
struct Fixture {
  hitl::test::TempDir dir{"hitl-model-set"};
  hitl::plugin::Registry plugins;
  std::map<std::string, ModelConfig> models;
  Fixture() {
    plugins.add(hitl::plugin::load_plugin(fs::path(HITL_FIXTURE_PLUGIN_DIR) / "good.so"));
    std::vector<std::string> refused;
    plugins.load_directory(HITL_PLUGIN_DIR, refused);
  }
  fs::path write(const std::string& name, const std::string& text) {
    const auto p = dir.path / name;
    std::ofstream(p) << text;
    return p;
  }
  void model(const std::string& name, nlohmann::json options) {
    models[name] = ModelConfig{name, {"fixture-good", options.dump()}};
  }
};

// Moves a file's modification time on, as a later write would.
void touch_later(const fs::path& p) {
  fs::last_write_time(p, fs::last_write_time(p) + std::chrono::seconds(5));
}
}  // namespace

TEST_CASE("a model's watched files are its plugin's declared path options the config sets") {
  Fixture f;
  const auto rules = f.write("rules.txt", "a\n");
  f.model("with_file", {{"rules_file", rules.string()}, {"artifact", "/not/declared/as/a/path.json"}});
  f.model("without", nlohmann::json::object());
  ModelSet set(f.models, f.plugins);
  CHECK(set.watched("with_file") == std::vector<fs::path>{rules});  // `artifact` is not declared here
  CHECK(set.watched("without").empty());
  REQUIRE(set.live("with_file"));
  CHECK(set.live("with_file")->version() == "constant-1.0.0");
  CHECK(set.live("nope") == nullptr);
  CHECK(set.slots().size() == 2);
}

TEST_CASE("a changed watched file swaps a new model in, once per change, and is audited") {
  Fixture f;
  const auto rules = f.write("rules.txt", "a\n");
  f.model("m", {{"rules_file", rules.string()}});
  ModelSet set(f.models, f.plugins);
  hitl::service::Metrics metrics({"d"});
  auto storage = f.plugins.create_storage("sqlite", nlohmann::json{{"path", (f.dir.path / "db.sqlite").string()}}.dump());
  hitl::service::Writer writer(storage, 100);

  const auto before = set.live("m");
  CHECK(set.reload_changed(metrics, writer) == 0);  // nothing changed since the start
  CHECK(set.live("m") == before);

  std::ofstream(rules) << "a\nb\n";
  touch_later(rules);
  CHECK(set.reload_changed(metrics, writer) == 1);
  CHECK(set.live("m") != before);
  CHECK(set.reload_changed(metrics, writer) == 0);  // the same change is not reloaded twice

  std::vector<hitl::sdk::AuditRecord> audit;
  REQUIRE(storage->list_audit(hitl::sdk::AuditFilter{}, audit).ok());
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].action == "model.loaded");
  CHECK(audit[0].entity_id == "m");
}

TEST_CASE("a watched file that is missing at the start is loaded once it appears") {
  Fixture f;
  const auto rules = f.dir.path / "later.txt";
  f.model("m", {{"rules_file", rules.string()}});
  ModelSet set(f.models, f.plugins);
  hitl::service::Metrics metrics({"d"});
  auto storage = f.plugins.create_storage("sqlite", nlohmann::json{{"path", (f.dir.path / "db.sqlite").string()}}.dump());
  hitl::service::Writer writer(storage, 100);
  CHECK(set.reload_changed(metrics, writer) == 0);  // gone: the current model stays
  std::ofstream(rules) << "x\n";
  CHECK(set.reload_changed(metrics, writer) == 1);
}
