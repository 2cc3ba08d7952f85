// The task lifecycle state machine (schema version 3): storage-sqlite.so applies every legal
// status change and refuses every other one, through commit() and through any other connection.
// The plugin is loaded for real through Boost.DLL; the database files are real.
#include <hitl/plugin_api.hpp>

#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include "storage_testing.hpp"
#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <set>
#include <unistd.h>
#include <utility>

namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

namespace {
using namespace storage_testing;

using Pair = std::pair<std::string, std::string>;

// Written out here, independently of the migration, so a changed table fails this test.
const std::set<Pair> kLegal = {
    {"pending", "assigned"},   {"assigned", "assigned"},  {"assigned", "pending"},
    {"assigned", "completed"}, {"completed", "pending"},  {"pending", "escalated"},
    {"assigned", "escalated"}, {"escalated", "pending"},  {"escalated", "assigned"},
    {"pending", "cancelled"},  {"assigned", "cancelled"}, {"escalated", "cancelled"},
};
const char* const kStates[] = {"pending", "assigned", "completed", "escalated", "cancelled"};

// A task row in `status`, inserted directly: the trigger guards UPDATEs, not INSERTs.
std::int64_t insert_task(const std::string& db, const std::string& status) {
  return raw_int(db, "INSERT INTO tasks(domain, decision_id, status, assignee, created_ms, updated_ms) "
                     "VALUES('credit', 'd', '" + status + "', 'alice', 1, 1) RETURNING task_id");
}

std::string status_of(const std::string& db, std::int64_t id) {
  const auto status = raw_text(db, "SELECT status FROM tasks WHERE task_id = " + std::to_string(id));
  REQUIRE_FALSE(status.empty());
  return status;
}

// One TaskUpdate whose guard is exactly the current state, plus an audit record that must be
// written or rolled back with it.
sdk::Status move(sdk::Storage& s, std::int64_t id, const std::string& from, const std::string& to, bool& applied) {
  sdk::WriteBatch b;
  b.task_updates.push_back({id, from, to, "bob", 0, 2000, false});
  b.audit.push_back({0, 2000, "bob", "task.moved", "credit", "task", std::to_string(id), "{}"});
  auto st = s.commit(b);
  applied = b.task_updates[0].applied;
  return st;
}

int audit_rows(const std::string& db) { return count_rows(db, "audit"); }

}  // namespace

TEST_CASE("every legal task transition is applied through commit") {
  TempDir dir;
  auto s = open(db_of(dir));
  for (const auto& [from, to] : kLegal) {
    INFO(from << " -> " << to);
    const auto id = insert_task(db_of(dir), from);
    bool applied = false;
    auto st = move(*s, id, from, to, applied);
    INFO(st.message);
    REQUIRE(st.ok());
    CHECK(applied);
    CHECK(status_of(db_of(dir), id) == to);
  }
  CHECK(audit_rows(db_of(dir)) == static_cast<int>(kLegal.size()));
}

TEST_CASE("every other pair of known states is refused with conflict, naming the pair, and rolls back") {
  TempDir dir;
  auto s = open(db_of(dir));
  int refused = 0;
  for (const char* from : kStates) {
    for (const char* to : kStates) {
      if (kLegal.count({from, to})) continue;
      INFO(from << " -> " << to);
      const auto id = insert_task(db_of(dir), from);
      bool applied = true;
      auto st = move(*s, id, from, to, applied);
      CHECK(st.code == sdk::Code::conflict);
      CHECK_THAT(st.message, Catch::Contains(std::string("illegal task transition ") + from + " -> " + to) &&
                                 Catch::Contains("rolled back"));
      CHECK(status_of(db_of(dir), id) == from);
      ++refused;
    }
  }
  CHECK(refused == 25 - static_cast<int>(kLegal.size()));
  CHECK(audit_rows(db_of(dir)) == 0);  // the audit record of each refused batch was rolled back

  // An unknown target state is refused too, and the storage keeps working afterwards.
  const auto id = insert_task(db_of(dir), "pending");
  bool applied = true;
  auto st = move(*s, id, "pending", "archived", applied);
  CHECK(st.code == sdk::Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("unknown task status"));
  REQUIRE(move(*s, id, "pending", "assigned", applied).ok());
  CHECK(applied);
}

