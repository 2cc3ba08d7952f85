// The plugin loader against real shared objects: the fixtures in tests/fixtures (one good
// plugin, one per way of being broken) and, when built, the real plugins in lib/hitl.
#include "plugin/plugin_registry.hpp"

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "support/skip.hpp"
#include <nlohmann/json.hpp>

#include <cstddef>
#include <fstream>
#include <map>
#include <iterator>
#include <unistd.h>

namespace fs = std::filesystem;
using hitl::plugin::LoadedPlugin;
using hitl::test::TempDir;
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

// The size of descriptor format 6's head: what the loader requires at least.
const std::size_t kFormat6Size =
    offsetof(hitl::sdk::PluginDescriptor, struct_count) + sizeof(hitl::sdk::PluginDescriptor::struct_count);

TEST_CASE("a descriptor format from a later SDK is refused, before reading past 8 bytes") {
  // bad_abi.so puts a guard page right after its 8-byte header: reading more would crash here.
  CHECK(refusal(fixture("bad_abi.so")) ==
        fixture("bad_abi.so").string() + ": descriptor format 7 is newer than this host's " +
            std::to_string(HITL_SDK_ABI_VERSION));
}

TEST_CASE("a plugin of the whole-API ABI 1..5 is refused by its version, saying what to do") {
  CHECK(refusal(fixture("old_abi.so")) ==
        fixture("old_abi.so").string() + ": plugin ABI 5 predates per-interface versions (host reads descriptor format " +
            std::to_string(HITL_SDK_ABI_VERSION) + "): rebuild the plugin against this SDK");
}

TEST_CASE("a descriptor shorter than its format's head is refused") {
  CHECK(refusal(fixture("bad_struct_size.so")) ==
        fixture("bad_struct_size.so").string() + ": descriptor struct_size 24 is smaller than format " +
            std::to_string(HITL_SDK_ABI_VERSION) + "'s " + std::to_string(kFormat6Size));
}

TEST_CASE("a longer descriptor from a later SDK loads, the host copying only the fields it knows") {
  auto plugin = hitl::plugin::load_plugin(fixture("longer_descriptor.so"));
  CHECK(plugin.descriptor->struct_size > sizeof(hitl::sdk::PluginDescriptor));
  CHECK(std::string(plugin.descriptor->name) == "fixture-longer-descriptor");
  auto model = hitl::plugin::create_model(plugin, "{}");
  CHECK(model->version() == "fixture-longer-descriptor");
}

TEST_CASE("another interface major, or a newer minor, is refused naming both versions") {
  const auto host = std::to_string(hitl::sdk::kModelApi.major) + "." + std::to_string(hitl::sdk::kModelApi.minor);
  const auto next_major = std::to_string(hitl::sdk::kModelApi.major + 1) + ".0";
  const auto next_minor = std::to_string(hitl::sdk::kModelApi.major) + "." + std::to_string(hitl::sdk::kModelApi.minor + 1);
  // Both fixtures are compiled against generated next-release headers (make-sdk-variant.cmake).
  CHECK(refusal(fixture("model_next_major.so")) ==
        fixture("model_next_major.so").string() + ": model interface " + next_major + " (host has " + host + ")");
  CHECK(refusal(fixture("model_next_minor.so")) ==
        fixture("model_next_minor.so").string() + ": model interface " + next_minor + " (host has " + host + ")");
}

TEST_CASE("struct sizes other than the host's are refused naming the struct") {
  const auto prediction = std::to_string(sizeof(hitl::sdk::Prediction));
  CHECK(refusal(fixture("bad_struct_sizes.so")) ==
        fixture("bad_struct_sizes.so").string() + ": model interface " + std::to_string(hitl::sdk::kModelApi.major) +
            "." + std::to_string(hitl::sdk::kModelApi.minor) + ": struct Prediction is " +
            std::to_string(sizeof(hitl::sdk::Prediction) - 24) + " bytes, host has " + prediction +
            " (built with another standard library ABI or an edited header?)");
}

