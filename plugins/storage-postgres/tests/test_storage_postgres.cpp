// What storage-postgres does beyond the shared storage suite (plugins/storage-sqlite/tests, run
// on PostgreSQL as test-storage-postgres-suite): its config, connection failures, migrations
// under concurrent starts, one audit chain under concurrent writers, batched intake, hostile
// bytes. The plugin is loaded through Boost.DLL; the server is the throw-away test server.
#include <hitl/audit_chain.hpp>
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "pg_storage_testing.hpp"

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

namespace sdk = hitl::sdk;
using namespace hitl::test::pg_storage;

namespace {

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) out += digits[c >> 4], out += digits[c & 0xf];
  return out;
}

// Walks the whole trail as `hitl audit verify` does: seq 1, 2, ... and every hash recomputed.
std::size_t verify_chain(sdk::Storage& s) {
  std::vector<sdk::AuditRecord> all;
  REQUIRE(s.list_audit(sdk::AuditFilter{"", "", 0, 1'000'000}, all).ok());
  std::string prev = sdk::kAuditGenesisHash;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto& a = all[i];
    INFO("seq " << a.seq);
    REQUIRE(a.seq == static_cast<std::int64_t>(i + 1));
    REQUIRE(a.prev_hash == prev);
    std::string canonical;
    sdk::audit_chain::append_canonical(canonical, a, sha256_hex(a.detail_json), prev);
    REQUIRE(a.hash == sha256_hex(canonical));
    prev = a.hash;
  }
  return all.size();
}

}  // namespace

TEST_CASE("descriptor: storage kind named postgres with every option documented") {
  const auto& d = plugin();
  CHECK(d.kind == sdk::PluginKind::storage);
  CHECK(std::string(d.name) == "postgres");
  CHECK(d.api.major == HITL_SDK_STORAGE_API_MAJOR);
  CHECK(d.api.minor == HITL_SDK_STORAGE_API_MINOR);
  std::set<std::string> names;
  for (const auto& o : nlohmann::json::parse(d.config_doc)) {
    CHECK(o.contains("type"));
    CHECK(o.contains("default"));
    CHECK_FALSE(o.at("description").get<std::string>().empty());
    names.insert(o.at("name").get<std::string>());
  }
  CHECK(names == std::set<std::string>{"url", "pool_size", "statement_timeout_ms", "connect_timeout_s"});
}

TEST_CASE("the README's option table is the descriptor's config_doc") {
  std::ifstream in(HITL_SOURCE_DIR "/plugins/storage-postgres/README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE_FALSE(readme.empty());
  for (const auto& o : nlohmann::json::parse(plugin().config_doc)) {
    const auto& d = o.at("default");
    const std::string row = "| `" + o.at("name").get<std::string>() + "` | " + o.at("type").get<std::string>() + " | " +
                            (d.is_null() ? std::string("required") : d.dump()) + " |";
    INFO(row);
    CHECK(readme.find(row) != std::string::npos);
  }
}

TEST_CASE("bad config is refused naming the key, before any connection") {
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {nlohmann::json::object(), "\"url\""},
      {{{"url", 7}}, "config key \"url\""},
      {{{"url", "postgresql://x/y"}, {"pool_size", 0}}, "config key \"pool_size\""},
      {{{"url", "postgresql://x/y"}, {"pool_size", 2.5}}, "config key \"pool_size\""},
      {{{"url", "postgresql://x/y"}, {"statement_timeout_ms", -1}}, "config key \"statement_timeout_ms\""},
      {{{"url", "postgresql://x/y"}, {"path", "hitl.db"}}, "unknown config key \"path\""},
  };
  for (const auto& [config, words] : cases) {
    INFO(config.dump());
    std::unique_ptr<sdk::Storage> s;
    const auto st = try_open(config, s);
    CHECK(st.code == sdk::Code::invalid_argument);
    CHECK_THAT(st.message, Catch::Contains(words));
    CHECK_FALSE(s);
  }
}

