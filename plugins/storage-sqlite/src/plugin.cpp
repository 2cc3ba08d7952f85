// Entry point of storage-sqlite.so: the descriptor the host reads through Boost.DLL.
#include "sqlite_storage.hpp"
#include "storage_config.hpp"

#include <hitl/plugin_api.hpp>

#include <boost/dll/alias.hpp>

#include <exception>

namespace hitl::storage_sqlite {
namespace {

sdk::Status create_storage(const char* config_json, std::unique_ptr<sdk::Storage>& out) {
  out.reset();
  try {
    StorageConfig cfg;
    if (sdk::Status st = parse_config(config_json, cfg); !st.ok()) return st;
    return open_storage(cfg, out);
  } catch (const std::exception& e) {  // e.g. bad_alloc: keep exceptions inside the plugin
    return sdk::Status::Error(sdk::Code::internal, std::string("storage-sqlite: ") + e.what());
  }
}

}  // namespace

const sdk::PluginDescriptor* descriptor() {
  static const sdk::PluginDescriptor d = sdk::storage_descriptor(
      "sqlite", "1.1.0", "Embedded SQLite storage (WAL, one writer connection with group commit, one read connection)",
      kConfigDoc, &create_storage);
  return &d;
}

}  // namespace hitl::storage_sqlite

HITL_DECLARE_PLUGIN(hitl::storage_sqlite::descriptor)
