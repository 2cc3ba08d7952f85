// Tests of storage-sqlite.so, loaded for real through Boost.DLL as the host loads it. The
// database files are real; the tests open them with SQLiteCpp as well, to check the schema and
// to try what the plugin must refuse (tampering with the audit trail).
#include <hitl/plugin_api.hpp>

#include <boost/dll/import.hpp>
#include <catch2/catch.hpp>
#include "storage_testing.hpp"
#include <nlohmann/json.hpp>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <chrono>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
namespace sdk = hitl::sdk;

namespace {
using namespace storage_testing;

sdk::NewDecision decision(const std::string& domain, const std::string& id, bool with_task = false,
                          std::int64_t created = 1000) {
  sdk::NewDecision nd;
  auto& d = nd.decision;
  d.domain = domain;
  d.id = id;
  d.status = with_task ? "pending_review" : "auto_approved";
  d.reason = with_task ? "low_confidence" : "";
  d.priority = 0.5;
  d.label = "approve";
  d.confidence = 0.73;
  d.input_json = R"({"amount":120.5,"id":")" + id + R"("})";
  d.prediction_json = R"({"label":"approve","confidence":0.73})";
  d.meta_json = "{}";
  d.model_version = "m1";
  d.policy_hash = "p1";
  d.created_ms = created;
  if (with_task) {
    sdk::TaskRecord t;
    t.status = "pending";
    t.priority = 0.9;
    t.reason = "low_confidence";
    t.deadline_ms = created + 60000;
    t.created_ms = created;
    t.updated_ms = created;
    nd.task = t;
  }
  return nd;
}

sdk::AuditRecord audit(const std::string& domain, const std::string& entity_id, const std::string& action) {
  return sdk::AuditRecord{0, 5000, "system", action, domain, "decision", entity_id, R"({"k":1})"};
}

void commit_ok(sdk::Storage& s, sdk::WriteBatch& b) {
  auto st = s.commit(b);
  INFO(st.message);
  REQUIRE(st.ok());
}

}  // namespace

TEST_CASE("descriptor: storage kind named sqlite with a documented config", "[sqlite-only]") {
  const auto& d = plugin();
  CHECK(d.abi_version == HITL_SDK_ABI_VERSION);
  CHECK(d.struct_size == sizeof(sdk::PluginDescriptor));
  CHECK(d.kind == sdk::PluginKind::storage);
  CHECK(std::string(d.name) == "sqlite");
  CHECK(d.create_storage != nullptr);
  CHECK(d.create_model == nullptr);
  CHECK(d.create_queue == nullptr);
  auto doc = nlohmann::json::parse(d.config_doc);
  REQUIRE(doc.is_array());
  std::set<std::string> names;
  for (const auto& opt : doc) {
    CHECK(opt.contains("type"));
    CHECK(opt.contains("default"));
    CHECK(opt.contains("description"));
    names.insert(opt.at("name").get<std::string>());
  }
  CHECK(names == std::set<std::string>{"path", "busy_timeout_ms", "synchronous"});
}

TEST_CASE("bad config is refused with a message naming the key and the expected type", "[sqlite-only]") {
  TempDir dir;
  struct Case {
    std::string json;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"{}", {"'path'", "required"}},
      {R"({"path": 7})", {"'path'", "string"}},
      {R"({"path": ""})", {"'path'", "non-empty"}},
      {config(db_of(dir), {{"busy_timeout_ms", "soon"}}), {"'busy_timeout_ms'", "integer"}},
      {config(db_of(dir), {{"busy_timeout_ms", 1.5}}), {"'busy_timeout_ms'", "integer"}},
      {config(db_of(dir), {{"busy_timeout_ms", -1}}), {"'busy_timeout_ms'", "between"}},
      {config(db_of(dir), {{"synchronous", true}}), {"'synchronous'", "string"}},
      {config(db_of(dir), {{"synchronous", "off"}}), {"'synchronous'", "\"normal\" or \"full\""}},
      {config(db_of(dir), {{"journal", "wal"}}), {"unknown key 'journal'"}},
      {"[1, 2]", {"JSON object"}},
      {"{not json", {"not valid JSON"}},
  };
  for (const auto& c : cases) {
    INFO(c.json);
    std::unique_ptr<sdk::Storage> s;
    auto st = try_open(c.json, s);
    CHECK(st.code == sdk::Code::invalid_argument);
    CHECK_FALSE(s);
    for (const auto& w : c.words) CHECK_THAT(st.message, Catch::Contains(w));
  }
  CHECK_FALSE(fs::exists(db_of(dir)));  // nothing was created for a refused config
}

