#pragma once
// Loads plugin shared objects (Boost.DLL) and keeps them in a registry keyed by (kind, name).
//
// Every refusal is a PluginError whose what() is one line naming the file and the reason:
//   "<path>: model interface 2.0 (host has 1.3)"       (another major, or a newer minor)
//   "<path>: plugin ABI 5 predates per-interface versions (host reads descriptor format 6): ..."
//   "<path>: descriptor format 7 is newer than this host's 6"
//   "<path>: storage interface 1.0: struct WriteBatch is 312 bytes, host has 320 (...)"
//   "<path>: missing entry point 'hitl_plugin_descriptor'"
//   "<path>: not a shared object (invalid ELF header)"
//   "<path>: factory for model 'x' failed: <message>"   (or "...threw: <what>")
//   "<path>: duplicate storage plugin 'sqlite' (already loaded from <other path>)"
//   "<path>: descriptor struct_size 24 is smaller than format 6's 84", "<path>: file not found", ...
// Objects created by a plugin hold a reference to its library, so the library outlives them:
// their deleter destroys the object first, then drops that reference. The deleter also keeps the
// plugin's interface version: api_of(object) says which methods the host may call on it.
// A Registry is filled once at startup; after that its const methods may be called from any
// thread (they only read the map and call the plugins' factories).
#include <hitl/plugin_api.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hitl::plugin {

class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadedPlugin {
  std::filesystem::path path;
  // The checked copy of the plugin's descriptor (see load_plugin); its strings and factories
  // point into the library.
  const sdk::PluginDescriptor* descriptor = nullptr;
  std::shared_ptr<const sdk::PluginDescriptor> descriptor_copy;  // owns *descriptor
  std::shared_ptr<void> library;  // keeps the shared object loaded (a boost::dll::shared_library)
};

// Loads one file and validates its descriptor: the descriptor format first, then its size (a
// longer one from a later SDK is fine; the host copies only the fields it knows, and fields the
// plugin's older SDK lacked stay zero), kind, name, the interface version (same major, minor
// not newer than the host's) and struct sizes, and that only the matching factory is present.
// A method added in interface minor m may be called only on objects of plugins whose
// descriptor->api.minor >= m (docs/plugin-sdk.md). Throws PluginError.
// A relative `file` is made absolute first (dlopen would otherwise search the library path).
LoadedPlugin load_plugin(const std::filesystem::path& file);

// The deleter of every object a plugin creates: destroys the object (its destructor is plugin
// code) and only then drops the library. It also remembers the plugin's interface version,
// which the host needs for as long as the object lives (see api_of).
template <class T>
struct PluginObjectDeleter {
  std::shared_ptr<void> library;
  sdk::ApiVersion api;
  void operator()(T* object) {
    delete object;
    library.reset();
  }
};

// The interface version of the plugin that created `object` (nullopt for an object no plugin
// made, e.g. a test double). The host calls a method added in minor m only when this says
// minor >= m: an older plugin's vtable ends before that method's slot.
template <class T>
std::optional<sdk::ApiVersion> api_of(const std::shared_ptr<T>& object) {
  if (const auto* deleter = std::get_deleter<PluginObjectDeleter<T>>(object)) return deleter->api;
  return std::nullopt;
}

// Create an instance from one loaded plugin (what the Registry methods below use; also handy for
// `hitl plugin info` to try a config). Throw PluginError when the plugin is of another kind, or
// the factory fails ("<path>: factory for model 'x' failed: <message>") or throws.
std::shared_ptr<sdk::Model> create_model(const LoadedPlugin& plugin, const std::string& config_json);
std::shared_ptr<sdk::Queue> create_queue(const LoadedPlugin& plugin, const std::string& config_json);
std::shared_ptr<sdk::Storage> create_storage(const LoadedPlugin& plugin, const std::string& config_json);

// The names of the options `descriptor.config_doc` declares with "type": "path" (an unreadable
// doc declares none: the plugin is loaded and its factory will judge its own config).
std::vector<std::string> declared_path_options(const sdk::PluginDescriptor& descriptor);

class Registry;

// The plugins of some folders, each file opened once, with the files refused (one line each).
struct LoadedPlugins {
  std::vector<std::filesystem::path> dirs;  // as given
  std::unique_ptr<Registry> registry;       // null: nothing loaded
  std::vector<std::string> refused;
};

// Loads every folder of `dirs` that is a directory (one that is not is skipped: whoever uses the
// plugins decides whether that is an error).
LoadedPlugins load_plugin_dirs(const std::vector<std::filesystem::path>& dirs);

// Answers config::PathOptionsOf from the descriptors of the plugins in the config's
// plugin_dirs, which it loads once, on the first question. The service then takes the loaded
// plugins (take) instead of opening every file a second time; it reports the refused files.
class PathOptionCatalog {
 public:
  PathOptionCatalog();
  ~PathOptionCatalog();
  std::vector<std::string> path_options(const std::vector<std::filesystem::path>& plugin_dirs, std::string_view kind,
                                        const std::string& plugin);
  // The plugins of `plugin_dirs`: the ones the questions loaded, else loaded now. The catalog is
  // empty afterwards (a later question loads the folders again).
  LoadedPlugins take(const std::vector<std::filesystem::path>& plugin_dirs);

 private:
  const Registry& loaded_for(const std::vector<std::filesystem::path>& plugin_dirs);
  LoadedPlugins loaded_;
};

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
