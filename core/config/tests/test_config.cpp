#include "config/service_config.hpp"

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;
using hitl::config::ConfigError;
using hitl::test::TempDir;
using hitl::config::load_config;

namespace {
// What the plugins named in these configs declare as paths (the service asks their descriptors).
std::vector<std::string> kDeclaredFor(std::string_view kind, const std::string& plugin) {
  if (kind == "storage" && plugin == "sqlite") return {"path"};
  if (kind == "model" && plugin == "logreg") return {"artifact"};
  if (kind == "model" && plugin == "vendor") return {"rules_file", "cache_dir"};
  return {};
}
const hitl::config::PathOptionsOf kDeclared = [](const std::vector<fs::path>&, std::string_view kind,
                                                 const std::string& plugin) { return kDeclaredFor(kind, plugin); };

const char* kGood = R"(
return {
  listen = "0.0.0.0:9090",
  storage = { plugin = "sqlite", config = { path = "var/hitl.db" } },
  models = { m = { plugin = "logreg", config = { artifact = "model.json", epochs = 10 } } },
  domains = {
    credit = { policy = "policy.lua", model = "m", labels = { "good", "bad" }, lease_seconds = 60 },
  },
}
)";

std::string error_of(const fs::path& file) {
  try {
    load_config(file, "/plugins", "/lua", kDeclared);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("config: a valid file loads with defaults and resolved paths") {
  TempDir dir;
  dir.write("policy.lua", "return {}");
  auto cfg = load_config(dir.write("hitl.lua", kGood), "/plugins", "/lua", kDeclared);
  CHECK(cfg.listen_host == "0.0.0.0");
  CHECK(cfg.listen_port == 9090);
  CHECK(cfg.http_threads == 2);
  REQUIRE(cfg.plugin_dirs.size() == 1);
  CHECK(cfg.plugin_dirs[0] == "/plugins");
  CHECK(cfg.script_lib_dir == "/lua");
  CHECK(cfg.storage.plugin == "sqlite");
  CHECK(cfg.storage.config_json.find((dir.path / "var/hitl.db").string()) != std::string::npos);
  CHECK(cfg.queue.plugin == "sqlite");
  REQUIRE(cfg.models.count("m") == 1);
  CHECK(cfg.models["m"].ref.config_json.find("\"epochs\":10") != std::string::npos);
  REQUIRE(cfg.domains.count("credit") == 1);
  CHECK(cfg.domains["credit"].policy == dir.path / "policy.lua");
  CHECK(cfg.domains["credit"].labels == std::vector<std::string>{"good", "bad"});
  CHECK(cfg.domains["credit"].lease_seconds == 60);
}

TEST_CASE("config: env() reads the environment with a default") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  ::setenv("HITL_TEST_LISTEN", "127.0.0.1:7070", 1);
  auto cfg = load_config(dir.write("c.lua", R"(return { listen = env("HITL_TEST_LISTEN", "x:1"),
      max_body_bytes = tonumber(env("HITL_TEST_UNSET_VAR", "4096")),
      domains = { d = { policy = "p.lua", labels = {"a"} } } })"), "/p", "/l", kDeclared);
  CHECK(cfg.listen_port == 7070);
  CHECK(cfg.max_body_bytes == 4096);
}

TEST_CASE("config: errors name the file, the key and what was expected") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  SECTION("wrong type") {
    auto e = error_of(dir.write("c.lua", R"(return { http_threads = "two", domains = { d = { policy = "p.lua", labels = {"a"} } } })"));
    CHECK(e.find("c.lua") != std::string::npos);
    CHECK(e.find("http_threads: expected an integer, got a string") != std::string::npos);
  }
  SECTION("unknown key lists the allowed ones") {
    auto e = error_of(dir.write("c.lua", R"(return { listne = "x", domains = { d = { policy = "p.lua", labels = {"a"} } } })"));
    CHECK(e.find("listne: unknown key") != std::string::npos);
    CHECK(e.find("listen") != std::string::npos);
  }
  SECTION("nested key path") {
    auto e = error_of(dir.write("c.lua", R"(return { domains = { credit = { policy = 42, labels = {"a"} } } })"));
    CHECK(e.find("domains.credit.policy: expected a string, got a number") != std::string::npos);
  }
  SECTION("missing policy file") {
    auto e = error_of(dir.write("c.lua", R"(return { domains = { d = { policy = "nope.lua", labels = {"a"} } } })"));
    CHECK(e.find("domains.d.policy: file not found") != std::string::npos);
  }
  SECTION("unknown model") {
    auto e = error_of(dir.write("c.lua", R"(return { domains = { d = { policy = "p.lua", model = "zz", labels = {"a"} } } })"));
    CHECK(e.find("domains.d.model: no model named \"zz\"") != std::string::npos);
  }
  SECTION("no domains") {
    auto e = error_of(dir.write("c.lua", "return { listen = '127.0.0.1:1' }"));
    CHECK(e.find("domains: missing") != std::string::npos);
  }
  SECTION("bad listen") {
    auto e = error_of(dir.write("c.lua", R"(return { listen = "localhost:http", domains = { d = { policy = "p.lua", labels = {"a"} } } })"));
    CHECK(e.find("listen: expected a port") != std::string::npos);
  }
  SECTION("label list with a number") {
    auto e = error_of(dir.write("c.lua", R"(return { domains = { d = { policy = "p.lua", labels = {"a", 3} } } })"));
    CHECK(e.find("domains.d.labels[2]: expected a string, got a number") != std::string::npos);
  }
  SECTION("out of range") {
    auto e = error_of(dir.write("c.lua", R"(return { http_threads = 0, domains = { d = { policy = "p.lua", labels = {"a"} } } })"));
    CHECK(e.find("http_threads: expected an integer in 1..64, got 0") != std::string::npos);
  }
}

