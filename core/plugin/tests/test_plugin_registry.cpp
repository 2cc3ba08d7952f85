// The plugin loader against real shared objects: the fixtures in tests/fixtures (one good
// plugin, one per way of being broken) and, when built, the real plugins in lib/hitl.
#include "plugin/plugin_registry.hpp"

#include <catch2/catch.hpp>
#include "support/skip.hpp"
#include <nlohmann/json.hpp>

#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
using hitl::plugin::LoadedPlugin;
using hitl::plugin::PluginError;
using hitl::plugin::Registry;
using hitl::sdk::PluginKind;

namespace {

const fs::path kFixtures = HITL_FIXTURE_PLUGIN_DIR;

fs::path fixture(const std::string& file) { return kFixtures / file; }

// The one-line message load_plugin throws for `file`, or "" when it loads.
std::string refusal(const fs::path& file) {
  try {
    hitl::plugin::load_plugin(file);
  } catch (const PluginError& e) {
    return e.what();
  }
  return "";
}

// Whether the shared object at `file` is currently mapped into this process.
bool is_mapped(const fs::path& file) {
  const std::string real = fs::canonical(file).string();  // maps shows resolved paths
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= real.size() && line.compare(line.size() - real.size(), std::string::npos, real) == 0)
      return true;
  return false;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("hitl-test-plugin-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() { static int n = 0; return n; }
};

std::vector<hitl::sdk::Record> two_rows() {
  return {{{"amount", 12.5}}, {{"amount", 99.0}, {"country", std::string("DE")}}};
}

}  // namespace

TEST_CASE("good plugin loads, describes itself and creates a working model") {
  auto plugin = hitl::plugin::load_plugin(fixture("good.so"));
  REQUIRE(plugin.descriptor != nullptr);
  CHECK(plugin.path == fixture("good.so"));
  CHECK(plugin.descriptor->abi_version == HITL_SDK_ABI_VERSION);
  CHECK(plugin.descriptor->kind == PluginKind::model);
  CHECK(std::string(plugin.descriptor->name) == "fixture-good");
  CHECK(std::string(plugin.descriptor->version) == "1.0.0");

  Registry registry;
  registry.add(std::move(plugin));
  auto model = registry.create_model("fixture-good", "{}");
  REQUIRE(model);
  std::vector<hitl::sdk::Prediction> out;
  auto status = model->predict(two_rows(), out);
  REQUIRE(status.ok());
  REQUIRE(out.size() == 2);
  CHECK(out[1].label == "yes");
  CHECK(out[1].confidence == Approx(0.75));
  CHECK(model->version() == "constant-1.0.0");
  CHECK_FALSE(model->can_train());
}

TEST_CASE("a relative path is made absolute before loading") {
  const auto cwd = fs::current_path();
  fs::current_path(kFixtures);
  LoadedPlugin plugin;
  CHECK_NOTHROW(plugin = hitl::plugin::load_plugin("good.so"));
  fs::current_path(cwd);
  CHECK(plugin.path == fixture("good.so"));
  CHECK(plugin.path.is_absolute());
}

TEST_CASE("wrong ABI version is refused naming both versions, before reading past 8 bytes") {
  // bad_abi.so puts a guard page right after its 8-byte header: reading more would crash here.
  CHECK(refusal(fixture("bad_abi.so")) ==
        fixture("bad_abi.so").string() + ": wrong ABI version 7 (host expects " +
            std::to_string(HITL_SDK_ABI_VERSION) + ")");
}

TEST_CASE("a descriptor of another size is refused") {
  CHECK(refusal(fixture("bad_struct_size.so")) ==
        fixture("bad_struct_size.so").string() + ": descriptor struct_size 24 does not match " +
            std::to_string(sizeof(hitl::sdk::PluginDescriptor)));
}

TEST_CASE("a shared object without the entry alias is refused") {
  CHECK(refusal(fixture("missing_alias.so")) ==
        fixture("missing_alias.so").string() + ": missing entry point 'hitl_plugin_descriptor'");
}

