// The review path's kinds written one statement per kind (src/pg_review_writes.cpp): task moves,
// reviews, final outcomes, task patches and deliveries of a batch of several rows each. Every
// case has at least two rows of the kind it checks (one row goes the per-row way), and checks
// what a per-row write would have stored, row by row.
#include <hitl/plugin_api.hpp>

#include <catch2/catch.hpp>

#include "pg_storage_testing.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sdk = hitl::sdk;
using namespace hitl::test::pg_storage;

namespace {

// Commits n decisions "<prefix>0".."<prefix>n-1", each opening a pending task; their task ids.
std::vector<std::int64_t> open_tasks(sdk::Storage& s, const std::string& prefix, int n) {
  sdk::WriteBatch b;
  for (int i = 0; i < n; ++i) b.decisions.push_back(decision(prefix + std::to_string(i), true));
  commit_ok(s, b);
  std::vector<std::int64_t> ids;
  for (const auto& nd : b.decisions) ids.push_back(nd.task->task_id);
  return ids;
}

sdk::TaskUpdate move(std::int64_t task, const std::string& from, const std::string& to, const std::string& who = "") {
  return sdk::TaskUpdate{task, from, to, who, who.empty() ? 0 : 9000, 2000, false};
}

sdk::TaskRecord task(sdk::Storage& s, std::int64_t id) {
  std::optional<sdk::TaskRecord> t;
  REQUIRE(s.get_task(id, t).ok());
  REQUIRE(t);
  return *t;
}

sdk::DecisionRecord stored_decision(sdk::Storage& s, const std::string& id) {
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s.get_decision("credit", id, d).ok());
  REQUIRE(d);
  return *d;
}

sdk::ReviewRecord review(std::int64_t task, const std::string& reviewer, std::int64_t at) {
  return sdk::ReviewRecord{0, task, "credit", "r-" + reviewer, reviewer, "correct", "label-" + reviewer, "", at, at - 5};
}

std::vector<std::string> statuses(sdk::Storage& s, const std::vector<std::int64_t>& ids) {
  std::vector<std::string> out;
  for (const auto id : ids) out.push_back(task(s, id).status);
  return out;
}

}  // namespace

TEST_CASE("task moves in one statement: each row's guard decides its own `applied`") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto t = open_tasks(*s, "m", 8);
  sdk::WriteBatch b;
  for (std::size_t i = 0; i < t.size(); ++i)  // even rows' guards match (pending), odd rows' do not
    b.task_updates.push_back(i % 2 ? move(t[i], "assigned", "completed") : move(t[i], " escalated ,\tpending", "assigned", "rev" + std::to_string(i)));
  b.task_updates.push_back(move(t.back() + 1000, "pending", "assigned", "nobody"));  // no such task
  b.task_updates[0].applied = false;
  b.task_updates[1].applied = true;  // a stale answer is overwritten
  commit_ok(*s, b);
  for (std::size_t i = 0; i < b.task_updates.size(); ++i) {
    INFO("row " << i);
    CHECK(b.task_updates[i].applied == (i < t.size() && i % 2 == 0));
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    INFO("task " << i);
    const auto stored = task(*s, t[i]);
    CHECK(stored.status == (i % 2 ? "pending" : "assigned"));
    CHECK(stored.assignee == (i % 2 ? "" : "rev" + std::to_string(i)));
    CHECK(stored.lease_expires_ms == (i % 2 ? 0 : 9000));
  }
}