TEST_CASE("config: Lua syntax errors carry file and line, and non-table results are refused") {
  TempDir dir;
  auto e = error_of(dir.write("c.lua", "return {\n  listen = ,\n}"));
  CHECK(e.find("c.lua:2:") != std::string::npos);
  e = error_of(dir.write("d.lua", "return 42"));
  CHECK(e.find("must `return { ... }` a table") != std::string::npos);
  e = error_of(dir.path / "absent.lua");
  CHECK(e.find("file not found") != std::string::npos);
}

TEST_CASE("config: the sandbox has no io or os") {
  TempDir dir;
  auto e = error_of(dir.write("c.lua", "io.open('/etc/passwd') return {}"));
  CHECK(e.find("io") != std::string::npos);
  e = error_of(dir.write("d.lua", "os.execute('true') return {}"));
  CHECK(e.find("os") != std::string::npos);
}

TEST_CASE("config: every option is documented with type, default and description") {
  for (auto& o : hitl::config::option_docs()) {
    CHECK(!o.key.empty());
    CHECK(!o.type.empty());
    CHECK(!o.default_value.empty());
    CHECK(!o.description.empty());
  }
  CHECK(hitl::config::option_docs().size() >= 20);
}

TEST_CASE("config: docs/operations.md lists every option with its type and default") {
  std::ifstream f(std::string(HITL_SOURCE_DIR) + "/docs/operations.md");
  REQUIRE(f);
  std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (auto& o : hitl::config::option_docs()) {
    INFO(o.key);
    auto row = doc.find("| `" + o.key + "` | " + o.type + " |");
    REQUIRE(row != std::string::npos);
    auto line_end = doc.find('\n', row);
    CHECK(doc.substr(row, line_end - row).find(o.default_value) != std::string::npos);
  }
}