TEST_CASE("a server that cannot be reached is unavailable, and the message hides the password") {
  std::unique_ptr<sdk::Storage> s;
  // Port 1 on loopback: refused at once, no server needed.
  const auto st = try_open({{"url", "postgresql://hitl:s3cret@127.0.0.1:1/hitl"}, {"connect_timeout_s", 2}}, s);
  CHECK(st.code == sdk::Code::unavailable);
  CHECK_THAT(st.message, Catch::Contains("cannot connect") && Catch::Contains("127.0.0.1:1"));
  CHECK_THAT(st.message, !Catch::Contains("s3cret"));
  CHECK_FALSE(s);
}

TEST_CASE("instances starting together migrate once, under the advisory lock") {
  HITL_PG_DATABASE(url);
  std::vector<std::unique_ptr<sdk::Storage>> opened(6);
  std::vector<sdk::Status> results(opened.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < opened.size(); ++i)
    threads.emplace_back([&, i] { results[i] = try_open({{"url", url}}, opened[i]); });
  for (auto& t : threads) t.join();
  for (const auto& st : results) {
    INFO(st.message);
    CHECK(st.ok());
  }
  int version = 0;
  REQUIRE(opened[0]->schema_version(version).ok());
  CHECK(version == 5);
  pqxx::connection c(url);
  pqxx::work tx(c);
  CHECK(tx.exec("SELECT COUNT(*) FROM schema_migrations WHERE component = 'storage'")[0][0].as<int>() == 5);
  // A database a newer plugin migrated further is refused, naming both versions.
  tx.exec("INSERT INTO schema_migrations VALUES('storage', 6, 0)");
  tx.commit();
  std::unique_ptr<sdk::Storage> s;
  const auto st = try_open({{"url", url}}, s);
  CHECK(st.code == sdk::Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("version 6") && Catch::Contains("up to 5"));
}

TEST_CASE("concurrent writers on one database append to one audit chain, never a fork") {
  HITL_PG_DATABASE(url);
  // Two storage objects: two instances of the service, each with its own writer connection.
  auto a = open(url), b = open(url);
  constexpr int kBatches = 40, kPerBatch = 3;
  auto writer = [&](sdk::Storage& s, const std::string& who) {
    for (int i = 0; i < kBatches; ++i) {
      sdk::WriteBatch batch;
      for (int k = 0; k < kPerBatch; ++k)
        batch.audit.push_back({0, 1000 + i, who, "task.claimed", "credit", "task", std::to_string(i), "{\"k\":1}"});
      commit_ok(s, batch);
    }
  };
  std::thread ta([&] { writer(*a, "instance-a"); });
  std::thread tb([&] { writer(*b, "instance-b"); });
  ta.join();
  tb.join();
  CHECK(verify_chain(*a) == 2 * kBatches * kPerBatch);
  // Neither copy of the trail is touchable from outside: no UPDATE, DELETE or TRUNCATE.
  pqxx::connection c(url);
  for (const char* sql : {"UPDATE audit SET actor = 'mallory'", "DELETE FROM audit", "TRUNCATE audit"}) {
    INFO(sql);
    pqxx::work tx(c);
    CHECK_THROWS_WITH(tx.exec(sql), Catch::Contains("append-only"));
  }
}