TEST_CASE("a fresh database is created in WAL mode with every table at the latest version", "[sqlite-only]") {
  TempDir dir;
  const std::string db = (dir.path / "nested" / "deeper" / "hitl.db").string();  // parents created
  std::unique_ptr<sdk::Storage> s;
  auto st = try_open(config(db, {{"synchronous", "full"}, {"busy_timeout_ms", 100}}), s);
  INFO(st.message);
  REQUIRE(st.ok());
  int version = -1;
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);

  SQLite::Database raw(db, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("PRAGMA journal_mode").getString() == "wal");
  for (const char* table : {"decisions", "tasks", "reviews", "feedback", "audit", "tokens", "schema_migrations"}) {
    INFO(table);
    CHECK(raw.tableExists(table));
  }
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM schema_migrations WHERE component = 'storage'").getInt() == kLatestSchema);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'").getInt() ==
        2);
}

TEST_CASE("SQLite's memory statistics are off once the plugin opened first: no process-wide lock per allocation", "[sqlite-only]") {
  // This process's first use of SQLite is the plugin's open (each test case runs on its own).
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "d1", true));
  REQUIRE(s->commit(b).ok());
  CHECK(sqlite3_memory_used() == 0);  // with the statistics on, the connections' caches count here
}

TEST_CASE("reopening is idempotent and leaves other components' migrations alone", "[sqlite-only]") {
  TempDir dir;
  {
    // The queue plugin got there first and created the shared table the same way.
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations(component TEXT NOT NULL, version INTEGER NOT NULL, "
        "applied_ms INTEGER NOT NULL, PRIMARY KEY(component, version))");
    raw.exec("INSERT INTO schema_migrations VALUES('queue', 1, 1), ('queue', 2, 2)");
  }
  for (int i = 0; i < 3; ++i) {
    auto s = open(db_of(dir));
    int version = 0;
    REQUIRE(s->schema_version(version).ok());
    CHECK(version == kLatestSchema);
  }
  SQLite::Database raw(db_of(dir), SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM schema_migrations WHERE component = 'storage'").getInt() == kLatestSchema);
  CHECK(raw.execAndGet("SELECT MAX(version) FROM schema_migrations WHERE component = 'queue'").getInt() == 2);
}

TEST_CASE("a database written by a newer plugin version is refused", "[sqlite-only]") {
  TempDir dir;
  open(db_of(dir)).reset();
  {
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    raw.exec("INSERT INTO schema_migrations VALUES('storage', " + std::to_string(kLatestSchema + 1) + ", 0)");
  }
  std::unique_ptr<sdk::Storage> s;
  auto st = try_open(config(db_of(dir)), s);
  CHECK_FALSE(st.ok());
  CHECK_FALSE(s);
  CHECK_THAT(st.message, Catch::Contains("version " + std::to_string(kLatestSchema + 1)) &&
                             Catch::Contains("up to " + std::to_string(kLatestSchema)) && Catch::Contains(db_of(dir)));
}

TEST_CASE("a file that is not a database is refused with the path in the message", "[sqlite-only]") {
  TempDir dir;
  { std::ofstream(db_of(dir)) << "this is not an sqlite file, just some text that is long enough............"; }
  std::unique_ptr<sdk::Storage> s;
  auto st = try_open(config(db_of(dir)), s);
  CHECK(st.code == sdk::Code::invalid_argument);
  CHECK_THAT(st.message, Catch::Contains(db_of(dir)));
}

TEST_CASE("decisions are stored with every field and read back, missing ones as nullopt") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "a-1"));
  b.decisions[0].decision.meta_json = R"({"source":"test"})";
  b.decisions[0].decision.final_label = "";
  commit_ok(*s, b);
  CHECK_FALSE(b.decisions[0].duplicate);

  std::optional<sdk::DecisionRecord> got;
  REQUIRE(s->get_decision("credit", "a-1", got).ok());
  REQUIRE(got);
  const auto& want = b.decisions[0].decision;
  CHECK(got->domain == "credit");
  CHECK(got->id == "a-1");
  CHECK(got->status == want.status);
  CHECK(got->priority == want.priority);
  CHECK(got->label == want.label);
  CHECK(got->confidence == want.confidence);
  CHECK(got->input_json == want.input_json);
  CHECK(got->prediction_json == want.prediction_json);
  CHECK(got->meta_json == R"({"source":"test"})");
  CHECK(got->model_version == "m1");
  CHECK(got->policy_hash == "p1");
  CHECK(got->created_ms == 1000);
  CHECK(got->task_id == 0);

  REQUIRE(s->get_decision("credit", "nope", got).ok());
  CHECK_FALSE(got);
  REQUIRE(s->get_decision("claims", "a-1", got).ok());  // ids are per domain
  CHECK_FALSE(got);
}