TEST_CASE("files that are not shared objects are refused with a short reason") {
  CHECK(refusal(fixture("not_elf.so")) ==
        fixture("not_elf.so").string() + ": not a shared object (invalid ELF header)");

  TempDir tmp;
  const auto empty = tmp.path / "empty.so";
  std::ofstream(empty).close();
  CHECK(refusal(empty) == empty.string() + ": not a shared object (file too short)");

  CHECK(refusal(tmp.path / "absent.so") == (tmp.path / "absent.so").string() + ": file not found");
  CHECK(refusal(tmp.path) == tmp.path.string() + ": not a regular file");
}

TEST_CASE("a factory that returns an error Status refuses the instance") {
  auto plugin = hitl::plugin::load_plugin(fixture("factory_fails.so"));  // loading alone is fine
  try {
    hitl::plugin::create_model(plugin, "{}");
    FAIL("create_model should have thrown");
  } catch (const PluginError& e) {
    CHECK(std::string(e.what()) == fixture("factory_fails.so").string() +
                                       ": factory for model 'fixture-factory-fails' failed: "
                                       "option 'endpoint' is required");
  }
  // The good plugin's own config check takes the same path.
  Registry registry;
  registry.add(hitl::plugin::load_plugin(fixture("good.so")));
  CHECK_THROWS_WITH(registry.create_model("fixture-good", "[1, 2]"),
                    fixture("good.so").string() +
                        ": factory for model 'fixture-good' failed: config must be a JSON object");
}

TEST_CASE("an exception thrown by a factory is caught at the boundary and reported on one line") {
  Registry registry;
  registry.add(hitl::plugin::load_plugin(fixture("factory_throws.so")));
  CHECK_THROWS_WITH(registry.create_model("fixture-factory-throws", "{}"),
                    fixture("factory_throws.so").string() +
                        ": factory for model 'fixture-factory-throws' threw: cannot parse config at line 1");
  // The registry is still usable afterwards.
  CHECK(registry.find(PluginKind::model, "fixture-factory-throws") != nullptr);
}

TEST_CASE("asking a plugin for an instance of another kind is refused") {
  auto plugin = hitl::plugin::load_plugin(fixture("good.so"));
  CHECK_THROWS_WITH(hitl::plugin::create_queue(plugin, "{}"),
                    fixture("good.so").string() + ": is a model plugin, not a queue plugin");
  CHECK_THROWS_AS(hitl::plugin::create_model(LoadedPlugin{}, "{}"), PluginError);
}

TEST_CASE("the registry refuses a second plugin with the same kind and name") {
  Registry registry;
  registry.add(hitl::plugin::load_plugin(fixture("good.so")));
  CHECK_THROWS_WITH(registry.add(hitl::plugin::load_plugin(fixture("duplicate.so"))),
                    fixture("duplicate.so").string() +
                        ": duplicate model plugin 'fixture-good' (already loaded from " +
                        fixture("good.so").string() + ")");
  // The first one stays.
  REQUIRE(registry.all().size() == 1);
  CHECK(std::string(registry.find(PluginKind::model, "fixture-good")->descriptor->version) == "1.0.0");
}

