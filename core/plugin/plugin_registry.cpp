// Boost.DLL stays in this file: the header only exposes the SDK and standard types.
#include "plugin/plugin_registry.hpp"

#include <boost/dll/shared_library.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstring>
#include <exception>
#include <system_error>

namespace hitl::plugin {
namespace fs = std::filesystem;

namespace {

constexpr const char* kEntry = HITL_PLUGIN_ENTRY_SYMBOL;

// A plugin's own text (a factory's Status message, an exception's what()) may span lines;
// every refusal stays on one line so logs and `hitl plugin info` read cleanly.
std::string one_line(std::string s) {
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

[[noreturn]] void refuse(const fs::path& file, const std::string& reason) {
  throw PluginError(file.string() + ": " + reason);
}

// Boost.DLL reports dlopen failures as std::system_error whose what() ends with
// "... (dlerror system message: <file>: <reason>): <error code message>". Turn that into our
// own short reason.
std::string describe_load_failure(const fs::path& file, const std::system_error& error) {
  static const std::string marker = "dlerror system message: ";
  std::string what = error.what();
  const std::string code_suffix = "): " + error.code().message();
  auto at = what.find(marker);
  if (at == std::string::npos || what.size() < code_suffix.size() ||
      what.compare(what.size() - code_suffix.size(), std::string::npos, code_suffix) != 0)
    return "cannot load: " + one_line(what);
  std::string text = what.substr(at + marker.size(), what.size() - code_suffix.size() - at - marker.size());
  const std::string own_prefix = file.string() + ": ";
  const bool about_this_file = text.rfind(own_prefix, 0) == 0;
  if (about_this_file) text.erase(0, own_prefix.size());
  text = one_line(text);

  if (about_this_file && (text == "invalid ELF header" || text == "file too short"))
    return "not a shared object (" + text + ")";
  if (about_this_file && text.rfind("wrong ELF class", 0) == 0)
    return "not a shared object for this machine (" + text + ")";
  if (!about_this_file && text.find("cannot open shared object file") != std::string::npos)
    return "cannot load a library it depends on: " + text;
  return "cannot load: " + text;
}

bool valid_name(const char* name) {
  if (name == nullptr || *name == '\0') return false;
  for (const char* c = name; *c; ++c) {
    const bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                    *c == '-' || *c == '_' || *c == '.';
    if (!ok) return false;
  }
  return true;
}

// Exactly the factory matching the kind must be set: a descriptor that sets another one was
// filled in carelessly, and the host would never call it anyway.
void check_factories(const fs::path& file, const sdk::PluginDescriptor& d) {
  const std::string kind = sdk::kind_name(d.kind);
  struct Slot { sdk::PluginKind kind; const char* field; bool set; };
  const Slot slots[] = {
      {sdk::PluginKind::model, "create_model", d.create_model != nullptr},
      {sdk::PluginKind::queue, "create_queue", d.create_queue != nullptr},
      {sdk::PluginKind::storage, "create_storage", d.create_storage != nullptr},
  };
  for (const auto& s : slots) {
    if (s.kind == d.kind && !s.set)
      refuse(file, kind + " plugin '" + d.name + "' has no " + s.field + " factory");
    if (s.kind != d.kind && s.set)
      refuse(file, kind + " plugin '" + d.name + "' also sets " + s.field +
                       " (only the factory matching its kind may be set)");
  }
}

std::string version_text(sdk::ApiVersion v) { return std::to_string(v.major) + "." + std::to_string(v.minor); }

struct InterfaceTable {
  sdk::ApiVersion version;
  const std::uint32_t* sizes;
  const char* const* names;
  std::uint32_t count;
};

// What this host was compiled with, for the interface of `kind` (kind already validated).
InterfaceTable host_interface(sdk::PluginKind kind) {
  switch (kind) {
    case sdk::PluginKind::model:
      return {sdk::kModelApi, sdk::kModelStructSizes, sdk::kModelStructNames, std::size(sdk::kModelStructSizes)};
    case sdk::PluginKind::queue:
      return {sdk::kQueueApi, sdk::kQueueStructSizes, sdk::kQueueStructNames, std::size(sdk::kQueueStructSizes)};
    case sdk::PluginKind::storage:
      break;
  }
  return {sdk::kStorageApi, sdk::kStorageStructSizes, sdk::kStorageStructNames, std::size(sdk::kStorageStructSizes)};
}

// The interface version rule: same major, a minor not newer than the host's. Then the struct
// sizes the plugin was compiled with must be the host's: within a major a struct never changes,
// and a minor only appends structs, so an older minor lists a prefix of the host's table.
void check_interface(const fs::path& file, const sdk::PluginDescriptor& d) {
  const InterfaceTable host = host_interface(d.kind);
  const std::string what = std::string(sdk::kind_name(d.kind)) + " interface " + version_text(d.api);
  if (d.api.major != host.version.major || d.api.minor > host.version.minor)
    refuse(file, what + " (host has " + version_text(host.version) + ")");

  const bool same_minor = d.api.minor == host.version.minor;
  if (d.struct_sizes == nullptr || d.struct_count == 0 || d.struct_count > host.count ||
      (same_minor && d.struct_count != host.count))
    refuse(file, what + ": descriptor lists " + std::to_string(d.struct_count) + " struct sizes (host has " +
                     std::to_string(host.count) + " for " + version_text(host.version) + ")");
  for (std::uint32_t i = 0; i < d.struct_count; ++i)
    if (d.struct_sizes[i] != host.sizes[i])
      refuse(file, what + ": struct " + host.names[i] + " is " + std::to_string(d.struct_sizes[i]) +
                       " bytes, host has " + std::to_string(host.sizes[i]) +
                       " (built with another standard library ABI or an edited header?)");
}

// The head of format 6: every field up to struct_count. A descriptor may be longer (a later
// SDK appended fields), never shorter.
constexpr std::size_t kFormat6Size =
    offsetof(sdk::PluginDescriptor, struct_count) + sizeof(sdk::PluginDescriptor::struct_count);

// Reads a descriptor of any format without touching bytes it may not have: the version first,
// then the size, then a copy of at most our own size (fields we know but the plugin's older
// SDK did not are left zero). Checks everything the host relies on before any factory runs.
sdk::PluginDescriptor read_descriptor(const fs::path& file, const sdk::PluginDescriptor* descriptor) {
  const auto* raw = reinterpret_cast<const unsigned char*>(descriptor);
  std::uint32_t format = 0;
  std::memcpy(&format, raw + offsetof(sdk::PluginDescriptor, abi_version), sizeof format);
  if (format < sdk::kAbiVersion)
    refuse(file, "plugin ABI " + std::to_string(format) + " predates per-interface versions (host reads descriptor format " +
                     std::to_string(sdk::kAbiVersion) + "): rebuild the plugin against this SDK");
  if (format > sdk::kAbiVersion)
    refuse(file, "descriptor format " + std::to_string(format) + " is newer than this host's " +
                     std::to_string(sdk::kAbiVersion));
  std::uint32_t size = 0;
  std::memcpy(&size, raw + offsetof(sdk::PluginDescriptor, struct_size), sizeof size);
  if (size < kFormat6Size)
    refuse(file, "descriptor struct_size " + std::to_string(size) + " is smaller than format " +
                     std::to_string(sdk::kAbiVersion) + "'s " + std::to_string(kFormat6Size));

  sdk::PluginDescriptor d{};
  std::memcpy(&d, raw, std::min<std::size_t>(size, sizeof d));
  const auto kind_value = static_cast<std::uint32_t>(d.kind);
  if (kind_value < 1 || kind_value > 3) refuse(file, "unknown plugin kind " + std::to_string(kind_value));
  if (!valid_name(d.name))
    refuse(file, std::string("plugin name '") + (d.name ? d.name : "") +
                     "' is empty or not made of letters, digits, '-', '_' and '.'");
  check_interface(file, d);
  check_factories(file, d);
  return d;
}

// Calls a plugin factory and wraps the object in a shared_ptr whose deleter destroys the
// object first (its destructor is code in the plugin) and only then drops the library.
template <class T>
std::shared_ptr<T> create_instance(const LoadedPlugin& plugin, sdk::PluginKind kind,
                                   sdk::Status (*factory)(const char*, std::unique_ptr<T>&),
                                   const std::string& config_json) {
  const auto* d = plugin.descriptor;
  if (d == nullptr || !plugin.library) throw PluginError(plugin.path.string() + ": plugin is not loaded");
  const std::string what = std::string(sdk::kind_name(kind)) + " '" + d->name + "'";
  if (d->kind != kind)
    refuse(plugin.path, std::string("is a ") + sdk::kind_name(d->kind) + " plugin, not a " +
                            sdk::kind_name(kind) + " plugin");
  if (factory == nullptr) refuse(plugin.path, "no factory for " + what);

  std::unique_ptr<T> made;
  sdk::Status status;
  try {
    status = factory(config_json.c_str(), made);
  } catch (const std::exception& e) {
    refuse(plugin.path, "factory for " + what + " threw: " + one_line(e.what()));
  } catch (...) {
    refuse(plugin.path, "factory for " + what + " threw a non-standard exception");
  }
  if (!status.ok()) {
    made.reset();  // a failing factory should not hand out an object; never leak one if it does
    refuse(plugin.path, "factory for " + what + " failed: " + one_line(status.message));
  }
  if (!made) refuse(plugin.path, "factory for " + what + " returned no object");

  return std::shared_ptr<T>(made.release(), PluginObjectDeleter<T>{plugin.library, d->api});
}

}  // namespace

LoadedPlugin load_plugin(const fs::path& file_in) {
  // A bare name would make dlopen search the library path; always hand it an absolute path.
  std::error_code ec;
  const fs::path file = fs::absolute(file_in, ec).lexically_normal();
  if (ec) refuse(file_in, "cannot resolve path: " + ec.message());
  const auto status = fs::status(file, ec);
  if (!fs::exists(status)) refuse(file, "file not found");
  if (!fs::is_regular_file(status)) refuse(file, "not a regular file");

  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::system_error& e) {
    refuse(file, describe_load_failure(file, e));
  }

