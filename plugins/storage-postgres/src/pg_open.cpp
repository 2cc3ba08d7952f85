// Opening: the writer connection, the migrations (under an advisory lock), the read pool.
#include "pg_schema.hpp"
#include "pg_storage.hpp"

#include <chrono>

namespace hitl::storage_postgres {

using sdk::Code;
using sdk::Status;

PgStorage::PgStorage(pg::PgConfig cfg, std::unique_ptr<pg::Session> writer)
    : cfg_(std::move(cfg)),
      writer_(std::move(writer)),
      readers_(cfg_.url, cfg_.pool_size, cfg_.statement_timeout_ms, cfg_.connect_timeout_s) {}

Status PgStorage::schema_version(int& out) noexcept {
  out = 0;
  return pg::with_session(readers_, kPlugin, "schema_version", [&](pg::Session& s) {
    pqxx::nontransaction tx(s.conn());
    out = pg::schema_version(s, tx, kComponent);
  });
}

Status open_storage(const pg::PgConfig& cfg, std::unique_ptr<sdk::Storage>& out) noexcept {
  out.reset();
  const std::string where = " (" + pg::redacted(cfg.url) + ")";
  try {
    auto writer = std::make_unique<pg::Session>(cfg.url, cfg.statement_timeout_ms, cfg.connect_timeout_s);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    int version = 0;
    if (Status st = pg::migrate(*writer, kPlugin, kComponent, migrations(), now, version); !st.ok()) {
      st.message += where;
      return st;
    }
    out = std::make_unique<PgStorage>(cfg, std::move(writer));
    return Status::Ok();
  } catch (const pqxx::failure& e) {
    // A connection that cannot be opened is the configuration's or the network's: say which URL.
    return Status::Error(pg::code_for(e), std::string(kPlugin) + ": cannot connect" + where + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Error(Code::internal, std::string(kPlugin) + ": opening" + where + " failed: " + e.what());
  }
}

}  // namespace hitl::storage_postgres
