// The audit hash chain end to end: records written by the real storage-sqlite.so, the file then
// tampered with directly, and verify_chain expected to name exactly the first bad record.
#include "audit/audit_chain.hpp"
#include "plugin/plugin_registry.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
namespace sdk = hitl::sdk;
using namespace hitl::audit;

namespace {

const hitl::plugin::LoadedPlugin& storage_plugin() {
  static const auto lp = hitl::plugin::load_plugin(HITL_PLUGIN_DIR "/storage-sqlite.so");
  return lp;
}

struct TempDb {
  fs::path dir;
  TempDb() {
    static int counter = 0;
    dir = fs::temp_directory_path() / ("hitl-audit-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDb() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path() const { return (dir / "hitl.db").string(); }
  std::shared_ptr<sdk::Storage> open() const {
    return hitl::plugin::create_storage(storage_plugin(), nlohmann::json{{"path", path()}}.dump());
  }
};

sdk::AuditRecord record(int i) {
  sdk::AuditRecord a;
  a.ts_ms = 1'700'000'000'000 + i;
  a.actor = i % 3 ? "alice" : "system";
  a.action = i % 2 ? "review.submitted" : "decision.created";
  a.domain = "credit_risk";
  a.entity = i % 2 ? "task" : "decision";
  a.entity_id = "e" + std::to_string(i);
  a.detail_json = R"({"i":)" + std::to_string(i) + "}";
  return a;
}

// Appends `n` records in batches of `per_batch`; returns what commit() filled in.
std::vector<sdk::AuditRecord> append(sdk::Storage& s, int n, int per_batch = 5) {
  std::vector<sdk::AuditRecord> out;
  for (int i = 0; i < n;) {
    sdk::WriteBatch b;
    for (int j = 0; j < per_batch && i < n; ++j, ++i) b.audit.push_back(record(i));
    auto st = s.commit(b);
    INFO(st.message);
    REQUIRE(st.ok());
    out.insert(out.end(), b.audit.begin(), b.audit.end());
  }
  return out;
}

// A database with `n` chained records, written through the plugin and closed again.
void make_chain(const TempDb& db, int n) {
  auto s = db.open();
  append(*s, n);
}

// Opens the file as an attacker would: straight SQLite, append-only triggers dropped.
SQLite::Database tamper(const TempDb& db) {
  SQLite::Database raw(db.path(), SQLite::OPEN_READWRITE);
  raw.exec("DROP TRIGGER IF EXISTS audit_no_update");
  raw.exec("DROP TRIGGER IF EXISTS audit_no_delete");
  return raw;
}

VerifyResult verify(const TempDb& db, std::size_t page_size = 5) {
  auto s = db.open();
  return verify_chain(*s, page_size);
}

// Moves records seq >= from up by one, leaving seq `from` free (two steps: no key collides).
void renumber_up(SQLite::Database& raw, int from) {
  raw.exec("UPDATE audit SET seq = -seq WHERE seq >= " + std::to_string(from));
  raw.exec("UPDATE audit SET seq = 1 - seq WHERE seq < 0");
}

sdk::AuditRecord read_raw(SQLite::Database& raw, int seq) {
  SQLite::Statement q(raw, "SELECT seq, ts_ms, actor, action, domain, entity, entity_id, detail_json, prev_hash, hash "
                           "FROM audit WHERE seq = ?");
  q.bind(1, seq);
  REQUIRE(q.executeStep());
  return {q.getColumn(0).getInt64(), q.getColumn(1).getInt64(), q.getColumn(2).getString(),
          q.getColumn(3).getString(), q.getColumn(4).getString(), q.getColumn(5).getString(),
          q.getColumn(6).getString(), q.getColumn(7).getString(), q.getColumn(8).getString(),
          q.getColumn(9).getString()};
}

void insert_raw(SQLite::Database& raw, const sdk::AuditRecord& a) {
  SQLite::Statement ins(raw, "INSERT INTO audit(seq, ts_ms, actor, action, domain, entity, entity_id, detail_json, "
                             "prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?,?)");
  ins.bind(1, a.seq);
  ins.bind(2, a.ts_ms);
  ins.bind(3, a.actor);
  ins.bind(4, a.action);
  ins.bind(5, a.domain);
  ins.bind(6, a.entity);
  ins.bind(7, a.entity_id);
  ins.bind(8, a.detail_json);
  ins.bind(9, a.prev_hash);
  ins.bind(10, a.hash);
  ins.exec();
}

// `passed`: how many records verified before the bad one (-1: all of seq 1 .. seq-1).
void check_broken(const VerifyResult& r, std::int64_t seq, const std::string& reason_part, std::int64_t passed = -1) {
  INFO("reason: " << r.reason);
  CHECK_FALSE(r.ok);
  CHECK(r.bad_seq == seq);
  CHECK_THAT(r.reason, Catch::Contains(reason_part));
  CHECK(r.records == (passed < 0 ? seq - 1 : passed));  // everything before the first bad record passed
}

}  // namespace

TEST_CASE("host and storage-sqlite hash the example record of plugin_api.hpp identically") {
  // Expected values computed independently with Python's hashlib from the documented format.
  sdk::AuditRecord a{1, 1700000000000, "alice", "review.submitted", "credit_risk", "task", "42",
                     R"({"outcome":"correct","label":"bad"})", sdk::kAuditGenesisHash, ""};
  CHECK(canonical_record(a) ==
        "1:1,13:1700000000000,5:alice,16:review.submitted,11:credit_risk,4:task,2:42,"
        "64:8bcf56be90c50228c9fe30240403141e2c996720e08d82c003558ee4614355b7,"
        "64:0000000000000000000000000000000000000000000000000000000000000000,");
  const std::string h1 = "b3f009b43b0c0417f1a85a842e3c8e6a464332426fae9c612d227cb2b84fd8c3";
  CHECK(record_hash(a) == h1);
  // Byte lengths, not characters: "système" is 8 bytes. Empty fields still get "0:,".
  sdk::AuditRecord b{2, 1700000000123, "syst\xc3\xa8me", "decision.created", "", "decision", "", "{}", h1, ""};
  CHECK_THAT(canonical_record(b), Catch::StartsWith("1:2,13:1700000000123,8:syst\xc3\xa8me,16:decision.created,0:,"));
  const std::string h2 = "b6ec9b2ac957219a0f5a07935c4c7713fad9860d4a9c326bad3c5762a7925d52";
  CHECK(record_hash(b) == h2);

  TempDb db;
  auto s = db.open();
  sdk::WriteBatch batch;
  batch.audit = {a, b};
  batch.audit[0].seq = batch.audit[1].seq = 0;  // storage assigns them
  batch.audit[1].prev_hash = "";
  REQUIRE(s->commit(batch).ok());
  CHECK(batch.audit[0].hash == h1);
  CHECK(batch.audit[1].prev_hash == h1);
  CHECK(batch.audit[1].hash == h2);
  auto v = verify_chain(*s);
  CHECK(v.ok);
  CHECK(v.head.hash == h2);
}

TEST_CASE("an untouched chain verifies at every page size, and the head is the newest record") {
  TempDb db;
  auto s = db.open();
  auto empty = verify_chain(*s);
  CHECK(empty.ok);
  CHECK(empty.records == 0);
  CHECK(empty.head.seq == 0);
  CHECK(empty.head.hash == std::string(64, '0'));
  CHECK(chain_head(*s).seq == 0);

  std::vector<sdk::AuditRecord> written;
  for (int n = 1; n <= 40; ++n) {  // chain_head's gallop + bisect at every size, exact or not a power of two
    auto more = append(*s, 1);
    written.push_back(more.front());
    auto head = chain_head(*s);
    INFO("records " << n);
    CHECK(head.seq == n);
    CHECK(head.hash == written.back().hash);
  }
  for (std::size_t page : {1u, 3u, 40u, 1000u}) {
    INFO("page size " << page);
    auto v = verify_chain(*s, page);
    CHECK(v.ok);
    CHECK(v.reason.empty());
    CHECK(v.records == 40);
    CHECK(v.head.seq == 40);
    CHECK(v.head.hash == written.back().hash);
  }
  CHECK_THROWS_AS(verify_chain(*s, 0), std::invalid_argument);
}

TEST_CASE("an edited record is named by a hash mismatch at its own seq") {
  for (const char* edit : {"UPDATE audit SET actor = 'mallory' WHERE seq = 7",
                           "UPDATE audit SET detail_json = '{\"i\":999}' WHERE seq = 7",
                           "UPDATE audit SET ts_ms = ts_ms + 1 WHERE seq = 7",
                           "UPDATE audit SET hash = 'ff' || substr(hash, 3) WHERE seq = 7"}) {
    INFO(edit);
    TempDb db;
    make_chain(db, 12);
    tamper(db).exec(edit);
    check_broken(verify(db), 7, "hash mismatch");
  }
}

TEST_CASE("an edit whose hash was recomputed is caught by the next record's link") {
  TempDb db;
  make_chain(db, 12);
  {
    auto raw = tamper(db);
    auto r = read_raw(raw, 7);
    r.actor = "mallory";
    SQLite::Statement upd(raw, "UPDATE audit SET actor = ?, hash = ? WHERE seq = 7");
    upd.bind(1, r.actor);
    upd.bind(2, record_hash(r));
    upd.exec();
  }
  check_broken(verify(db), 8, "does not match the hash of seq 7");
}

TEST_CASE("a deleted record is named as a seq gap at the record after it") {
  SECTION("in the middle") {
    TempDb db;
    make_chain(db, 12);
    tamper(db).exec("DELETE FROM audit WHERE seq = 6");
    check_broken(verify(db), 7, "seq 5 is followed by seq 7", 5);
  }
  SECTION("the first record") {
    TempDb db;
    make_chain(db, 12);
    tamper(db).exec("DELETE FROM audit WHERE seq = 1");
    check_broken(verify(db), 2, "starts at seq 2", 0);
  }
  SECTION("deleted and the rest renumbered to close the gap") {
    TempDb db;
    make_chain(db, 12);
    {
      auto raw = tamper(db);
      raw.exec("DELETE FROM audit WHERE seq = 6");
      raw.exec("UPDATE audit SET seq = seq - 1 WHERE seq > 6");  // ascending: never collides
    }
    // Old seq 7, now at seq 6, still links to the deleted record.
    check_broken(verify(db), 6, "does not match the hash of seq 5");
  }
  SECTION("the newest record: the chain stays consistent, only the head moves") {
    // Truncation cannot be seen from inside the chain; that is why the head is logged elsewhere.
    TempDb db;
    make_chain(db, 12);
    const auto head = chain_head(*db.open());
    tamper(db).exec("DELETE FROM audit WHERE seq = 12");
    auto v = verify(db);
    CHECK(v.ok);
    CHECK(v.head.seq == 11);
    CHECK(v.head.hash != head.hash);
    // The next record written keeps the gap visible (its seq is 13, not a reused 12).
    auto s = db.open();
    append(*s, 1);
    check_broken(verify_chain(*s), 13, "seq 11 is followed by seq 13", 11);
  }
}

TEST_CASE("a forged record inserted in the middle is named at the first record it displaces") {
  SECTION("forged with a valid hash linked to its predecessor: the next record's link breaks") {
    TempDb db;
    make_chain(db, 12);
    {
      auto raw = tamper(db);
      renumber_up(raw, 6);
      auto forged = record(100);
      forged.seq = 6;
      forged.actor = "mallory";
      forged.prev_hash = read_raw(raw, 5).hash;
      forged.hash = record_hash(forged);
      insert_raw(raw, forged);
    }
    // Seq 6 (the forgery) is self-consistent; seq 7 was seq 6 and still links to seq 5.
    check_broken(verify(db), 7, "does not match the hash of seq 6");
  }
  SECTION("forged without a valid link: named at its own seq") {
    TempDb db;
    make_chain(db, 12);
    {
      auto raw = tamper(db);
      renumber_up(raw, 6);
      auto forged = record(100);
      forged.seq = 6;
      forged.prev_hash = std::string(64, 'a');
      forged.hash = record_hash(forged);
      insert_raw(raw, forged);
    }
    check_broken(verify(db), 6, "does not match the hash of seq 5");
  }
}

TEST_CASE("two records swapped are named at the first of them") {
  SECTION("whole records swapped, hashes included") {
    TempDb db;
    make_chain(db, 12);
    {
      auto raw = tamper(db);
      raw.exec("UPDATE audit SET seq = -4 WHERE seq = 4");
      raw.exec("UPDATE audit SET seq = 4 WHERE seq = 5");
      raw.exec("UPDATE audit SET seq = 5 WHERE seq = -4");
    }
    check_broken(verify(db), 4, "does not match the hash of seq 3");
  }
  SECTION("contents swapped, hash columns left in place") {
    TempDb db;
    make_chain(db, 12);
    {
      auto raw = tamper(db);
      auto r4 = read_raw(raw, 4), r5 = read_raw(raw, 5);
      SQLite::Statement upd(raw, "UPDATE audit SET ts_ms = ?, actor = ?, action = ?, entity = ?, entity_id = ?, "
                                 "detail_json = ? WHERE seq = ?");
      for (auto [from, to] : {std::pair{&r5, 4}, std::pair{&r4, 5}}) {
        upd.reset();
        upd.bind(1, from->ts_ms);
        upd.bind(2, from->actor);
        upd.bind(3, from->action);
        upd.bind(4, from->entity);
        upd.bind(5, from->entity_id);
        upd.bind(6, from->detail_json);
        upd.bind(7, to);
        upd.exec();
      }
    }
    check_broken(verify(db), 4, "hash mismatch");
  }
}

TEST_CASE("a version 1 database is migrated into a chain that verifies and still detects edits") {
  TempDb db;
  make_chain(db, 23);
  {
    // Exactly what storage-sqlite schema version 1 left: no hash columns, no version 2 row.
    auto raw = tamper(db);
    raw.exec("ALTER TABLE audit DROP COLUMN hash");
    raw.exec("ALTER TABLE audit DROP COLUMN prev_hash");
    raw.exec("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
             "BEGIN SELECT RAISE(ABORT, 'audit is append-only: UPDATE refused'); END");
    raw.exec("CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
             "BEGIN SELECT RAISE(ABORT, 'audit is append-only: DELETE refused'); END");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 2");
    // ... and without what version 3 (the task lifecycle) added after it.
    raw.exec("DROP TRIGGER tasks_status_transition");
    raw.exec("DROP TABLE task_transitions");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 3");
    // ... and without what versions 5 (review workflow) and 4 (payload erasure, ground truth,
    // read indexes) added.
    raw.exec("DROP TABLE deliveries");
    raw.exec("DROP TABLE reviewers");
    raw.exec("DROP INDEX tasks_by_assignee");
    raw.exec("DROP INDEX reviews_by_reviewer");
    for (const char* col : {"skills", "pool", "reviews_required", "reviews_done", "gold", "gold_label", "sla_state",
                            "escalations", "preassigned", "origin"})
      raw.exec(std::string("ALTER TABLE tasks DROP COLUMN ") + col);
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 5");
    for (const char* index : {"decisions_by_created", "reviews_by_domain", "reviews_by_decision", "feedback_by_decision"})
      raw.exec(std::string("DROP INDEX ") + index);
    for (const char* col : {"input_hash", "erased_ms", "truth_label", "truth_ms"})
      raw.exec(std::string("ALTER TABLE decisions DROP COLUMN ") + col);
    raw.exec("ALTER TABLE reviews DROP COLUMN started_ms");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 4");
    // ... and without the token life cycle of version 6.
    raw.exec("DROP TRIGGER token_life_on_INSERT");
    raw.exec("DROP TRIGGER token_life_on_UPDATE");
    raw.exec("DROP TABLE token_expiries");
    raw.exec("DROP TABLE token_life");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 6");
    // ... and without the named blobs of version 7.
    raw.exec("DROP TABLE blobs");
    raw.exec("DELETE FROM schema_migrations WHERE component = 'storage' AND version = 7");
  }
  {
    auto s = db.open();  // migrates
    int version = 0;
    REQUIRE(s->schema_version(version).ok());
    CHECK(version == 7);  // the latest: migrations 2 to 7 all ran
    auto v = verify_chain(*s, 4);
    CHECK(v.ok);
    CHECK(v.records == 23);
    append(*s, 2);
    CHECK(verify_chain(*s).records == 25);
  }
  tamper(db).exec("UPDATE audit SET entity_id = 'x' WHERE seq = 3");
  check_broken(verify(db), 3, "hash mismatch");
}

TEST_CASE("export_jsonl writes a seq range as JSON Lines that re-verify offline") {
  TempDb db;
  auto s = db.open();
  auto written = append(*s, 12);
  std::ostringstream out;
  CHECK(export_jsonl(*s, 3, 7, out, 2) == 5);
  std::istringstream in(out.str());
  std::int64_t expect = 3;
  std::string prev = written[1].hash;  // seq 2
  for (std::string line; std::getline(in, line); ++expect) {
    auto j = nlohmann::json::parse(line);
    sdk::AuditRecord r{j.at("seq"), j.at("ts_ms"), j.at("actor"), j.at("action"), j.at("domain"),
                       j.at("entity"), j.at("entity_id"), j.at("detail_json"), j.at("prev_hash"), j.at("hash")};
    INFO(line);
    CHECK(r.seq == expect);
    CHECK(r.detail_json == written[expect - 1].detail_json);  // kept as the exact string
    CHECK(r.prev_hash == prev);
    CHECK(record_hash(r) == r.hash);
    prev = r.hash;
  }
  CHECK(expect == 8);

  std::ostringstream all;
  CHECK(export_jsonl(*s, 1, 0, all) == 12);  // to 0: up to the newest
  std::ostringstream none;
  CHECK(export_jsonl(*s, 13, 0, none) == 0);
  CHECK(none.str().empty());
  CHECK_THROWS_AS(export_jsonl(*s, 0, 0, none), std::invalid_argument);
  CHECK_THROWS_WITH(export_jsonl(*s, 5, 4, none), Catch::Contains("before from seq 5"));
}