TEST_CASE("tasks get increasing ids, also written into their decision") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "t-1", true));
  b.decisions.push_back(decision("credit", "t-2", false));
  b.decisions.push_back(decision("credit", "t-3", true));
  commit_ok(*s, b);
  const auto& t1 = *b.decisions[0].task;
  const auto& t3 = *b.decisions[2].task;
  CHECK(t1.task_id > 0);
  CHECK(t3.task_id > t1.task_id);
  CHECK(b.decisions[0].decision.task_id == t1.task_id);
  CHECK(b.decisions[1].decision.task_id == 0);
  CHECK(t1.domain == "credit");
  CHECK(t1.decision_id == "t-1");

  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", "t-3", d).ok());
  REQUIRE(d);
  CHECK(d->task_id == t3.task_id);

  std::optional<sdk::TaskRecord> t;
  REQUIRE(s->get_task(t3.task_id, t).ok());
  REQUIRE(t);
  CHECK(t->decision_id == "t-3");
  CHECK(t->status == "pending");
  CHECK(t->priority == 0.9);
  CHECK(t->deadline_ms == 61000);
  REQUIRE(s->get_task(t3.task_id + 100, t).ok());
  CHECK_FALSE(t);
}

TEST_CASE("a duplicate decision returns the stored original with its task and creates no task") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch first;
  first.decisions.push_back(decision("credit", "dup", true, 1000));
  commit_ok(*s, first);
  const auto task_id = first.decisions[0].decision.task_id;
  REQUIRE(task_id > 0);

  sdk::WriteBatch again;
  again.decisions.push_back(decision("credit", "dup", true, 2000));
  again.decisions[0].decision.label = "reject";
  again.decisions.push_back(decision("credit", "dup", false, 3000));  // twice in one batch, too
  commit_ok(*s, again);
  for (const auto& nd : again.decisions) {
    CHECK(nd.duplicate);
    CHECK(nd.decision.task_id == task_id);
    CHECK(nd.decision.label == "approve");
    CHECK(nd.decision.created_ms == 1000);
  }
  std::vector<sdk::TaskRecord> tasks;
  REQUIRE(s->list_tasks({}, tasks).ok());
  CHECK(tasks.size() == 1);
}

TEST_CASE("guarded task transitions apply only from the listed states") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "g-1", true));
  commit_ok(*s, b);
  const auto id = b.decisions[0].task->task_id;

  sdk::WriteBatch claim;
  claim.task_updates.push_back({id, "pending", "assigned", "alice", 9000, 2000, false});
  claim.task_updates.push_back({id + 50, "pending", "assigned", "alice", 9000, 2000, false});  // no such task
  commit_ok(*s, claim);
  CHECK(claim.task_updates[0].applied);
  CHECK_FALSE(claim.task_updates[1].applied);

  sdk::WriteBatch second;  // a second claim from "pending" loses: not an error
  second.task_updates.push_back({id, "pending", "assigned", "bob", 9500, 2100, false});
  commit_ok(*s, second);
  CHECK_FALSE(second.task_updates[0].applied);

  std::optional<sdk::TaskRecord> t;
  REQUIRE(s->get_task(id, t).ok());
  CHECK(t->status == "assigned");
  CHECK(t->assignee == "alice");
  CHECK(t->lease_expires_ms == 9000);
  CHECK(t->updated_ms == 2000);

  sdk::WriteBatch done;  // a list with spaces; "assigned" must not match a prefix like "assign"
  done.task_updates.push_back({id, "assign", "completed", "alice", 0, 3000, false});
  done.task_updates.push_back({id, "pending, assigned", "completed", "alice", 0, 3000, false});
  commit_ok(*s, done);
  CHECK_FALSE(done.task_updates[0].applied);
  CHECK(done.task_updates[1].applied);
  REQUIRE(s->get_task(id, t).ok());
  CHECK(t->status == "completed");

  sdk::WriteBatch bad;
  bad.task_updates.push_back({id, "", "completed", "", 0, 0, false});
  CHECK(s->commit(bad).code == sdk::Code::invalid_argument);
}

