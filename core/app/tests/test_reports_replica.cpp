// Read replicas for the reports (docs/deploy.md "Past one database"): an App whose storage is a
// PostgreSQL primary and whose reports_storage is a hot standby of it, both started here
// (tests/support/pg-test-server.sh, pg-standby.sh). The reports read the standby, which opens
// read-only (its schema is current: no migration lock, no DDL), sees what the primary committed
// once replayed, and refuses every write.
#include "shared_instance.hpp"

#include "ingest/pipeline.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <thread>

namespace {
using namespace std::chrono_literals;
namespace sdk = hitl::sdk;

const std::string kSupport = std::string(HITL_SOURCE_DIR) + "/tests/support/";

std::string field(const std::filesystem::path& state, const std::string& key) {
  std::ifstream in(state);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  return "";
}

// A private primary and its standby for one case, stopped at its end.
struct Replicated {
  hitl::test::TempDir dir{"hitl-replica"};
  std::filesystem::path primary = dir.path / "primary.state", standby = dir.path / "standby.state";
  std::string primary_url, standby_url, unavailable;
  Replicated() {
    if (std::system((kSupport + "pg-test-server.sh start " + primary.string() + " >/dev/null").c_str()) != 0)
      throw std::runtime_error("pg-test-server.sh start failed");
    unavailable = field(primary, "unavailable");
    if (!unavailable.empty()) return;
    primary_url = field(primary, "url");
    if (std::system((kSupport + "pg-standby.sh start " + primary.string() + " " + standby.string()).c_str()) != 0)
      throw std::runtime_error("pg-standby.sh start failed");
    standby_url = field(standby, "url");
  }
  ~Replicated() {
    (void)std::system((kSupport + "pg-standby.sh stop " + standby.string() + " >/dev/null 2>&1").c_str());
    (void)std::system((kSupport + "pg-test-server.sh stop " + primary.string() + " >/dev/null 2>&1").c_str());
  }
};

std::int64_t standby_count(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction tx(c);
    return tx.exec1(sql)[0].as<std::int64_t>();
  } catch (const std::exception&) {
    return -1;  // the table is not replayed yet
  }
}

template <class F>
bool within(std::chrono::milliseconds limit, F&& done) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::size_t decisions_in(sdk::Storage& storage) {
  sdk::DecisionFilter f;
  f.domain = "loans";
  f.limit = 1000;
  std::vector<sdk::DecisionRecord> page;
  REQUIRE(storage.list_decisions(f, page).ok());
  return page.size();
}

}  // namespace

TEST_CASE("reports read a hot standby: it opens read-only, sees the primary's commits once replayed, refuses writes",
          "[replica]") {
  Replicated pg;
  if (!pg.unavailable.empty()) HITL_SKIP(pg.unavailable);
  {  // The primary's schema first, as an operator's `hitl migrate` or first start makes it.
    hitl::test::TempDir first{"hitl-replica-primary"};
    auto app = hitl::test::shared_instance(first, pg.primary_url);
  }
  REQUIRE(within(20s, [&] { return standby_count(pg.standby_url, "SELECT COUNT(*) FROM decisions") == 0; }));

  hitl::test::TempDir dir{"hitl-replica-app"};
  auto app = hitl::test::shared_instance(
      dir, pg.primary_url, "", "reports_storage = { plugin = \"postgres\", config = { url = \"" + pg.standby_url + "\" } },");
  REQUIRE(&app->report_storage() != &app->storage());

  std::vector<hitl::service::IngestRecord> records;
  for (int i = 0; i < 30; ++i) {
    hitl::service::IngestRecord r;
    r.id = "r" + std::to_string(i);
    r.input = {{"x", 0.1 * i}};
    r.meta = nlohmann::json::object();
    records.push_back(std::move(r));
  }
  std::promise<sdk::Status> committed;
  app->pipeline().ingest("loans", std::move(records), "client",
                         [&](const sdk::Status& st, std::vector<hitl::service::IngestResult>&) { committed.set_value(st); });
  REQUIRE(committed.get_future().get().ok());
  CHECK(decisions_in(app->storage()) == 30);
  // What the primary committed reaches the reports once the standby has replayed it.
  CHECK(within(20s, [&] { return decisions_in(app->report_storage()) == 30; }));

  // The standby is read-only: a write through the reports' storage is refused, and nothing lands.
  sdk::WriteBatch batch;
  sdk::NewDecision nd;
  nd.decision.domain = "loans";
  nd.decision.id = "written-to-the-replica";
  nd.decision.status = "auto_approved";
  nd.decision.created_ms = 1;
  batch.decisions.push_back(nd);
  const sdk::Status refused = app->report_storage().commit(batch);
  INFO(refused.message);
  CHECK_FALSE(refused.ok());
  // The server's refusal: "cannot execute COPY during recovery" (or "... in a read-only transaction").
  CHECK((refused.message.find("during recovery") != std::string::npos ||
         refused.message.find("read-only") != std::string::npos));
  CHECK(standby_count(pg.primary_url, "SELECT COUNT(*) FROM decisions WHERE id = 'written-to-the-replica'") == 0);
}