// A task twice among one batch's moves: the batch goes one statement per row, in order, so the
// second move sees the first (an UPDATE ... FROM would apply only one of them).
TEST_CASE("a task moved twice in one batch: the same answers as one batch per move") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto a = open_tasks(*s, "a", 2), b = open_tasks(*s, "b", 2);
  const auto moves = [](const std::vector<std::int64_t>& t) {
    return std::vector<sdk::TaskUpdate>{move(t[0], "pending", "assigned", "x"), move(t[0], "assigned", "completed"),
                                        move(t[1], "assigned", "pending"), move(t[1], "pending", "escalated")};
  };
  sdk::WriteBatch together;
  together.task_updates = moves(a);
  commit_ok(*s, together);
  std::vector<bool> one_by_one;
  for (auto& u : moves(b)) {
    sdk::WriteBatch single;
    single.task_updates.push_back(u);
    commit_ok(*s, single);
    one_by_one.push_back(single.task_updates[0].applied);
  }
  for (std::size_t i = 0; i < one_by_one.size(); ++i) {
    INFO("move " << i);
    CHECK(together.task_updates[i].applied == one_by_one[i]);
  }
  CHECK(one_by_one == std::vector<bool>{true, true, false, true});
  CHECK(statuses(*s, a) == statuses(*s, b));
  CHECK(statuses(*s, a) == std::vector<std::string>{"completed", "escalated"});
}

TEST_CASE("an illegal move amid legal ones refuses the whole batch, naming the kind and the pair") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto t = open_tasks(*s, "i", 5);
  sdk::WriteBatch done;
  done.task_updates = {move(t[2], "pending", "assigned", "x")};
  commit_ok(*s, done);
  done.task_updates = {move(t[2], "assigned", "completed")};
  commit_ok(*s, done);
  sdk::WriteBatch b;
  for (std::size_t i = 0; i < t.size(); ++i)
    b.task_updates.push_back(i == 2 ? move(t[i], "completed", "assigned", "y") : move(t[i], "pending", "assigned", "y"));
  b.reviews = {review(t[0], "y", 3000), review(t[1], "y", 3001)};
  b.decisions.push_back(decision("not-stored", true));
  const auto st = s->commit(b);
  CHECK(st.code == sdk::Code::conflict);
  CHECK_THAT(st.message, Catch::Contains("updating the batch's tasks") &&
                             Catch::Contains("illegal task transition completed -> assigned"));
  CHECK(statuses(*s, t) == std::vector<std::string>{"pending", "pending", "completed", "pending", "pending"});
  CHECK(read_int(url, "SELECT COUNT(*) FROM reviews") == 0);
  CHECK(read_int(url, "SELECT COUNT(*) FROM decisions WHERE id = 'not-stored'") == 0);
}

TEST_CASE("reviews and deliveries of one batch get ids in row order, each the id of its own stored row") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto t = open_tasks(*s, "r", 6);
  for (int round = 0; round < 2; ++round) {  // the second batch's ids follow the first's
    sdk::WriteBatch b;
    for (std::size_t i = 0; i < t.size(); ++i) {
      const auto who = "rev" + std::to_string(round) + std::to_string(i);
      b.reviews.push_back(review(t[i], who, 3000 + static_cast<std::int64_t>(i)));
      b.deliveries.push_back(sdk::DeliveryRecord{0, "credit", "r" + std::to_string(i), "decision.final",
                                                 "https://hook/" + who, "{}", "", 0, 0, "", 4000, 0});
    }
    b.deliveries[3].status = "delivered";
    commit_ok(*s, b);
    std::vector<sdk::ReviewRecord> reviews;
    REQUIRE(s->list_reviews(sdk::ReviewFilter{}, reviews).ok());
    std::vector<sdk::DeliveryRecord> deliveries;
    REQUIRE(s->list_deliveries(sdk::DeliveryFilter{}, deliveries).ok());
    std::map<std::int64_t, std::string> reviewer_of, url_of, status_of;
    for (const auto& r : reviews) reviewer_of[r.review_id] = r.reviewer;
    for (const auto& d : deliveries) url_of[d.delivery_id] = d.url, status_of[d.delivery_id] = d.status;
    for (std::size_t i = 0; i < t.size(); ++i) {
      INFO("round " << round << " row " << i);
      if (i > 0) CHECK(b.reviews[i].review_id > b.reviews[i - 1].review_id);
      if (i > 0) CHECK(b.deliveries[i].delivery_id > b.deliveries[i - 1].delivery_id);
      CHECK(reviewer_of[b.reviews[i].review_id] == b.reviews[i].reviewer);
      CHECK(url_of[b.deliveries[i].delivery_id] == b.deliveries[i].url);
      CHECK(status_of[b.deliveries[i].delivery_id] == (i == 3 ? "delivered" : "pending"));
    }
    CHECK(reviews.size() == t.size() * (round + 1));
  }
}