  // has() before get(): get() on a missing symbol throws with dlerror text we do not want.
  if (!library->has(kEntry)) refuse(file, std::string("missing entry point '") + kEntry + "'");
  const sdk::PluginDescriptor* descriptor = nullptr;
  try {
    auto& entry = library->get_alias<const sdk::PluginDescriptor*()>(kEntry);
    descriptor = entry();
  } catch (const std::exception& e) {
    refuse(file, std::string("entry point '") + kEntry + "' threw: " + one_line(e.what()));
  } catch (...) {
    refuse(file, std::string("entry point '") + kEntry + "' threw a non-standard exception");
  }
  if (descriptor == nullptr) refuse(file, std::string("entry point '") + kEntry + "' returned no descriptor");

  auto copy = std::make_shared<const sdk::PluginDescriptor>(read_descriptor(file, descriptor));
  const auto* checked = copy.get();
  return LoadedPlugin{file, checked, std::move(copy), std::move(library)};
}

std::shared_ptr<sdk::Model> create_model(const LoadedPlugin& plugin, const std::string& config_json) {
  return create_instance(plugin, sdk::PluginKind::model,
                         plugin.descriptor ? plugin.descriptor->create_model : nullptr, config_json);
}

std::shared_ptr<sdk::Queue> create_queue(const LoadedPlugin& plugin, const std::string& config_json) {
  return create_instance(plugin, sdk::PluginKind::queue,
                         plugin.descriptor ? plugin.descriptor->create_queue : nullptr, config_json);
}

std::shared_ptr<sdk::Storage> create_storage(const LoadedPlugin& plugin, const std::string& config_json) {
  return create_instance(plugin, sdk::PluginKind::storage,
                         plugin.descriptor ? plugin.descriptor->create_storage : nullptr, config_json);
}

// ---------------------------------------------------------------------------------------------

void Registry::add(LoadedPlugin plugin) {
  if (plugin.descriptor == nullptr || !plugin.library)
    throw PluginError(plugin.path.string() + ": plugin is not loaded");
  auto key = std::make_pair(plugin.descriptor->kind, std::string(plugin.descriptor->name));
  if (auto it = plugins_.find(key); it != plugins_.end())
    refuse(plugin.path, std::string("duplicate ") + sdk::kind_name(key.first) + " plugin '" + key.second +
                            "' (already loaded from " + it->second.path.string() + ")");
  plugins_.emplace(std::move(key), std::move(plugin));
}

void Registry::load_directory(const fs::path& dir_in, std::vector<std::string>& errors) {
  std::error_code ec;
  const fs::path dir = fs::absolute(dir_in, ec).lexically_normal();
  if (ec || !fs::is_directory(dir, ec)) {
    errors.push_back(dir_in.string() + ": not a directory");
    return;
  }
  searched_.push_back(dir);

  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".so") files.push_back(it->path());
  if (ec) errors.push_back(dir.string() + ": cannot list directory: " + ec.message());
  std::sort(files.begin(), files.end());  // a stable order decides which duplicate wins