TEST_CASE("config: governance options of a domain load with their defaults and are checked") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  auto plain = load_config(dir.write("c.lua", R"(return { domains = { d = { policy = "p.lua", labels = {"a"} } } })"), "/p", "/l", kDeclared);
  const auto& d0 = plain.domains.at("d");
  CHECK(d0.sla_seconds == 0);
  CHECK(d0.sensitive.empty());
  CHECK(d0.retention_days == 0);
  CHECK(d0.report_group.empty());
  CHECK(d0.cost_reviewer_per_hour == 0);
  CHECK(plain.audit_head_log_seconds == 300);

  auto full = load_config(dir.write("c2.lua", R"(return {
    audit = { head_log_seconds = 60 },
    domains = { d = { policy = "p.lua", labels = {"a"}, sla_seconds = 7200, sensitive = { "name", "meta.email" },
                      retention_days = 30, report = { group = "Age", bands = { 30, 45.5, 60 } },
                      cost = { reviewer_per_hour = 40, per_prediction = 0.001 } } } })"), "/p", "/l", kDeclared);
  const auto& d = full.domains.at("d");
  CHECK(d.sla_seconds == 7200);
  CHECK(d.sensitive == std::vector<std::string>{"name", "meta.email"});
  CHECK(d.retention_days == 30);
  CHECK(d.report_group == "Age");
  CHECK(d.report_bands == std::vector<double>{30, 45.5, 60});
  CHECK(d.cost_reviewer_per_hour == 40);
  CHECK(d.cost_per_prediction == Approx(0.001));
  CHECK(full.audit_head_log_seconds == 60);

  auto err = [&](const std::string& domain_body) {
    return error_of(dir.write("e.lua", "return { domains = { d = { policy = 'p.lua', labels = {'a'}, " + domain_body + " } } }"));
  };
  CHECK_THAT(err("report = { group = 'Age', bands = { 40, 30 } }"),
             Catch::Contains("domains.d.report.bands[2]: cut points must be ascending"));
  CHECK_THAT(err("report = { bands = { 1 } }"), Catch::Contains("domains.d.report.bands: set report.group too"));
  CHECK_THAT(err("report = { gruop = 'x' }"), Catch::Contains("domains.d.report.gruop: unknown key"));
  CHECK_THAT(err("cost = { reviewer_per_hour = -1 }"),
             Catch::Contains("domains.d.cost.reviewer_per_hour: expected a non-negative number"));
  CHECK_THAT(err("cost = { per_prediction = 'cheap' }"),
             Catch::Contains("domains.d.cost.per_prediction: expected a number, got a string"));
  CHECK_THAT(err("sensitive = { 'ok', '' }"), Catch::Contains("domains.d.sensitive[2]: expected a field name"));
  CHECK_THAT(err("retention_days = -3"), Catch::Contains("domains.d.retention_days: expected an integer in 0.."));
  CHECK_THAT(err("sla_seconds = 1.5"), Catch::Contains("domains.d.sla_seconds: expected an integer, got a number"));
}

TEST_CASE("a hostile config file is an error, never a hang, a crash or a huge allocation", "[config]") {
  TempDir d;
  d.write("policy.lua", "return {}");
  auto err = [&](const std::string& text) { return error_of(d.write("hitl.lua", text)); };
  CHECK_THAT(err("while true do end"), Catch::Contains("runs too long"));
  CHECK_THAT(err("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end return t"),
             Catch::Contains("not enough memory"));
  CHECK_THAT(err("error({})"), Catch::Contains("error object is not a string"));
  // Metamethods would run outside a protected call while the table is read: raw access only.
  CHECK_THAT(err("return setmetatable({ listen = '1.2.3.4:5' }, { __len = function() error('len') end, "
                 "__index = function() error('index') end })"),
             Catch::Contains("domains"));
  CHECK_THAT(err("return { listen = '\\xff\\xfe:80' }"), Catch::Contains("not valid UTF-8"));
}

TEST_CASE("config: plugin options are resolved as paths only where the plugin declares a path") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  std::vector<std::string> asked;
  hitl::config::PathOptionsOf recording = [&](const std::vector<fs::path>& dirs, std::string_view kind,
                                              const std::string& plugin) {
    CHECK(dirs == std::vector<fs::path>{dir.path / "lib"});  // the config's own plugin_dirs, resolved
    asked.push_back(std::string(kind) + ":" + plugin);
    return kDeclaredFor(kind, plugin);
  };
  auto cfg = load_config(dir.write("c.lua", R"(return {
    plugin_dirs = { "lib" },
    queue = { plugin = "sqlite", config = { path = "q.db" } },
    models = {
      v = { plugin = "vendor", config = { rules_file = "rules/a.txt", cache_dir = "/abs/cache", dir = "kept", label = "x/y" } },
      m = { plugin = "logreg", config = { artifact = "models/m.json", l2 = 0.1 } },
      e = { plugin = "vendor", config = { rules_file = "" } },
    },
    domains = { d = { policy = "p.lua", labels = {"a"} } } })"), "/p", "/l", recording);

  auto v = nlohmann::json::parse(cfg.models.at("v").ref.config_json);
  CHECK(v["rules_file"] == (dir.path / "rules/a.txt").string());  // a vendor's own path option
  CHECK(v["cache_dir"] == "/abs/cache");                          // absolute: as written
  CHECK(v["dir"] == "kept");      // the key name alone no longer makes a path
  CHECK(v["label"] == "x/y");
  CHECK(nlohmann::json::parse(cfg.models.at("m").ref.config_json)["artifact"] == (dir.path / "models/m.json").string());
  CHECK(nlohmann::json::parse(cfg.models.at("e").ref.config_json)["rules_file"] == "");  // empty: the plugin's to judge
  // queue-sqlite is unknown to this lookup: its `path` stays as written.
  CHECK(nlohmann::json::parse(cfg.queue.config_json)["path"] == "q.db");
  CHECK(std::find(asked.begin(), asked.end(), "storage:sqlite") != asked.end());
  CHECK(std::find(asked.begin(), asked.end(), "model:vendor") != asked.end());
}