TEST_CASE("a guard that does not match leaves the task alone without an error, even for an illegal pair") {
  TempDir dir;
  auto s = open(db_of(dir));
  const auto id = insert_task(db_of(dir), "completed");
  bool applied = true;
  // completed -> completed would be illegal, but the guard (from pending) does not match first.
  auto st = move(*s, id, "pending", "completed", applied);
  INFO(st.message);
  REQUIRE(st.ok());
  CHECK_FALSE(applied);
  CHECK(status_of(db_of(dir), id) == "completed");
  CHECK(audit_rows(db_of(dir)) == 1);
  // A guard listing several states passes for completed, and the trigger then refuses the pair.
  st = move(*s, id, "pending,assigned,completed", "cancelled", applied);
  CHECK(st.code == sdk::Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("illegal task transition completed -> cancelled"));
}

TEST_CASE("the trigger refuses an illegal change from any connection, not only the plugin's") {
  TempDir dir;
  open(db_of(dir)).reset();
  const auto id = insert_task(db_of(dir), "cancelled");
  CHECK_THROWS_WITH(raw_exec(db_of(dir), "UPDATE tasks SET status = 'pending' WHERE task_id = " + std::to_string(id)),
                    Catch::Contains("illegal task transition cancelled -> pending"));
  // Columns other than status stay writable (the trigger is BEFORE UPDATE OF status).
  CHECK(raw_exec(db_of(dir), "UPDATE tasks SET priority = 0.3 WHERE task_id = " + std::to_string(id)) == 1);
  CHECK(status_of(db_of(dir), id) == "cancelled");
}

TEST_CASE("migration 3 adds the lifecycle to a version 2 database and keeps its tasks", "[sqlite-only]") {
  TempDir dir;
  std::int64_t done = 0, open_task = 0;
  {
    open(db_of(dir)).reset();
    // Turn the file back into exactly what version 2 wrote: no transitions table, no trigger.
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    undo_migration_4(raw);
    raw.exec("DROP TRIGGER tasks_status_transition");
    raw.exec("DROP TABLE task_transitions");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 3");
    // Under version 2 any status change went through, including one version 3 refuses.
    done = insert_task(db_of(dir), "completed");
    raw.exec("UPDATE tasks SET status = 'cancelled' WHERE task_id = " + std::to_string(done));
    raw.exec("UPDATE tasks SET status = 'completed' WHERE task_id = " + std::to_string(done));
    open_task = insert_task(db_of(dir), "assigned");
  }
  auto s = open(db_of(dir));
  int version = 0;
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);
  {
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READONLY);
    SQLite::Statement q(raw, "SELECT from_status, to_status FROM task_transitions");
    std::set<Pair> table;
    while (q.executeStep()) table.insert({q.getColumn(0).getString(), q.getColumn(1).getString()});
    CHECK(table == kLegal);
    CHECK(raw.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'tasks_status_transition'")
              .getInt() == 1);
    CHECK(raw.execAndGet("SELECT version FROM schema_migrations WHERE component = 'storage' ORDER BY version DESC")
              .getInt() == kLatestSchema);
  }
  // The tasks written under version 2 keep their state and now follow the lifecycle.
  CHECK(status_of(db_of(dir), done) == "completed");
  bool applied = false;
  CHECK(move(*s, done, "completed", "cancelled", applied).code == sdk::Code::conflict);
  REQUIRE(move(*s, done, "completed", "pending", applied).ok());
  CHECK(applied);
  REQUIRE(move(*s, open_task, "assigned", "completed", applied).ok());
  CHECK(applied);
  // Reopening does not apply migration 3 (or 4) twice (it would fail on the existing table).
  s.reset();
  s = open(db_of(dir));
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);
}