  for (const auto& file : files) {
    try {
      add(load_plugin(file));
    } catch (const PluginError& e) {
      errors.emplace_back(e.what());
    }
  }
}

const LoadedPlugin* Registry::find(sdk::PluginKind kind, const std::string& name) const {
  auto it = plugins_.find({kind, name});
  return it == plugins_.end() ? nullptr : &it->second;
}

std::vector<const LoadedPlugin*> Registry::all() const {
  std::vector<const LoadedPlugin*> out;
  out.reserve(plugins_.size());
  for (const auto& [key, plugin] : plugins_) out.push_back(&plugin);
  return out;
}

const LoadedPlugin& Registry::require(sdk::PluginKind kind, const std::string& name) const {
  if (const auto* found = find(kind, name)) return *found;
  std::string loaded;
  for (const auto& [key, plugin] : plugins_)
    if (key.first == kind) loaded += (loaded.empty() ? "" : ", ") + key.second;
  std::string message = std::string("no ") + sdk::kind_name(kind) + " plugin named '" + name + "' (loaded: " +
                        (loaded.empty() ? std::string("none") : loaded);
  if (!searched_.empty()) {
    message += "; searched ";
    for (std::size_t i = 0; i < searched_.size(); ++i) message += (i ? ", " : "") + searched_[i].string();
  }
  throw PluginError(message + ")");
}