TEST_CASE("config: the options of a policy change load resolved against the config and are checked") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  dir.write("shadow.lua", "return {}");
  dir.write("cases/p.jsonl", "");
  auto plain = load_config(dir.write("c.lua", R"(return { domains = { d = { policy = "p.lua", labels = {"a"} } } })"), "/p", "/l", kDeclared);
  CHECK(plain.domains.at("d").policy_cases.empty());
  CHECK(plain.domains.at("d").shadow_policy.empty());
  CHECK(plain.policy_watch_seconds == 2);
  auto full = load_config(dir.write("c2.lua", R"(return { policy = { watch_seconds = 0 },
    domains = { d = { policy = "p.lua", labels = {"a"}, policy_cases = "cases", shadow_policy = "shadow.lua" } } })"),
                          "/p", "/l", kDeclared);
  CHECK(full.policy_watch_seconds == 0);
  CHECK(full.domains.at("d").policy_cases == dir.path / "cases");
  CHECK(full.domains.at("d").shadow_policy == dir.path / "shadow.lua");
  auto err = [&](const std::string& text) { return error_of(dir.write("e.lua", text)); };
  CHECK_THAT(err("return { domains = { d = { policy = 'p.lua', labels = {'a'}, shadow_policy = 'nope.lua' } } }"),
             Catch::Contains("domains.d.shadow_policy: file not found"));
  CHECK_THAT(err("return { domains = { d = { policy = 'p.lua', labels = {'a'}, policy_cases = 'nope.jsonl' } } }"),
             Catch::Contains("domains.d.policy_cases: file not found"));
  CHECK_THAT(err("return { policy = { watch_seconds = -1 }, domains = { d = { policy = 'p.lua', labels = {'a'} } } }"),
             Catch::Contains("policy.watch_seconds"));
}

TEST_CASE("config: writer.step_threads and http_threads follow the plugins unless set (more threads over a network database)") {
  TempDir dir;
  dir.write("p.lua", "return {}");
  const auto load = [&](const std::string& body) {
    return load_config(dir.write("c.lua", "return { " + body + " domains = { d = { policy = \"p.lua\", labels = {\"a\"} } } }"),
                       "/plugins", "/lua", kDeclared);
  };
  CHECK(load("").writer_step_threads == 0);
  CHECK(load(R"(queue = { plugin = "postgres" },)").writer_step_threads == 4);
  CHECK(load("").http_threads == 2);
  CHECK(load(R"(storage = { plugin = "postgres" },)").http_threads == 8);
  CHECK(load(R"(storage = { plugin = "postgres" }, http_threads = 3,)").http_threads == 3);
  CHECK(load(R"(queue = { plugin = "postgres" }, writer = { step_threads = 0 },)").writer_step_threads == 0);
  CHECK(load(R"(writer = { step_threads = 8 },)").writer_step_threads == 8);
  auto e = error_of(dir.write("e.lua", R"(return { writer = { step_threads = 65 }, domains = { d = { policy = "p.lua", labels = {"a"} } } })"));
  CHECK(e.find("writer.step_threads: expected an integer in 0..64, got 65") != std::string::npos);
}