TEST_CASE("a failing batch rolls back everything and the storage keeps working") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "rb-1", true));
  b.audit.push_back(audit("credit", "rb-1", "decision.created"));
  b.feedback.push_back({"credit", "rb-1", "{}", "approve", "approve", 0.7, "approve", "alice", 10});
  b.tokens.push_back({"alice", "reviewer", "credit", "hash-same", 1, false});
  b.tokens.push_back({"bob", "reviewer", "credit", "hash-same", 1, false});  // violates UNIQUE(hash)
  auto st = s->commit(b);
  CHECK(st.code == sdk::Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("tokens.hash") && Catch::Contains("rolled back"));

  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", "rb-1", d).ok());
  CHECK_FALSE(d);
  for (const char* table : {"decisions", "tasks", "audit", "feedback", "tokens"}) {
    INFO(table);
    CHECK(count_rows(db_of(dir), table) == 0);
  }

  // The cached statements are usable again after the failure.
  sdk::WriteBatch good;
  good.decisions.push_back(decision("credit", "rb-1", true));
  good.tokens.push_back({"alice", "reviewer", "credit", "hash-same", 1, false});
  commit_ok(*s, good);
  CHECK_FALSE(good.decisions[0].duplicate);
  REQUIRE(s->get_decision("credit", "rb-1", d).ok());
  CHECK(d);

  sdk::WriteBatch unknown_final;  // a final for a decision that does not exist
  unknown_final.audit.push_back(audit("credit", "x", "review.final"));
  unknown_final.finals.push_back({"credit", "missing", "reject", "reject", 5});
  st = s->commit(unknown_final);
  CHECK(st.code == sdk::Code::not_found);
  CHECK_THAT(st.message, Catch::Contains("missing"));
  CHECK(count_rows(db_of(dir), "audit") == 0);
}

TEST_CASE("audit records get increasing seq and cannot be updated or deleted") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  for (int i = 0; i < 3; ++i) b.audit.push_back(audit("credit", "e" + std::to_string(i), "decision.created"));
  commit_ok(*s, b);
  CHECK(b.audit[0].seq == 1);
  CHECK(b.audit[1].seq == 2);
  CHECK(b.audit[2].seq == 3);

  CHECK_THROWS_WITH(raw_exec(db_of(dir), "UPDATE audit SET actor = 'mallory' WHERE seq = 1"), Catch::Contains("append-only"));
  CHECK_THROWS_WITH(raw_exec(db_of(dir), "DELETE FROM audit WHERE seq = 2"), Catch::Contains("append-only"));
  CHECK(count_rows(db_of(dir), "audit") == 3);
  CHECK(raw_text(db_of(dir), "SELECT actor FROM audit WHERE seq = 1") == "system");
}

TEST_CASE("list_audit filters by domain, entity, after_seq and limit, in seq order") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.audit.push_back(audit("credit", "a", "x"));   // 1
  b.audit.push_back(audit("claims", "a", "x"));   // 2
  b.audit.push_back(audit("credit", "b", "x"));   // 3
  b.audit.push_back(audit("credit", "a", "y"));   // 4
  b.audit.push_back(audit("claims", "c", "x"));   // 5
  commit_ok(*s, b);

  auto seqs = [&](sdk::AuditFilter f) {
    std::vector<sdk::AuditRecord> out;
    auto st = s->list_audit(f, out);
    REQUIRE(st.ok());
    std::vector<std::int64_t> v;
    for (auto& a : out) v.push_back(a.seq);
    return v;
  };
  using V = std::vector<std::int64_t>;
  CHECK(seqs({}) == V{1, 2, 3, 4, 5});
  CHECK(seqs({"credit", "", 0, 1000}) == V{1, 3, 4});
  CHECK(seqs({"", "a", 0, 1000}) == V{1, 2, 4});
  CHECK(seqs({"credit", "a", 0, 1000}) == V{1, 4});
  CHECK(seqs({"", "", 2, 1000}) == V{3, 4, 5});
  CHECK(seqs({"", "", 0, 2}) == V{1, 2});
  CHECK(seqs({"credit", "", 1, 1}) == V{3});

  std::vector<sdk::AuditRecord> out;
  REQUIRE(s->list_audit({"", "", 3, 1}, out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].action == "y");
  CHECK(out[0].entity == "decision");
  CHECK(out[0].detail_json == R"({"k":1})");
  CHECK(out[0].ts_ms == 5000);
}

