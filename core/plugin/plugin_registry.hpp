#pragma once
// Loads plugin shared objects (Boost.DLL) and keeps them in a registry keyed by (kind, name).
//
// Every refusal is a PluginError whose what() is one line naming the file and the reason:
//   "<path>: wrong ABI version 7 (host expects 1)"
//   "<path>: missing entry point 'hitl_plugin_descriptor'"
//   "<path>: not a shared object (invalid ELF header)"
//   "<path>: factory for model 'x' failed: <message>"   (or "...threw: <what>")
//   "<path>: duplicate storage plugin 'sqlite' (already loaded from <other path>)"
//   "<path>: descriptor struct_size 24 does not match 72", "<path>: file not found", ...
// Objects created by a plugin hold a reference to its library, so the library outlives them:
// their deleter destroys the object first, then drops that reference.
// A Registry is filled once at startup; after that its const methods may be called from any
// thread (they only read the map and call the plugins' factories).
#include <hitl/plugin_api.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hitl::plugin {

class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedPlugin {
  std::filesystem::path path;
  const sdk::PluginDescriptor* descriptor = nullptr;
  std::shared_ptr<void> library;  // keeps the shared object loaded (a boost::dll::shared_library)
};

// Loads one file and validates its descriptor (ABI version first, then struct size, kind,
// name, and that the matching factory is present). Throws PluginError.
// A relative `file` is made absolute first (dlopen would otherwise search the library path).
LoadedPlugin load_plugin(const std::filesystem::path& file);

// Create an instance from one loaded plugin (what the Registry methods below use; also handy for
// `hitl plugin info` to try a config). Throw PluginError when the plugin is of another kind, or
// the factory fails ("<path>: factory for model 'x' failed: <message>") or throws.
std::shared_ptr<sdk::Model> create_model(const LoadedPlugin& plugin, const std::string& config_json);
std::shared_ptr<sdk::Queue> create_queue(const LoadedPlugin& plugin, const std::string& config_json);
std::shared_ptr<sdk::Storage> create_storage(const LoadedPlugin& plugin, const std::string& config_json);

class Registry {
 public:
  // Adds a loaded plugin; throws PluginError on a duplicate (kind, name).
  void add(LoadedPlugin plugin);
  // Loads every *.so in `dir` (non-recursive, sorted by name). Refused files are reported in
  // `errors` (one line each) and skipped; the rest are added. A missing directory is reported
  // in `errors` too ("<dir>: not a directory"). Sorting makes "which duplicate wins" stable.
  void load_directory(const std::filesystem::path& dir, std::vector<std::string>& errors);

  const LoadedPlugin* find(sdk::PluginKind kind, const std::string& name) const;
  // Like find(), but throws PluginError naming the loaded plugins of that kind and the searched
  // directories: "no model plugin named 'x' (loaded: a, b; searched /usr/lib/hitl)".
  const LoadedPlugin& require(sdk::PluginKind kind, const std::string& name) const;
  std::vector<const LoadedPlugin*> all() const;  // ordered by (kind, name)

  // Create an instance with `config_json` (a JSON object as text). Throw PluginError when the
  // plugin is unknown ("no model plugin named 'x' (loaded: a, b)"), the factory fails or throws.
  std::shared_ptr<sdk::Model> create_model(const std::string& name, const std::string& config_json) const;
  std::shared_ptr<sdk::Queue> create_queue(const std::string& name, const std::string& config_json) const;
  std::shared_ptr<sdk::Storage> create_storage(const std::string& name, const std::string& config_json) const;

 private:
  std::map<std::pair<sdk::PluginKind, std::string>, LoadedPlugin> plugins_;
  std::vector<std::filesystem::path> searched_;  // directories given to load_directory
};

}  // namespace hitl::plugin
