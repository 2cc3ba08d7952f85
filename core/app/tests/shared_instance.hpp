#pragma once
// What the tests of instances sharing one PostgreSQL database build each instance from: a real
// logreg artifact, and an App in a folder of its own (config, policy, the configured artifact,
// registry and datasets folders) with storage and queue on the shared database.
#include "app/app.hpp"
#include "config/service_config.hpp"
#include "plugin/plugin_registry.hpp"

#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace hitl::test {

// A logreg artifact on one feature x answering "bad" above x = cut.
inline std::string cut_artifact(double cut) {
  return nlohmann::json{
      {"format", "hitl-logreg"},
      {"version", 1},
      {"classes", {"bad", "good"}},
      {"features", {{{"name", "x"}, {"kind", "numeric"}, {"mean", 0.0}, {"std", 1.0}, {"has_missing", false}}}},
      {"weights", {{10.0}, {-10.0}}},
      {"bias", {-10 * cut, 10 * cut}}}
      .dump();
}

// The App of `dir`, whose domain loans (model scorer, configured artifact model.json, bad above
// 0.5) has `loans_extra` added to its table (e.g. `retrain = { ... }`).
inline std::unique_ptr<service::App> shared_instance(TempDir& dir, const std::string& url,
                                                     const std::string& loans_extra = "") {
  dir.write("policy.lua", "local hitl = require \"hitl\"\nreturn { flag = function(p) return hitl.review(\"all\") end }\n");
  dir.write("model.json", cut_artifact(0.5));  // the configured artifact every instance starts with
  dir.write("hitl.lua", R"(return {
  storage = { plugin = "postgres", config = { url = ")" + url + R"(" } },
  queue   = { plugin = "postgres", config = { url = ")" + url + R"(" } },
  plugin_dirs = { ")" + std::string(HITL_PLUGIN_DIR) + R"(" },
  models = { scorer = { plugin = "logreg", config = { artifact = "model.json" } } },
  domains = { loans = { policy = "policy.lua", model = "scorer", labels = { "bad", "good" })" +
                            (loans_extra.empty() ? "" : ", " + loans_extra) + R"( } },
})");
  plugin::PathOptionCatalog catalog;
  auto cfg = config::load_config(dir.path / "hitl.lua", HITL_PLUGIN_DIR, std::string(HITL_SOURCE_DIR) + "/scripts/lib",
                                 [&catalog](const auto& dirs, std::string_view kind, const std::string& name) {
                                   return catalog.path_options(dirs, kind, name);
                                 });
  return std::make_unique<service::App>(std::move(cfg));
}

}  // namespace hitl::test