TEST_CASE("list_tasks filters by domain and status, ordered by task_id, with a limit") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  for (int i = 0; i < 4; ++i) b.decisions.push_back(decision(i % 2 ? "claims" : "credit", "l" + std::to_string(i), true));
  commit_ok(*s, b);
  sdk::WriteBatch u;
  u.task_updates.push_back({b.decisions[2].task->task_id, "pending", "assigned", "alice", 1, 1, false});
  commit_ok(*s, u);

  auto ids = [&](sdk::TaskFilter f) {
    std::vector<sdk::TaskRecord> out;
    REQUIRE(s->list_tasks(f, out).ok());
    std::vector<std::string> v;
    for (auto& t : out) v.push_back(t.decision_id);
    return v;
  };
  using V = std::vector<std::string>;
  CHECK(ids({}) == V{"l0", "l1", "l2", "l3"});
  CHECK(ids({"credit", "", 1000}) == V{"l0", "l2"});
  CHECK(ids({"", "pending", 1000}) == V{"l0", "l1", "l3"});
  CHECK(ids({"credit", "pending", 1000}) == V{"l0"});
  CHECK(ids({"credit", "assigned", 1000}) == V{"l2"});
  CHECK(ids({"", "", 2}) == V{"l0", "l1"});
  CHECK(ids({"support", "", 1000}).empty());
}

TEST_CASE("reviews, feedback and final outcomes are stored and listed") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "r-1", true));
  commit_ok(*s, b);
  const auto task_id = b.decisions[0].task->task_id;

  sdk::WriteBatch outcome;
  outcome.reviews.push_back({0, task_id, "credit", "r-1", "bob", "correct", "reject", "looks off", 300, 250});
  outcome.reviews.push_back({0, task_id, "credit", "r-1", "alice", "approve", "approve", "", 200, 0});
  outcome.feedback.push_back({"credit", "r-1", "{\"a\":1}", "reject", "approve", 0.73, "correct", "bob", 300});
  outcome.feedback.push_back({"credit", "r-0", "{\"a\":0}", "approve", "approve", 0.9, "approve", "alice", 100});
  outcome.feedback.push_back({"claims", "c-0", "{}", "approve", "reject", 0.2, "correct", "carol", 50});
  outcome.finals.push_back({"credit", "r-1", "reject", "correct", 310});
  commit_ok(*s, outcome);

  CHECK(outcome.reviews[0].review_id > 0);
  CHECK(outcome.reviews[1].review_id == outcome.reviews[0].review_id + 1);
  std::vector<sdk::ReviewRecord> reviews;
  sdk::ReviewFilter by_task;
  by_task.task_id = task_id;
  REQUIRE(s->list_reviews(by_task, reviews).ok());
  REQUIRE(reviews.size() == 2);
  CHECK(reviews[0].reviewer == "alice");  // ordered by created_ms
  CHECK(reviews[1].reviewer == "bob");
  CHECK(reviews[1].comment == "looks off");
  CHECK(reviews[1].final_label == "reject");
  CHECK(reviews[1].started_ms == 250);
  CHECK(reviews[1].review_id == outcome.reviews[0].review_id);
  by_task.task_id = task_id + 1;
  REQUIRE(s->list_reviews(by_task, reviews).ok());
  CHECK(reviews.empty());

  std::vector<sdk::FeedbackRecord> fb;
  REQUIRE(s->list_feedback("credit", fb).ok());
  REQUIRE(fb.size() == 2);
  CHECK(fb[0].decision_id == "r-0");  // ordered by created_ms, not insertion
  CHECK(fb[1].decision_id == "r-1");
  CHECK(fb[1].input_json == "{\"a\":1}");
  CHECK(fb[1].model_confidence == 0.73);
  CHECK(fb[1].outcome == "correct");
  REQUIRE(s->list_feedback("", fb).ok());
  CHECK(fb.size() == 3);

  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", "r-1", d).ok());
  CHECK(d->final_label == "reject");
  CHECK(d->final_outcome == "correct");
  CHECK(d->final_ms == 310);
  CHECK(d->label == "approve");  // the model's label is kept beside the human one
}

