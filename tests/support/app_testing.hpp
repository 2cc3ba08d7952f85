#pragma once
// An App for unit tests of the service's parts: built from a config in a fresh folder, with the
// real storage-sqlite and queue-sqlite plugins (one database file), the failing model fixture and
// the Lua policy the test gives. Include after <catch2/catch.hpp>; the test target defines
// HITL_PLUGIN_DIR, HITL_FIXTURE_MODEL_DIR and HITL_SOURCE_DIR.
#include "app/app.hpp"
#include "common/clock.hpp"
#include "config/service_config.hpp"
#include "governance/auth.hpp"
#include "ingest/pipeline.hpp"
#include "plugin/plugin_registry.hpp"

#include "support/temp_dir.hpp"

#include <future>
#include <memory>
#include <string>
#include <vector>

namespace hitl::test {

// Domains of the test config: `loans` scored from the client's prediction, `flaky` by a model
// whose predict() always fails; both under the test's policy.lua.
// `extra_options`: more top-level options (e.g. `policy = { deadline_ms = 5000 },`).
inline std::string test_config_lua(const std::string& extra_domains, const std::string& extra_options = "") {
  return std::string(R"(
return {
  listen = "127.0.0.1:0",
)") + extra_options + R"(
  storage = { plugin = "sqlite", config = { path = "hitl.db" } },
  queue   = { plugin = "sqlite", config = { path = "hitl.db" } },
  plugin_dirs = { ")" + HITL_PLUGIN_DIR + R"(", ")" + HITL_FIXTURE_MODEL_DIR + R"(" },
  models = { down = { plugin = "fixture-failing", config = { mode = "error" } } },
  domains = {
    loans = { policy = "policy.lua", labels = { "good", "bad" }, lease_seconds = 60 },
    flaky = { policy = "policy.lua", model = "down", labels = { "good", "bad" } },
)" + extra_domains + R"(
  },
}
)";
}

class TestApp {
 public:
  explicit TestApp(const std::string& policy_lua, const std::string& extra_domains = "",
                   const std::string& extra_options = "") {
    dir_.write("policy.lua", policy_lua);
    dir_.write("hitl.lua", test_config_lua(extra_domains, extra_options));
    plugin::PathOptionCatalog catalog;
    auto cfg = config::load_config(
        dir_.path / "hitl.lua", HITL_PLUGIN_DIR, std::string(HITL_SOURCE_DIR) + "/scripts/lib",
        [&catalog](const auto& dirs, std::string_view kind, const std::string& name) {
          return catalog.path_options(dirs, kind, name);
        });
    app_ = std::make_unique<service::App>(std::move(cfg));
  }
  ~TestApp() { set_clock_offset_ms(0); }  // a test that moved the clock leaves it as it was

  service::App& app() { return *app_; }
  service::App* operator->() { return app_.get(); }

  // Ingests `records` into `domain` as `actor` and waits for the commit. Fails the test on an
  // error status.
  std::vector<service::IngestResult> ingest(const std::string& domain, std::vector<service::IngestRecord> records,
                                            const std::string& actor = "client") {
    std::promise<std::pair<sdk::Status, std::vector<service::IngestResult>>> done;
    auto answer = done.get_future();
    app_->pipeline().ingest(domain, std::move(records), actor,
                            [&](const sdk::Status& st, std::vector<service::IngestResult>& r) { done.set_value({st, std::move(r)}); });
    auto [st, results] = answer.get();
    INFO(st.message);
    REQUIRE(st.ok());
    return results;
  }

 private:
  TempDir dir_{"hitl-app"};
  std::unique_ptr<service::App> app_;
};

// A record with the client's own prediction (no model runs).
inline service::IngestRecord predicted(const std::string& id, const std::string& label, double confidence,
                                       nlohmann::json input = nlohmann::json::object()) {
  service::IngestRecord r;
  r.id = id;
  r.input = std::move(input);
  r.meta = nlohmann::json::object();
  r.has_prediction = true;
  r.prediction.label = label;
  r.prediction.confidence = confidence;
  return r;
}

// A record the domain's model scores.
inline service::IngestRecord unscored(const std::string& id, nlohmann::json input = {{"amount", 1}}) {
  service::IngestRecord r;
  r.id = id;
  r.input = std::move(input);
  r.meta = nlohmann::json::object();
  return r;
}

inline service::Principal reviewer(const std::string& name) { return {name, service::Role::reviewer, {}}; }
inline service::Principal admin(const std::string& name = "root") { return {name, service::Role::admin, {}}; }

}  // namespace hitl::test