TEST_CASE("a batch of many decisions is written in chunks, duplicates answered with the original") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto original_task = commit_with_task(*s, "d-7");

  // 1100 rows: two statements (kRowsPerInsert = 1000), the repeat of d-20 in the second.
  sdk::WriteBatch b;
  for (int i = 0; i < 1100; ++i) b.decisions.push_back(decision("d-" + std::to_string(i), i % 2 == 1));
  b.decisions.push_back(decision("d-20", true));  // again within the batch: the first one wins
  commit_ok(*s, b);
  std::set<std::int64_t> task_ids;
  for (std::size_t i = 0; i < b.decisions.size(); ++i) {
    const auto& nd = b.decisions[i];
    INFO(nd.decision.id << " at " << i);
    const bool dup = nd.decision.id == "d-7" || i == 1100;
    CHECK(nd.duplicate == dup);
    if (nd.duplicate) continue;
    std::optional<sdk::DecisionRecord> stored;
    REQUIRE(s->get_decision("credit", nd.decision.id, stored).ok());
    REQUIRE(stored);
    CHECK(stored->task_id == nd.decision.task_id);
    CHECK(stored->confidence == 0.1 + 0.2);
    if (nd.task) CHECK(task_ids.insert(nd.task->task_id).second);
  }
  CHECK(b.decisions[7].decision.task_id == original_task);  // d-7's stored original
  CHECK(b.decisions[1100].decision.task_id == 0);            // d-20 (even) opened no task
  CHECK(task_ids.size() == 549);                             // odd ids, d-7 excepted
  CHECK(verify_chain(*s) == 1 + 1100 - 1);                   // the duplicates' records are not written
  // Tasks go in before their decisions: those made for d-7 and the second d-20 are gone again.
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == 550);
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks t LEFT JOIN decisions d ON d.domain = t.domain "
                      "AND d.id = t.decision_id AND d.task_id = t.task_id WHERE d.id IS NULL") == 0);
}

TEST_CASE("two instances writing the same ids at once: each decision once, with one task, none orphaned") {
  HITL_PG_DATABASE(url);
  auto a = open(url), b = open(url);  // two writer connections, as two instances have
  constexpr int kIds = 300;
  std::vector<sdk::WriteBatch> batches(2);
  for (auto& batch : batches)
    for (int i = 0; i < kIds; ++i) batch.decisions.push_back(decision("race-" + std::to_string(i), true));
  std::thread ta([&] { commit_ok(*a, batches[0]); });
  std::thread tb([&] { commit_ok(*b, batches[1]); });
  ta.join();
  tb.join();
  for (int i = 0; i < kIds; ++i) {
    const auto& x = batches[0].decisions[i];
    const auto& y = batches[1].decisions[i];
    INFO("race-" << i);
    CHECK(x.duplicate != y.duplicate);  // exactly one of the writers stored it
    CHECK(x.decision.task_id == y.decision.task_id);  // and both answer its task
  }
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == kIds);
  CHECK(read_int(url, "SELECT COUNT(*) FROM decisions d JOIN tasks t ON t.task_id = d.task_id AND "
                      "t.decision_id = d.id") == kIds);
  CHECK(verify_chain(*a) == kIds);
}

TEST_CASE("text with quotes, backslashes, braces and commas survives the bulk path byte for byte") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const std::string nasty = R"(a "quoted" \back\slash, {brace} NULL ' ; --)";
  sdk::WriteBatch b;
  for (int i = 0; i < 3; ++i) {
    b.decisions.push_back(decision(nasty + std::to_string(i), true));
    b.decisions.back().decision.input_json = R"({"note":")" + nasty + R"("})";
    b.feedback.push_back({"credit", nasty, nasty, nasty, "", 0.5, "correct", "alice", 1});
  }
  commit_ok(*s, b);
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", nasty + "1", d).ok());
  REQUIRE(d);
  CHECK(d->input_json == R"({"note":")" + nasty + R"("})");
  std::vector<sdk::FeedbackRecord> fb;
  REQUIRE(s->list_feedback("credit", fb).ok());
  REQUIRE(fb.size() == 3);
  CHECK(fb[0].decision_id == nasty);
  CHECK(fb[0].final_label == nasty);
  CHECK(verify_chain(*s) == 3);
}

TEST_CASE("hostile bytes are refused as invalid_argument, and the storage keeps working") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  sdk::WriteBatch b;
  b.decisions.push_back(decision(std::string("nul\0byte", 8), false));
  const auto st = s->commit(b);
  CHECK(st.code == sdk::Code::invalid_argument);
  sdk::WriteBatch bad_utf8;
  bad_utf8.decisions.push_back(decision("\xff\xfe", false));
  CHECK(s->commit(bad_utf8).code == sdk::Code::invalid_argument);
  sdk::WriteBatch good;
  good.decisions.push_back(decision("fine", false));
  commit_ok(*s, good);
  CHECK(verify_chain(*s) == 1);
}