TEST_CASE("tokens are found by hash, replaced by name and revocable") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.tokens.push_back({"ops", "admin", "", "h-1", 10, false});
  b.tokens.push_back({"alice", "reviewer", "credit,claims", "h-2", 11, false});
  commit_ok(*s, b);

  std::optional<sdk::TokenRecord> t;
  REQUIRE(s->find_token("h-2", t).ok());
  REQUIRE(t);
  CHECK(t->name == "alice");
  CHECK(t->role == "reviewer");
  CHECK(t->domains == "credit,claims");
  CHECK(t->created_ms == 11);
  CHECK_FALSE(t->revoked);
  REQUIRE(s->find_token("unknown", t).ok());
  CHECK_FALSE(t);

  sdk::WriteBatch rotate;  // re-creating "alice" replaces her hash
  rotate.tokens.push_back({"alice", "reviewer", "credit", "h-3", 20, false});
  commit_ok(*s, rotate);
  REQUIRE(s->find_token("h-2", t).ok());
  CHECK_FALSE(t);
  REQUIRE(s->find_token("h-3", t).ok());
  REQUIRE(t);
  CHECK(t->domains == "credit");

  sdk::WriteBatch revoke;
  revoke.tokens.push_back({"ops", "admin", "", "h-1", 10, true});
  commit_ok(*s, revoke);
  REQUIRE(s->find_token("h-1", t).ok());
  REQUIRE(t);
  CHECK(t->revoked);
  CHECK(count_rows(db_of(dir), "tokens") == 2);
}

TEST_CASE("reads are served while another connection holds the write lock, while the writer gets unavailable", "[sqlite-only]") {
  TempDir dir;
  std::unique_ptr<sdk::Storage> s;
  REQUIRE(try_open(config(db_of(dir), {{"busy_timeout_ms", 50}}), s).ok());
  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "before"));
  commit_ok(*s, b);

  SQLite::Database other(db_of(dir), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  other.exec("INSERT INTO tokens(name, role, hash, created_ms) VALUES('x', 'admin', 'hx', 1)");

  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", "before", d).ok());  // WAL: the reader does not wait
  CHECK(d);
  std::optional<sdk::TokenRecord> t;
  REQUIRE(s->find_token("hx", t).ok());
  CHECK_FALSE(t);  // uncommitted work of the other connection is invisible

  sdk::WriteBatch blocked;
  blocked.decisions.push_back(decision("credit", "during"));
  auto st = s->commit(blocked);
  CHECK(st.code == sdk::Code::unavailable);

  other.exec("COMMIT");
  REQUIRE(s->find_token("hx", t).ok());
  CHECK(t);
  commit_ok(*s, blocked);  // the same batch goes through once the lock is gone
}

TEST_CASE("concurrent readers never see half of a batch") {
  TempDir dir;
  auto s = open(db_of(dir));
  constexpr int kBatches = 60, kPerBatch = 25;
  std::atomic<bool> done{false};
  std::atomic<int> read_errors{0}, torn_reads{0}, reads{0};

  auto reader = [&] {
    std::size_t last = 0;
    while (!done.load()) {
      std::vector<sdk::AuditRecord> out;
      if (!s->list_audit({"", "", 0, 1'000'000}, out).ok()) { read_errors++; continue; }
      // Each batch adds kPerBatch audit rows and their decisions atomically.
      if (out.size() % kPerBatch != 0 || out.size() < last) torn_reads++;
      if (!out.empty()) {
        std::optional<sdk::DecisionRecord> d;
        if (!s->get_decision("credit", out.back().entity_id, d).ok() || !d) torn_reads++;
      }
      last = out.size();
      reads++;
    }
  };
  std::thread r1(reader), r2(reader);
  // The readers read once before the writes start: on a loaded machine the 60 commits can
  // otherwise end before either reader thread ran at all (reads == 0, nothing overlapped).
  for (int waited_ms = 0; reads.load() < 2 && waited_ms < 10'000; ++waited_ms)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<sdk::Status> failures;
  for (int i = 0; i < kBatches; ++i) {
    sdk::WriteBatch b;
    for (int j = 0; j < kPerBatch; ++j) {
      const auto id = "c" + std::to_string(i) + "-" + std::to_string(j);
      b.decisions.push_back(decision("credit", id, j % 3 == 0));
      b.audit.push_back(audit("credit", id, "decision.created"));
    }
    if (auto st = s->commit(b); !st.ok()) failures.push_back(st);
  }
  done = true;
  r1.join();
  r2.join();
  CHECK(failures.empty());
  CHECK(read_errors == 0);
  CHECK(torn_reads == 0);
  CHECK(reads > 0);
  std::vector<sdk::AuditRecord> all;
  REQUIRE(s->list_audit({"", "", 0, 1'000'000}, all).ok());
  CHECK(all.size() == kBatches * kPerBatch);
}

TEST_CASE("data persists across reopen and task ids keep increasing") {
  TempDir dir;
  std::int64_t first_task = 0;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    b.decisions.push_back(decision("credit", "p-1", true));
    b.audit.push_back(audit("credit", "p-1", "decision.created"));
    b.tokens.push_back({"ops", "admin", "", "h", 1, false});
    commit_ok(*s, b);
    first_task = b.decisions[0].task->task_id;
  }
  auto s = open(db_of(dir));
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", "p-1", d).ok());
  REQUIRE(d);
  CHECK(d->task_id == first_task);
  std::optional<sdk::TokenRecord> t;
  REQUIRE(s->find_token("h", t).ok());
  CHECK(t);

  sdk::WriteBatch b;
  b.decisions.push_back(decision("credit", "p-2", true));
  b.audit.push_back(audit("credit", "p-2", "decision.created"));
  commit_ok(*s, b);
  CHECK(b.decisions[0].task->task_id > first_task);
  CHECK(b.audit[0].seq == 2);
}