TEST_CASE("finals in one statement: an unknown decision amid known ones fails not_found naming it, nothing kept") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  open_tasks(*s, "f", 4);
  const auto final_of = [](const std::string& id, const std::string& label) {
    return sdk::FinalOutcome{"credit", id, label, "correct", 5000};
  };
  sdk::WriteBatch bad;
  bad.finals = {final_of("f0", "x"), final_of("f1", "x"), final_of("ghost", "x"), final_of("f2", "x"),
                final_of("ghost-2", "x")};
  const auto st = s->commit(bad);
  CHECK(st.code == sdk::Code::not_found);
  CHECK_THAT(st.message, Catch::Contains("final outcome for unknown decision 'ghost' in domain 'credit'"));
  CHECK(stored_decision(*s, "f0").final_label.empty());
  sdk::WriteBatch good;
  good.finals = {final_of("f0", "a"), final_of("f1", "b"), final_of("f3", "d")};
  commit_ok(*s, good);
  CHECK(stored_decision(*s, "f0").final_label == "a");
  CHECK(stored_decision(*s, "f1").final_label == "b");
  CHECK(stored_decision(*s, "f2").final_label.empty());
  CHECK(stored_decision(*s, "f3").final_label == "d");
  CHECK(stored_decision(*s, "f3").final_ms == 5000);
  sdk::WriteBatch twice;  // one decision twice: row by row, the later one stays
  twice.finals = {final_of("f2", "first"), final_of("f2", "second"), final_of("f0", "again")};
  commit_ok(*s, twice);
  CHECK(stored_decision(*s, "f2").final_label == "second");
  CHECK(stored_decision(*s, "f0").final_label == "again");
}

TEST_CASE("patches setting different columns in one batch: each task gets its own, nothing else changes") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto t = open_tasks(*s, "p", 6);
  sdk::WriteBatch b;
  b.task_patches.resize(6);
  for (std::size_t i = 0; i < 6; ++i) b.task_patches[i].task_id = t[i];
  b.task_patches[0].priority = 0.7, b.task_patches[0].pool = "senior";
  b.task_patches[1].sla_state = "at_risk";
  b.task_patches[2].priority = 0.25, b.task_patches[2].pool = "juniors, \"quoted\"";
  b.task_patches[3].reviews_done = 2, b.task_patches[3].escalations = 3, b.task_patches[3].deadline_ms = 77;
  b.task_patches[4].preassigned = "carol";  // and [5] sets nothing
  commit_ok(*s, b);
  const auto p0 = task(*s, t[0]), p1 = task(*s, t[1]), p2 = task(*s, t[2]), p3 = task(*s, t[3]), p4 = task(*s, t[4]);
  CHECK((p0.priority == 0.7 && p0.pool == "senior" && p0.sla_state.empty() && p0.reviews_done == 0));
  CHECK((p1.sla_state == "at_risk" && p1.priority == 0 && p1.pool.empty()));
  CHECK((p2.priority == 0.25 && p2.pool == "juniors, \"quoted\"" && p2.preassigned.empty()));
  CHECK((p3.reviews_done == 2 && p3.escalations == 3 && p3.deadline_ms == 77 && p3.priority == 0));
  CHECK((p4.preassigned == "carol" && p4.escalations == 0));
  CHECK(task(*s, t[5]).status == "pending");

  sdk::WriteBatch unknown;  // an unknown task among them: not_found naming it, the others rolled back
  unknown.task_patches.resize(3);
  unknown.task_patches[0].task_id = t[0], unknown.task_patches[0].priority = 0.9;
  unknown.task_patches[1].task_id = t.back() + 1000, unknown.task_patches[1].sla_state = "breached";
  unknown.task_patches[2].task_id = t[1], unknown.task_patches[2].sla_state = "breached";
  const auto st = s->commit(unknown);
  CHECK(st.code == sdk::Code::not_found);
  CHECK_THAT(st.message, Catch::Contains("patch for unknown task " + std::to_string(t.back() + 1000)));
  CHECK(task(*s, t[0]).priority == 0.7);
  CHECK(task(*s, t[1]).sla_state == "at_risk");

  sdk::WriteBatch twice;  // one task twice, the same column: row by row, the later one stays
  twice.task_patches.resize(3);
  twice.task_patches[0].task_id = t[0], twice.task_patches[0].priority = 0.1;
  twice.task_patches[1].task_id = t[0], twice.task_patches[1].priority = 0.2;
  twice.task_patches[2].task_id = t[1], twice.task_patches[2].reviews_done = 4;
  commit_ok(*s, twice);
  CHECK(task(*s, t[0]).priority == 0.2);
  CHECK(task(*s, t[1]).reviews_done == 4);
}

