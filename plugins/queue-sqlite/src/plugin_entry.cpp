// The plugin's entry point: the descriptor the host finds through the `hitl_plugin_descriptor` alias.
#include "queue_config.hpp"
#include "sqlite_queue.hpp"

#include <hitl/guarded.hpp>
#include <hitl/plugin_api.hpp>
#include <hitl/plugin_entry.hpp>

namespace hitl::queue_sqlite {

namespace {

sdk::Status create_queue(const char* config_json, std::unique_ptr<sdk::Queue>& out) {
  return sdk::guarded("queue-sqlite", [&] {
    QueueConfig cfg;
    sdk::Status st = parse_queue_config(config_json, cfg);
    if (!st.ok()) return st;
    return SqliteQueue::open(cfg, out);
  });
}

}  // namespace

}  // namespace hitl::queue_sqlite

HITL_PLUGIN_ENTRY(hitl::queue_sqlite, queue,
    "sqlite", "1.0.0", "Embedded review queue: a table in the SQLite file shared with storage-sqlite (WAL, leases)",
    kConfigDoc, &create_queue)
