// Entry point of storage-postgres.so: the descriptor the host reads through Boost.DLL.
#include "pg_config.hpp"
#include "pg_storage.hpp"

#include <hitl/guarded.hpp>
#include <hitl/plugin_api.hpp>
#include <hitl/plugin_entry.hpp>

namespace hitl::storage_postgres {
namespace {

sdk::Status create_storage(const char* config_json, std::unique_ptr<sdk::Storage>& out) {
  out.reset();
  return sdk::guarded(kPlugin, [&] {
    pg::PgConfig cfg;
    if (sdk::Status st = pg::parse_config(config_json, kPlugin, cfg); !st.ok()) return st;
    return open_storage(cfg, out);
  });
}

}  // namespace
}  // namespace hitl::storage_postgres

HITL_PLUGIN_ENTRY(hitl::storage_postgres, storage,
    "postgres", "1.1.0", "PostgreSQL storage (libpqxx: one writer connection per instance, a read pool, migrations under an advisory lock)",
    hitl::pg::kConfigDoc, &create_storage)
