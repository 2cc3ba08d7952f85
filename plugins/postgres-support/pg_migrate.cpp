#include "pg_migrate.hpp"

namespace hitl::pg {

namespace {
// One lock for every component's migrations: they share schema_migrations.
constexpr const char* kLock = "SELECT pg_advisory_xact_lock(hashtext('hitl.schema_migrations'))";
constexpr const char* kDdl =
    "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT NOT NULL, version INTEGER NOT NULL, "
    "applied_ms BIGINT NOT NULL, PRIMARY KEY(component, version))";
// A database already at `latest` needs no lock and no DDL: this reads only, so a hot standby (a
// read replica for the reports, docs/deploy.md) opens too, and instances starting together on an
// up-to-date database do not queue on the lock. A version that moves meanwhile was committed
// whole by someone holding the lock.
bool up_to_date(Session& s, const char* component, int latest, int& version) {
  pqxx::read_transaction tx(s.conn());
  if (!tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>()) return false;
  version = schema_version(s, tx, component);
  return version == latest;
}
}  // namespace

int schema_version(Session& s, pqxx::transaction_base& tx, const char* component) {
  const auto r = s.run(tx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1",
                       params(std::string(component)));
  return r[0][0].as<int>();
}

sdk::Status migrate(Session& s, const char* plugin, const char* component, const std::vector<Migration>& migrations,
                    std::int64_t now_ms, int& version) noexcept {
  const char* step = "reading the schema version";
  int applying = 0;
  try {
    const int latest = migrations.empty() ? 0 : migrations.back().version;
    if (up_to_date(s, component, latest, version)) return sdk::Status::Ok();
    step = "taking the migration lock";
    pqxx::work tx(s.conn());
    tx.exec(kLock);
    step = "creating schema_migrations";
    tx.exec(kDdl);
    step = "reading the schema version";
    version = schema_version(s, tx, component);
    if (version > latest)
      return sdk::Status::Error(sdk::Code::conflict,
                                std::string(plugin) + ": the database has " + component + " schema version " +
                                    std::to_string(version) + " but this plugin knows versions up to " +
                                    std::to_string(latest) + "; it was written by a newer hitl: upgrade the plugin (refusing to open it)");
    for (const auto& m : migrations) {
      if (m.version <= version) continue;
      applying = m.version;
      step = "applying migration";
      tx.exec(m.sql);
      s.run(tx, "INSERT INTO schema_migrations(component, version, applied_ms) VALUES($1, $2, $3)",
            params(std::string(component), std::int64_t{m.version}, now_ms));
      version = m.version;
    }
    step = "committing the migrations";
    tx.commit();
    return sdk::Status::Ok();
  } catch (const pqxx::failure& e) {
    std::string where = step;
    if (applying) where += " " + std::to_string(applying);
    return sdk::Status::Error(code_for(e), std::string(plugin) + ": " + where + " failed: " + e.what());
  } catch (const std::exception& e) {
    return sdk::Status::Error(sdk::Code::internal, std::string(plugin) + ": " + step + " failed: " + e.what());
  }
}

}  // namespace hitl::pg