// The intake goes in by COPY (text format): the bytes that format gives a meaning -- tab,
// newline, carriage return, backslash, "\N" (NULL), "\." (end of data) -- must arrive as they
// were, in each table copied (decisions, tasks, audit), in a batch big enough to be sent in
// several blocks.
TEST_CASE("the bytes COPY gives a meaning (tab, newline, CR, backslash, NULL and end-of-data marks) survive the intake") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const std::string nasty = "tab\there\nnew line\r\n\\N \\. \\\\ \\t end\\";
  sdk::WriteBatch b;
  for (int i = 0; i < 600; ++i) {  // ~250 KB of rows: several 64 KB COPY blocks
    auto nd = decision(nasty + std::to_string(i), true);
    nd.decision.input_json = std::string(300, 'x') + nasty;
    nd.decision.reason = "\\.";
    nd.task->reason = nasty;
    nd.audit[0].detail_json = nasty;
    b.decisions.push_back(std::move(nd));
  }
  commit_ok(*s, b);
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s->get_decision("credit", nasty + "599", d).ok());
  REQUIRE(d);
  CHECK(d->input_json == std::string(300, 'x') + nasty);
  CHECK(d->reason == "\\.");
  std::optional<sdk::TaskRecord> t;
  REQUIRE(s->get_task(d->task_id, t).ok());
  REQUIRE(t);
  CHECK(t->reason == nasty);
  CHECK(t->decision_id == nasty + "599");
  std::vector<sdk::AuditRecord> trail;
  REQUIRE(s->list_audit(sdk::AuditFilter{"", "", 0, 1000}, trail).ok());
  REQUIRE(trail.size() == 600);
  CHECK(trail[599].detail_json == nasty);
  CHECK(verify_chain(*s) == 600);  // the hashes were taken over the bytes stored
}

// Everything of a batch is one transaction: a part that fails after the decisions, tasks and
// audit records were copied in takes them all back, and the chain continues as if it never was.
TEST_CASE("a batch failing after its COPYs rolls back whole, and the next batch continues the chain") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto kept_task = commit_with_task(*s, "kept");
  sdk::WriteBatch b;
  for (int i = 0; i < 2500; ++i) b.decisions.push_back(decision("lost-" + std::to_string(i), i % 3 == 0));
  b.finals.push_back({"credit", "no-such-decision", "approve", "approved", 5});  // applied after the COPYs
  const auto st = s->commit(b);
  CHECK(st.code == sdk::Code::not_found);
  CHECK(read_int(url, "SELECT COUNT(*) FROM decisions") == 1);
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == 1);
  CHECK(read_int(url, "SELECT seq FROM audit_head") == 1);
  sdk::WriteBatch next;
  for (int i = 0; i < 3; ++i) next.decisions.push_back(decision("next-" + std::to_string(i), true));
  commit_ok(*s, next);
  CHECK(verify_chain(*s) == 4);
  CHECK(next.decisions[0].task->task_id > kept_task);  // ids are never handed out twice
}

// A very large batch goes in with one COPY per table; one repeated id sends the whole batch down
// the INSERT ... ON CONFLICT path (kRowsPerInsert rows per statement), with the same answers.
TEST_CASE("a batch of 30000 decisions, then 30000 more with one stored id among them") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  constexpr int kBig = 30000;
  sdk::WriteBatch b;
  for (int i = 0; i < kBig; ++i) b.decisions.push_back(decision("big-" + std::to_string(i), i % 3 == 0));
  commit_ok(*s, b);
  sdk::WriteBatch again;
  for (int i = kBig; i < 2 * kBig; ++i) again.decisions.push_back(decision("big-" + std::to_string(i), i % 3 == 0));
  again.decisions.push_back(decision("big-42", true));  // stored by the first batch (with a task: 42 % 3 == 0)
  commit_ok(*s, again);
  CHECK(again.decisions.back().duplicate);
  CHECK(again.decisions.back().decision.task_id == b.decisions[42].task->task_id);
  for (int i = 0; i < kBig; ++i) REQUIRE(!again.decisions[static_cast<std::size_t>(i)].duplicate);
  CHECK(read_int(url, "SELECT COUNT(*) FROM decisions") == 2 * kBig);
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == 2 * kBig / 3);
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks t JOIN decisions d ON d.task_id = t.task_id AND "
                      "d.id = t.decision_id") == 2 * kBig / 3);
  CHECK(verify_chain(*s) == 2 * kBig);
}

