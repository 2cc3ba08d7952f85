// Entry point of storage-sqlite.so: the descriptor the host reads through Boost.DLL.
#include "sqlite_storage.hpp"
#include "storage_config.hpp"

#include <hitl/guarded.hpp>
#include <hitl/plugin_api.hpp>
#include <hitl/plugin_entry.hpp>

namespace hitl::storage_sqlite {
namespace {

sdk::Status create_storage(const char* config_json, std::unique_ptr<sdk::Storage>& out) {
  out.reset();
  return sdk::guarded("storage-sqlite", [&] {  // e.g. bad_alloc
    StorageConfig cfg;
    if (sdk::Status st = parse_config(config_json, cfg); !st.ok()) return st;
    return open_storage(cfg, out);
  });
}

}  // namespace

}  // namespace hitl::storage_sqlite

HITL_PLUGIN_ENTRY(hitl::storage_sqlite, storage,
    "sqlite", "1.1.0", "Embedded SQLite storage (WAL, one writer connection with group commit, one read connection)",
    kConfigDoc, &create_storage)