TEST_CASE("the loaded descriptor records the interface version and struct sizes it was built with") {
  auto plugin = hitl::plugin::load_plugin(fixture("good.so"));
  CHECK(plugin.descriptor->api.major == hitl::sdk::kModelApi.major);
  CHECK(plugin.descriptor->api.minor == hitl::sdk::kModelApi.minor);
  REQUIRE(plugin.descriptor->struct_count == std::size(hitl::sdk::kModelStructSizes));
  CHECK(plugin.descriptor->struct_sizes[3] == sizeof(hitl::sdk::Prediction));
  CHECK(plugin.descriptor != nullptr);
  CHECK(plugin.descriptor == plugin.descriptor_copy.get());  // the host's checked copy

  // Every object it creates remembers that version, for the host's calls of later methods.
  auto model = hitl::plugin::create_model(plugin, "{}");
  const auto api = hitl::plugin::api_of(model);
  REQUIRE(api.has_value());
  CHECK((api->major == hitl::sdk::kModelApi.major && api->minor == hitl::sdk::kModelApi.minor));
  CHECK_FALSE(hitl::plugin::api_of(std::shared_ptr<hitl::sdk::Model>()).has_value());
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
  // Every refusal is checked in full by the cases above; here only which files, in order.
  const std::vector<std::string> refused = {"bad_abi.so",          "bad_struct_size.so", "bad_struct_sizes.so",
                                            "good.so",             "missing_alias.so",   "model_next_major.so",
                                            "model_next_minor.so", "not_elf.so",         "old_abi.so"};
  REQUIRE(errors.size() == refused.size());
  for (std::size_t i = 0; i < refused.size(); ++i) CHECK(errors[i].rfind(dir + refused[i] + ": ", 0) == 0);
  CHECK(errors[3] == dir + "good.so: duplicate model plugin 'fixture-good' (already loaded from " + dir + "duplicate.so)");

  std::vector<std::string> names;
  for (const auto* p : registry.all()) names.emplace_back(p->descriptor->name);
  CHECK(names == std::vector<std::string>{"fixture-factory-fails", "fixture-factory-throws", "fixture-good",
                                          "fixture-longer-descriptor"});
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
                    "fixture-good, fixture-longer-descriptor; searched " + kFixtures.string() + ")");
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
  // File options are declared as paths, so the host resolves them against the config's folder.
  const std::map<std::pair<PluginKind, std::string>, std::vector<std::string>> file_options = {
      {{PluginKind::storage, "sqlite"}, {"path"}},
      {{PluginKind::queue, "sqlite"}, {"path"}},
      {{PluginKind::model, "logreg"}, {"artifact"}},
      {{PluginKind::model, "xgboost"}, {"artifact"}},
      {{PluginKind::model, "http"}, {}},
  };
  for (const auto& [key, names] : file_options)
    if (const auto* p = registry.find(key.first, key.second)) {
      INFO(p->path.string());
      CHECK(hitl::plugin::declared_path_options(*p->descriptor) == names);
    }
}

TEST_CASE("declared path options come from the descriptor's config_doc, looked up by kind and name") {
  auto good = hitl::plugin::load_plugin(fixture("good.so"));
  CHECK(hitl::plugin::declared_path_options(*good.descriptor) == std::vector<std::string>{"rules_file"});

  hitl::sdk::PluginDescriptor d = *good.descriptor;
  d.config_doc = R"([{"name":"a","type":"path"},{"name":"b","type":"string"},{"type":"path"},7,{"name":"c","type":"path"}])";
  CHECK(hitl::plugin::declared_path_options(d) == std::vector<std::string>{"a", "c"});
  d.config_doc = "not json";
  CHECK(hitl::plugin::declared_path_options(d).empty());
  d.config_doc = nullptr;
  CHECK(hitl::plugin::declared_path_options(d).empty());

  hitl::plugin::PathOptionCatalog catalog;
  const std::vector<fs::path> dirs = {kFixtures, kFixtures / "no-such-dir"};
  CHECK(catalog.path_options(dirs, "model", "fixture-good") == std::vector<std::string>{"rules_file"});
  CHECK(catalog.path_options(dirs, "queue", "fixture-good").empty());   // same name, other kind
  CHECK(catalog.path_options(dirs, "model", "not-loaded").empty());
  CHECK(catalog.path_options({}, "model", "fixture-good").empty());     // other dirs: asked again
}

TEST_CASE("the path option catalog hands its loaded plugins over, so the service opens each file once") {
  const std::vector<fs::path> dirs = {kFixtures, kFixtures / "no-such-dir"};
  hitl::plugin::PathOptionCatalog catalog;
  REQUIRE(catalog.path_options(dirs, "model", "fixture-good") == std::vector<std::string>{"rules_file"});
  auto loaded = catalog.take(dirs);
  REQUIRE(loaded.registry);
  CHECK(loaded.dirs == dirs);
  const auto* good = loaded.registry->find(hitl::sdk::PluginKind::model, "fixture-good");
  REQUIRE(good);
  CHECK(good->path == fixture("duplicate.so"));  // the first in name order; good.so is refused as its duplicate
  CHECK_FALSE(loaded.refused.empty());  // the broken fixtures, one line each
  for (const auto& line : loaded.refused) CHECK(line.find('\n') == std::string::npos);
  CHECK(loaded.registry->create_model("fixture-good", "{}"));

  // Taken without a question first (or for other folders): loaded then.
  hitl::plugin::PathOptionCatalog unasked;
  auto fresh = unasked.take({kFixtures});
  REQUIRE(fresh.registry);
  CHECK(fresh.registry->find(hitl::sdk::PluginKind::model, "fixture-good"));
  CHECK(hitl::plugin::load_plugin_dirs({kFixtures / "no-such-dir"}).registry->all().empty());
}