// Small batches (below pg::kCopyFromRows) take the INSERT path, large ones COPY: both refuse it
// naming the column, before anything is sent.
TEST_CASE("a NUL byte in a task or audit field is refused naming the column, and nothing is stored") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  for (const int rows : {1, 150}) {
    INFO(rows << " rows");
    sdk::WriteBatch task_nul, audit_nul;
    for (int i = 0; i < rows; ++i) {
      task_nul.decisions.push_back(decision("t" + std::to_string(i), true));
      audit_nul.decisions.push_back(decision("a" + std::to_string(i), false));
    }
    task_nul.decisions.back().task->skills = std::string("a\0b", 3);
    auto st = s->commit(task_nul);
    CHECK(st.code == sdk::Code::invalid_argument);
    CHECK_THAT(st.message, Catch::Contains("tasks.skills") && Catch::Contains("NUL"));
    audit_nul.decisions.back().audit[0].detail_json = std::string("{\0}", 3);
    st = s->commit(audit_nul);
    CHECK(st.code == sdk::Code::invalid_argument);
    CHECK_THAT(st.message, Catch::Contains("audit.detail_json"));
  }
  CHECK(read_int(url, "SELECT (SELECT COUNT(*) FROM decisions) + (SELECT COUNT(*) FROM tasks) + "
                      "(SELECT COUNT(*) FROM audit)") == 0);
}

// A small batch (the HTTP intake's group commit) goes in by INSERT ... ON CONFLICT, its tasks
// with their ids in one statement: the same answers as the COPY path's.
TEST_CASE("a small batch: a stored id and a repeat in the batch answered with the original, each task its own id") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto original_task = commit_with_task(*s, "s-1");
  sdk::WriteBatch b;
  for (int i = 0; i < 6; ++i) b.decisions.push_back(decision("s-" + std::to_string(i), i % 2 == 1));
  b.decisions.push_back(decision("s-2", true));  // a repeat in the batch; the first s-2 opened no task
  commit_ok(*s, b);
  for (std::size_t i = 0; i < b.decisions.size(); ++i) {
    INFO(i);
    CHECK(b.decisions[i].duplicate == (i == 1 || i == 6));
  }
  CHECK(b.decisions[1].decision.task_id == original_task);  // s-1's stored original
  CHECK(b.decisions[6].decision.task_id == 0);              // the first s-2's
  // s-3 and s-5 opened tasks, numbered in input order, each holding its own decision's id.
  const auto t3 = b.decisions[3].task->task_id, t5 = b.decisions[5].task->task_id;
  CHECK(original_task < t3);
  CHECK(t3 < t5);
  for (const std::size_t i : {3u, 5u}) {
    std::optional<sdk::TaskRecord> task;
    REQUIRE(s->get_task(b.decisions[i].task->task_id, task).ok());
    REQUIRE(task);
    CHECK(task->decision_id == b.decisions[i].decision.id);
    CHECK(task->status == "pending");
    std::optional<sdk::DecisionRecord> stored;
    REQUIRE(s->get_decision("credit", b.decisions[i].decision.id, stored).ok());
    REQUIRE(stored);
    CHECK(stored->task_id == task->task_id);
  }
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == 3);  // the repeats' tasks are gone again
  CHECK(verify_chain(*s) == 1 + 5);
}