// ---------------------------------------------------------------------------------------------
// The audit hash chain (format: plugin_api.hpp, above sdk::AuditRecord). Full verification and
// tampering live in core/audit/tests; these check what the plugin stores.

namespace {
const std::string kGenesis(64, '0');

bool is_hex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<sdk::AuditRecord> all_audit(sdk::Storage& s) {
  std::vector<sdk::AuditRecord> out;
  auto st = s.list_audit({"", "", 0, 1'000'000}, out);
  INFO(st.message);
  REQUIRE(st.ok());
  return out;
}

// Every record links to the one before it, seqs are 1..n, and each hash is well formed.
void check_links(const std::vector<sdk::AuditRecord>& all) {
  std::string prev = kGenesis;
  for (std::size_t i = 0; i < all.size(); ++i) {
    INFO("seq " << all[i].seq);
    CHECK(all[i].seq == static_cast<std::int64_t>(i + 1));
    CHECK(all[i].prev_hash == prev);
    CHECK(is_hex64(all[i].hash));
    prev = all[i].hash;
  }
}
}  // namespace

TEST_CASE("audit records are hash-chained on commit and list_audit returns the chain") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  // The example of plugin_api.hpp; its hash was computed independently (Python hashlib).
  b.audit.push_back({0, 1700000000000, "alice", "review.submitted", "credit_risk", "task", "42",
                     R"({"outcome":"correct","label":"bad"})", "ignored", "ignored"});
  b.audit.push_back(audit("credit", "e2", "decision.created"));
  commit_ok(*s, b);
  CHECK(b.audit[0].seq == 1);
  CHECK(b.audit[0].prev_hash == kGenesis);
  CHECK(b.audit[0].hash == "b3f009b43b0c0417f1a85a842e3c8e6a464332426fae9c612d227cb2b84fd8c3");
  CHECK(b.audit[1].prev_hash == b.audit[0].hash);
  CHECK(b.audit[1].hash != b.audit[0].hash);

  auto listed = all_audit(*s);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].prev_hash == b.audit[0].prev_hash);
  CHECK(listed[0].hash == b.audit[0].hash);
  CHECK(listed[1].hash == b.audit[1].hash);
  // Filtered lists carry the hashes too.
  std::vector<sdk::AuditRecord> one;
  REQUIRE(s->list_audit({"credit", "", 0, 10}, one).ok());
  REQUIRE(one.size() == 1);
  CHECK(one[0].hash == b.audit[1].hash);
}