TEST_CASE("load_directory reports each refused file and keeps loading the rest") {
  Registry registry;
  std::vector<std::string> errors;
  registry.load_directory(kFixtures, errors);

  // Files are taken in name order, so duplicate.so wins over good.so.
  const std::string dir = kFixtures.string() + "/";
  const std::vector<std::string> expected = {
      dir + "bad_abi.so: wrong ABI version 7 (host expects " + std::to_string(HITL_SDK_ABI_VERSION) + ")",
      dir + "bad_struct_size.so: descriptor struct_size 24 does not match " +
          std::to_string(sizeof(hitl::sdk::PluginDescriptor)),
      dir + "good.so: duplicate model plugin 'fixture-good' (already loaded from " + dir + "duplicate.so)",
      dir + "missing_alias.so: missing entry point 'hitl_plugin_descriptor'",
      dir + "not_elf.so: not a shared object (invalid ELF header)",
  };
  CHECK(errors == expected);

  std::vector<std::string> names;
  for (const auto* p : registry.all()) names.emplace_back(p->descriptor->name);
  CHECK(names == std::vector<std::string>{"fixture-factory-fails", "fixture-factory-throws", "fixture-good"});
  CHECK(registry.find(PluginKind::model, "fixture-good")->path == kFixtures / "duplicate.so");

  errors.clear();
  registry.load_directory(kFixtures / "no-such-dir", errors);
  CHECK(errors == std::vector<std::string>{(kFixtures / "no-such-dir").string() + ": not a directory"});
}

TEST_CASE("an unknown plugin name lists the loaded plugins of that kind and the searched dirs") {
  Registry registry;
  std::vector<std::string> errors;
  registry.load_directory(kFixtures, errors);
  CHECK_THROWS_WITH(registry.create_model("logreg", "{}"),
                    "no model plugin named 'logreg' (loaded: fixture-factory-fails, fixture-factory-throws, "
                    "fixture-good; searched " + kFixtures.string() + ")");
  CHECK_THROWS_WITH(registry.create_storage("sqlite", "{}"),
                    "no storage plugin named 'sqlite' (loaded: none; searched " + kFixtures.string() + ")");
  Registry empty;
  CHECK_THROWS_WITH(empty.create_queue("sqlite", "{}"), "no queue plugin named 'sqlite' (loaded: none)");
}

TEST_CASE("a model outlives its registry and unloads the library only when destroyed") {
  const auto good = fixture("good.so");
  REQUIRE_FALSE(is_mapped(good));
  std::shared_ptr<hitl::sdk::Model> model;
  std::weak_ptr<hitl::sdk::Model> watcher;
  {
    Registry registry;
    registry.add(hitl::plugin::load_plugin(good));
    model = registry.create_model("fixture-good", "{}");
    watcher = model;
    CHECK(is_mapped(good));
  }
  // The registry is gone; the model's code must still be there.
  CHECK(is_mapped(good));
  std::vector<hitl::sdk::Prediction> out;
  CHECK(model->predict(two_rows(), out).ok());
  CHECK(out.size() == 2);
  CHECK(model->version() == "constant-1.0.0");

  // Destroying the last reference runs the destructor (plugin code) and then unloads the
  // library, even while a weak_ptr still holds the control block.
  model.reset();
  CHECK(watcher.expired());
  CHECK_FALSE(is_mapped(good));
}

TEST_CASE("the real plugins in lib/hitl load and describe their options") {
  const fs::path dir = HITL_PLUGIN_DIR;
  std::vector<fs::path> files;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".so") files.push_back(e.path());
  if (files.empty()) {
    HITL_SKIP("no plugins built in " << dir.string() << " (build storage-sqlite etc. to run this)");
  }
  Registry registry;
  std::vector<std::string> errors;
  registry.load_directory(dir, errors);
  CHECK(errors.empty());
  for (const auto& e : errors) UNSCOPED_INFO(e);
  CHECK(registry.all().size() == files.size());
  for (const auto* p : registry.all()) {
    INFO(p->path.string());
    const std::string expected_file = std::string(hitl::sdk::kind_name(p->descriptor->kind)) + "-" +
                                      p->descriptor->name + ".so";
    CHECK(p->path.filename() == expected_file);
    REQUIRE(p->descriptor->config_doc != nullptr);
    auto doc = nlohmann::json::parse(p->descriptor->config_doc, nullptr, false);
    REQUIRE(doc.is_array());
    for (const auto& option : doc) {
      CHECK(option.contains("name"));
      CHECK(option.contains("type"));
      CHECK(option.contains("description"));
    }
  }
}