// Two instances store the same ids, one in small batches where the other has a large one: a
// small INSERT ... ON CONFLICT and a large COPY race on one key, and each instance's audit
// appends alternate between the one-statement and the COPY path on one chain.
TEST_CASE("two instances mixing small and large batches on the same ids: each stored once, one chain") {
  HITL_PG_DATABASE(url);
  auto a = open(url), b = open(url);
  const std::vector<int> sizes_a = {4, 4, 150, 4, 4, 150, 4, 4, 150}, sizes_b = {150, 4, 4, 150, 4, 4, 150, 4, 4};
  std::vector<sdk::WriteBatch> done_a, done_b;
  auto writer = [&](sdk::Storage& s, const std::vector<int>& sizes, std::vector<sdk::WriteBatch>& done) {
    int k = 0;
    for (const int n : sizes) {
      sdk::WriteBatch batch;
      for (int i = 0; i < n; ++i, ++k) batch.decisions.push_back(decision("m-" + std::to_string(k), k % 2 == 0));
      commit_ok(s, batch);
      done.push_back(std::move(batch));
    }
  };
  std::thread ta([&] { writer(*a, sizes_a, done_a); });
  std::thread tb([&] { writer(*b, sizes_b, done_b); });
  ta.join();
  tb.join();
  std::map<std::string, std::pair<int, std::int64_t>> seen;  // id -> (stored by how many, task id)
  for (auto* done : {&done_a, &done_b})
    for (const auto& batch : *done)
      for (const auto& nd : batch.decisions) {
        auto& [stored, task] = seen[nd.decision.id];
        stored += nd.duplicate ? 0 : 1;
        INFO(nd.decision.id);
        if (task) CHECK(task == nd.decision.task_id);  // both instances answer the same task
        task = nd.decision.task_id;
      }
  constexpr int kIds = 3 * (4 + 4 + 150);
  REQUIRE(seen.size() == kIds);
  for (const auto& [id, v] : seen) {
    INFO(id);
    CHECK(v.first == 1);
  }
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks") == kIds / 2);
  CHECK(read_int(url, "SELECT COUNT(*) FROM tasks t JOIN decisions d ON d.task_id = t.task_id AND "
                      "d.id = t.decision_id") == kIds / 2);
  CHECK(verify_chain(*a) == kIds);
}

// A small batch appends to the head its writer's last commit left, in one statement guarded by
// that head: another writer appending in between makes the guard miss, and the batch then reads
// the head and chains on from it -- whichever way, one chain.
TEST_CASE("a writer's remembered chain head: appends continue after another writer's, never from a stale head") {
  HITL_PG_DATABASE(url);
  auto a = open(url), b = open(url);
  int n = 0;
  auto append = [&](sdk::Storage& s, int records) {
    sdk::WriteBatch batch;
    for (int k = 0; k < records; ++k, ++n)
      batch.audit.push_back({0, 1000 + n, "x", "task.claimed", "credit", "task", std::to_string(n), "{}"});
    commit_ok(s, batch);
  };
  for (int i = 0; i < 4; ++i) append(*a, 2);  // a's head read twice, then remembered
  append(*b, 1);                              // moves the head under a
  append(*a, 3);                              // a's guarded append misses, reads, continues
  append(*a, 150);                            // a large batch: read and COPY
  append(*a, 2);
  append(*b, 2);
  append(*a, 1);
  CHECK(verify_chain(*a) == static_cast<std::size_t>(n));
}

// The HTTP intake's repeated-id checks, asked at once on many threads, are read together
// (src/pg_find_batcher.hpp): each caller still gets the stored decisions of its own ids only.
TEST_CASE("find_decisions asked on 12 threads at once answers each its own ids") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  sdk::WriteBatch b;
  for (int i = 0; i <= 300; i += 2) b.decisions.push_back(decision("f-" + std::to_string(i), i % 4 == 0));
  commit_ok(*s, b);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&, t] {
      for (int k = t; k < 300; k += 12) {
        const std::vector<std::string> ids{"f-" + std::to_string(k), "f-" + std::to_string(k + 1)};
        std::vector<std::optional<sdk::DecisionRecord>> found;
        if (!s->find_decisions("credit", ids, found).ok() || found.size() != 2) {
          ++wrong;
          continue;
        }
        for (std::size_t i = 0; i < 2; ++i) {
          const bool stored = (k + static_cast<int>(i)) % 2 == 0;
          if (stored != found[i].has_value() || (stored && found[i]->id != ids[i])) ++wrong;
        }
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}
