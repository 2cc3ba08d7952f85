#include "config/service_config.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;
using hitl::config::ConfigError;
using hitl::config::load_config;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() / ("hitl-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

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
    load_config(file, "/plugins", "/lua");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("config: a valid file loads with defaults and resolved paths") {
  TempDir dir;
  dir.write("policy.lua", "return {}");
  auto cfg = load_config(dir.write("hitl.lua", kGood), "/plugins", "/lua");
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
      domains = { d = { policy = "p.lua", labels = {"a"} } } })"), "/p", "/l");
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