TEST_CASE("the chain continues across reopen, rolled-back batches and a second connection") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b1;
  b1.audit.push_back(audit("credit", "a", "x"));
  commit_ok(*s, b1);

  // A batch that rolls back leaves no trace in the chain.
  sdk::WriteBatch bad;
  bad.finals.push_back({"credit", "no-such-decision", "good", "approve", 1});
  bad.audit.push_back(audit("credit", "lost", "review.final"));
  CHECK_FALSE(s->commit(bad).ok());

  // Another process appending to the same file (e.g. `hitl token create` while serving).
  auto other = open(db_of(dir));
  sdk::WriteBatch b2;
  b2.audit.push_back(audit("credit", "b", "token.created"));
  commit_ok(*other, b2);
  CHECK(b2.audit[0].seq == 2);
  CHECK(b2.audit[0].prev_hash == b1.audit[0].hash);

  sdk::WriteBatch b3;
  b3.audit.push_back(audit("credit", "c", "x"));
  commit_ok(*s, b3);  // the first connection chains onto the other's record
  CHECK(b3.audit[0].seq == 3);
  CHECK(b3.audit[0].prev_hash == b2.audit[0].hash);
  other.reset();
  s.reset();

  s = open(db_of(dir));
  sdk::WriteBatch b4;
  b4.audit.push_back(audit("credit", "d", "x"));
  commit_ok(*s, b4);
  CHECK(b4.audit[0].seq == 4);
  CHECK(b4.audit[0].prev_hash == b3.audit[0].hash);
  auto all = all_audit(*s);
  CHECK(all.size() == 4);
  check_links(all);
}

TEST_CASE("after a deleted tail the next record keeps the gap visible instead of reusing its seq", "[sqlite-only]") {
  TempDir dir;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    for (int i = 0; i < 3; ++i) b.audit.push_back(audit("credit", "e" + std::to_string(i), "x"));
    commit_ok(*s, b);
  }
  {
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    raw.exec("DROP TRIGGER audit_no_delete");
    raw.exec("DELETE FROM audit WHERE seq = 3");
  }
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.audit.push_back(audit("credit", "e3", "x"));
  commit_ok(*s, b);
  CHECK(b.audit[0].seq == 4);
  auto all = all_audit(*s);
  REQUIRE(all.size() == 3);
  CHECK(all[1].seq == 2);
  CHECK(all[2].seq == 4);
}

TEST_CASE("migration 2 chains the audit records of a version 1 database in seq order", "[sqlite-only]") {
  TempDir dir;
  std::vector<sdk::AuditRecord> before;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    for (int i = 0; i < 2500; ++i)  // more than one page of the backfill
      b.audit.push_back({0, 1000 + i, i % 2 ? "alice" : "system", "decision.created", "credit", "decision",
                         "d" + std::to_string(i), R"({"i":)" + std::to_string(i) + "}"});
    commit_ok(*s, b);
    before = all_audit(*s);
  }
  {
    // Turn the file back into exactly what version 1 wrote: no hash columns, version row 1 only.
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    undo_migration_4(raw);
    raw.exec("DROP TRIGGER audit_no_update");
    raw.exec("ALTER TABLE audit DROP COLUMN hash");
    raw.exec("ALTER TABLE audit DROP COLUMN prev_hash");
    raw.exec("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
             "BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 2");
    // ... and without what version 3 (the task lifecycle) added after it.
    raw.exec("DROP TRIGGER tasks_status_transition");
    raw.exec("DROP TABLE task_transitions");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 3");
  }
  auto s = open(db_of(dir));
  int version = 0;
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);
  auto after = all_audit(*s);
  REQUIRE(after.size() == before.size());
  check_links(after);
  // The backfill computes exactly what commit() computed for the same records.
  for (std::size_t i = 0; i < after.size(); ++i) {
    INFO("seq " << after[i].seq);
    CHECK(after[i].hash == before[i].hash);
  }
  // Still append-only, and new records chain onto the migrated ones.
  SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
  CHECK_THROWS_WITH(raw.exec("UPDATE audit SET hash = '' WHERE seq = 1"), Catch::Contains("append-only"));
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'").getInt() ==
        2);
  sdk::WriteBatch b;
  b.audit.push_back(audit("credit", "new", "x"));
  commit_ok(*s, b);
  CHECK(b.audit[0].seq == 2501);
  CHECK(b.audit[0].prev_hash == after.back().hash);
}

TEST_CASE("an emptied sqlite_sequence does not make audit inserts collide with stored seqs", "[sqlite-only]") {
  TempDir dir;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    for (int i = 0; i < 3; ++i) b.audit.push_back(audit("credit", "e" + std::to_string(i), "x"));
    commit_ok(*s, b);
  }
  SQLite::Database(db_of(dir), SQLite::OPEN_READWRITE).exec("DELETE FROM sqlite_sequence WHERE name = 'audit'");
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.audit.push_back(audit("credit", "e3", "x"));
  commit_ok(*s, b);
  CHECK(b.audit[0].seq == 4);
  check_links(all_audit(*s));
}