std::shared_ptr<sdk::Model> Registry::create_model(const std::string& name, const std::string& config_json) const {
  return plugin::create_model(require(sdk::PluginKind::model, name), config_json);
}

std::shared_ptr<sdk::Queue> Registry::create_queue(const std::string& name, const std::string& config_json) const {
  return plugin::create_queue(require(sdk::PluginKind::queue, name), config_json);
}

std::shared_ptr<sdk::Storage> Registry::create_storage(const std::string& name,
                                                       const std::string& config_json) const {
  return plugin::create_storage(require(sdk::PluginKind::storage, name), config_json);
}

}  // namespace hitl::plugin

namespace hitl::plugin {

std::vector<std::string> declared_path_options(const sdk::PluginDescriptor& descriptor) {
  std::vector<std::string> names;
  if (descriptor.config_doc == nullptr) return names;
  const auto doc = nlohmann::json::parse(descriptor.config_doc, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) return names;
  for (const auto& option : doc) {
    if (!option.is_object() || !option.contains("name") || !option.contains("type")) continue;
    if (option["name"].is_string() && option["type"] == "path") names.push_back(option["name"].get<std::string>());
  }
  return names;
}

LoadedPlugins load_plugin_dirs(const std::vector<fs::path>& dirs) {
  LoadedPlugins out{dirs, std::make_unique<Registry>(), {}};
  for (const auto& dir : dirs)
    if (std::error_code ec; fs::is_directory(dir, ec)) out.registry->load_directory(dir, out.refused);
  return out;
}

PathOptionCatalog::PathOptionCatalog() = default;
PathOptionCatalog::~PathOptionCatalog() = default;

const Registry& PathOptionCatalog::loaded_for(const std::vector<fs::path>& plugin_dirs) {
  if (!loaded_.registry || loaded_.dirs != plugin_dirs) loaded_ = load_plugin_dirs(plugin_dirs);
  return *loaded_.registry;
}

std::vector<std::string> PathOptionCatalog::path_options(const std::vector<fs::path>& plugin_dirs,
                                                         std::string_view kind, const std::string& plugin) {
  for (const auto* p : loaded_for(plugin_dirs).all())
    if (sdk::kind_name(p->descriptor->kind) == kind && plugin == p->descriptor->name)
      return declared_path_options(*p->descriptor);
  return {};
}

LoadedPlugins PathOptionCatalog::take(const std::vector<fs::path>& plugin_dirs) {
  loaded_for(plugin_dirs);
  return std::exchange(loaded_, LoadedPlugins{});
}

}  // namespace hitl::plugin