// Counts the statements (not rows) that write each table, with statement-level triggers added
// to the test's database beside the plugin's schema: the bulk path's one statement per kind is
// a figure a test can hold, not only a benchmark's.
TEST_CASE("a review group's commit writes each kind with one statement, and row by row when a task repeats") {
  HITL_PG_DATABASE(url);
  auto s = open(url);
  const auto t = open_tasks(*s, "c", 12);
  {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec("CREATE TABLE statements(tbl TEXT, op TEXT, n INT NOT NULL, PRIMARY KEY(tbl, op))");
    w.exec("CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "INSERT INTO statements VALUES (TG_TABLE_NAME, TG_OP, 1) ON CONFLICT (tbl, op) DO UPDATE SET n = statements.n + 1; "
           "RETURN NULL; END $$");
    for (const char* table : {"tasks", "reviews", "decisions", "deliveries"})
      w.exec(std::string("CREATE TRIGGER counted AFTER INSERT OR UPDATE ON ") + table +
             " FOR EACH STATEMENT EXECUTE FUNCTION count_statement()");
    w.commit();
  }
  const auto group = [&](std::size_t first, std::size_t n) {  // n claims and n submits, as the writer merges them
    sdk::WriteBatch b;
    for (std::size_t i = first; i < first + n; ++i) {
      b.task_updates.push_back(move(t[i], "pending", "assigned", "x"));
      b.task_updates.push_back(move(t[i + n], "assigned", "completed"));
      b.reviews.push_back(review(t[i + n], "x", 3000));
      b.finals.push_back({"credit", "c" + std::to_string(i + n), "good", "approve", 3000});
      b.task_patches.push_back(sdk::TaskPatch{.task_id = t[i + n], .reviews_done = 1});
      b.deliveries.push_back(sdk::DeliveryRecord{.domain = "credit", .decision_id = "c" + std::to_string(i + n),
                                                 .event = "decision.final", .url = "https://hook", .payload_json = "{}"});
    }
    return b;
  };
  const auto statements = [&](const char* table, const char* op) {
    return read_int(url, std::string("SELECT COALESCE(SUM(n), 0) FROM statements WHERE tbl = '") + table + "' AND op = '" + op + "'");
  };
  auto b = group(0, 4);
  commit_ok(*s, b);
  CHECK(statements("tasks", "UPDATE") == 2);  // the 8 moves, then the 4 patches
  CHECK(statements("reviews", "INSERT") == 1);
  CHECK(statements("decisions", "UPDATE") == 1);
  CHECK(statements("deliveries", "INSERT") == 1);
  for (const auto& u : b.task_updates) CHECK(u.applied == (u.to == "assigned"));  // t[4..7] were never claimed

  read_int(url, "WITH gone AS (DELETE FROM statements RETURNING 1) SELECT COUNT(*) FROM gone");
  auto again = group(8, 2);
  again.task_updates.push_back(move(t[8], "assigned", "pending"));  // t[8] twice: the moves go row by row
  commit_ok(*s, again);
  CHECK(statements("tasks", "UPDATE") == 5 + 1);
  CHECK(statements("reviews", "INSERT") == 1);
  CHECK(task(*s, t[8]).status == "pending");
}
