// storage-sqlite, ABI 3 additions: payload erasure, ground truth, review start times, and the
// windowed, cursor-paged reads the report and retention use; migration 4 on an older file.
#include "storage_testing.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>

namespace sdk = hitl::sdk;
using namespace storage_testing;

namespace {

sdk::NewDecision make(const std::string& domain, const std::string& id, std::int64_t created, bool task) {
  sdk::NewDecision nd;
  auto& d = nd.decision;
  d.domain = domain;
  d.id = id;
  d.status = task ? "pending_review" : "auto_approved";
  d.label = "good";
  d.confidence = 0.6;
  d.input_json = R"({"name":"Ada )" + id + R"(","income":5200})";
  d.prediction_json = R"({"label":"good","confidence":0.6,"scores":{"good":0.6,"bad":0.4},"contributions":{"income":0.3}})";
  d.meta_json = R"({"email":"ada@example.org"})";
  d.input_hash = "hash-" + id;
  d.created_ms = created;
  if (task) {
    sdk::TaskRecord t;
    t.status = "pending";
    t.created_ms = t.updated_ms = created;
    nd.task = t;
  }
  return nd;
}

void commit_ok(sdk::Storage& s, sdk::WriteBatch& b) {
  auto st = s.commit(b);
  INFO(st.message);
  REQUIRE(st.ok());
}

sdk::DecisionRecord get(sdk::Storage& s, const std::string& domain, const std::string& id) {
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(s.get_decision(domain, id, d).ok());
  REQUIRE(d);
  return *d;
}

}  // namespace

TEST_CASE("an erasure blanks the payload everywhere and keeps hash, labels and the audit chain") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(make("credit", "a-1", 1000, true));
  b.decisions.push_back(make("credit", "a-2", 1001, false));
  b.audit.push_back({0, 1000, "client", "decision.created", "credit", "decision", "a-1", R"({"input_hash":"hash-a-1"})"});
  commit_ok(*s, b);
  const auto task_id = b.decisions[0].decision.task_id;
  sdk::WriteBatch r;
  r.reviews.push_back({0, task_id, "credit", "a-1", "bob", "correct", "bad", "Ada earns 5200", 2000, 1500});
  r.feedback.push_back({"credit", "a-1", b.decisions[0].decision.input_json, "bad", "good", 0.6, "correct", "bob", 2000});
  r.finals.push_back({"credit", "a-1", "bad", "correct", 2000});
  commit_ok(*s, r);

  sdk::WriteBatch e;
  e.erasures.push_back({"credit", "a-1", 3000, false});
  commit_ok(*s, e);
  CHECK(e.erasures[0].applied);

  auto d = get(*s, "credit", "a-1");
  CHECK(d.input_json == "{}");
  CHECK(d.meta_json == "{}");
  CHECK(d.erased_ms == 3000);
  CHECK(d.input_hash == "hash-a-1");
  CHECK(d.label == "good");
  CHECK(d.final_label == "bad");
  auto pred = nlohmann::json::parse(d.prediction_json);
  CHECK(pred["label"] == "good");
  CHECK(pred["scores"]["bad"] == 0.4);
  CHECK_FALSE(pred.contains("contributions"));
  std::vector<sdk::FeedbackRecord> fb;
  REQUIRE(s->list_feedback("credit", fb).ok());
  REQUIRE(fb.size() == 1);
  CHECK(fb[0].input_json == "{}");
  CHECK(fb[0].final_label == "bad");
  std::vector<sdk::ReviewRecord> reviews;
  sdk::ReviewFilter rf;
  rf.task_id = task_id;
  REQUIRE(s->list_reviews(rf, reviews).ok());
  REQUIRE(reviews.size() == 1);
  CHECK(reviews[0].comment.empty());
  CHECK(reviews[0].outcome == "correct");
  // The other decision is untouched, and the audit record is still there, unchanged.
  CHECK(get(*s, "credit", "a-2").input_json.find("Ada a-2") != std::string::npos);
  std::vector<sdk::AuditRecord> audit;
  REQUIRE(s->list_audit({}, audit).ok());
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].hash == b.audit[0].hash);

  // A second erasure applies to nothing; an unknown decision neither.
  sdk::WriteBatch again;
  again.erasures.push_back({"credit", "a-1", 4000, false});
  again.erasures.push_back({"credit", "nope", 4000, false});
  commit_ok(*s, again);
  CHECK_FALSE(again.erasures[0].applied);
  CHECK_FALSE(again.erasures[1].applied);
  CHECK(get(*s, "credit", "a-1").erased_ms == 3000);
}

TEST_CASE("ground truth is recorded, replaced, and refused for an unknown decision with a rollback") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.decisions.push_back(make("credit", "t-1", 1000, false));
  commit_ok(*s, b);
  sdk::WriteBatch t;
  t.truths.push_back({"credit", "t-1", "bad", 5000});
  commit_ok(*s, t);
  auto d = get(*s, "credit", "t-1");
  CHECK(d.truth_label == "bad");
  CHECK(d.truth_ms == 5000);
  sdk::WriteBatch t2;
  t2.truths.push_back({"credit", "t-1", "good", 6000});
  t2.truths.push_back({"credit", "missing", "good", 6000});
  auto st = s->commit(t2);
  CHECK(st.code == sdk::Code::not_found);
  CHECK_THAT(st.message, Catch::Contains("missing"));
  CHECK(get(*s, "credit", "t-1").truth_label == "bad");  // rolled back as a whole
  sdk::WriteBatch bad;
  bad.truths.push_back({"credit", "t-1", "", 1});
  CHECK(s->commit(bad).code == sdk::Code::invalid_argument);
}

TEST_CASE("list_decisions pages by (created_ms, id) within a window, with or without payload") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  // Three share a timestamp: the cursor must order them by id and lose none.
  for (auto [id, t] : std::vector<std::pair<std::string, std::int64_t>>{
           {"d-5", 100}, {"d-1", 200}, {"d-3", 200}, {"d-2", 200}, {"d-4", 300}, {"d-6", 400}})
    b.decisions.push_back(make("credit", id, t, false));
  b.decisions.push_back(make("claims", "c-1", 200, false));
  commit_ok(*s, b);

  sdk::DecisionFilter f;
  f.domain = "credit";
  f.from_ms = 200;
  f.to_ms = 400;  // [200, 400)
  f.limit = 2;
  std::vector<std::string> seen;
  std::vector<sdk::DecisionRecord> page;
  for (int guard = 0; guard < 10; ++guard) {
    REQUIRE(s->list_decisions(f, page).ok());
    for (auto& d : page) seen.push_back(d.id);
    if (page.size() < f.limit) break;
    f.after_created_ms = page.back().created_ms;
    f.after_id = page.back().id;
  }
  CHECK(seen == std::vector<std::string>{"d-1", "d-2", "d-3", "d-4"});

  sdk::DecisionFilter lean;
  lean.domain = "credit";
  lean.with_payload = false;
  REQUIRE(s->list_decisions(lean, page).ok());
  REQUIRE(page.size() == 6);
  CHECK(page[0].id == "d-5");
  CHECK(page[0].input_json.empty());
  CHECK(page[0].input_hash == "hash-d-5");

  sdk::WriteBatch e;
  e.erasures.push_back({"credit", "d-5", 999, false});
  commit_ok(*s, e);
  lean.exclude_erased = true;
  REQUIRE(s->list_decisions(lean, page).ok());
  CHECK(page.size() == 5);
  CHECK(page[0].id == "d-1");

  sdk::DecisionFilter none;
  CHECK(s->list_decisions(none, page).code == sdk::Code::invalid_argument);
}

TEST_CASE("find_decisions answers a batch's ids in their order, as get_decision does one by one (quoted ids, another domain)") {
  TempDir dir;
  auto s = open(db_of(dir));
  const std::string quoted = R"(a "quoted" 'id', {brace})";
  sdk::WriteBatch b;
  b.decisions.push_back(make("credit", "d1", 100, true));
  b.decisions.push_back(make("credit", quoted, 100, false));
  b.decisions.push_back(make("claims", "d2", 100, false));  // another domain: not found in credit
  commit_ok(*s, b);
  const std::vector<std::string> ids{"missing", quoted, "d1", "d2", "d1"};
  std::vector<std::optional<sdk::DecisionRecord>> found;
  const auto st = s->find_decisions("credit", ids, found);
  INFO(st.message);
  REQUIRE(st.ok());
  REQUIRE(found.size() == ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::optional<sdk::DecisionRecord> one;
    REQUIRE(s->get_decision("credit", ids[i], one).ok());
    INFO("id " << ids[i]);
    REQUIRE(found[i].has_value() == one.has_value());
    if (!one) continue;
    CHECK(found[i]->id == ids[i]);
    CHECK(found[i]->task_id == one->task_id);
    CHECK(found[i]->input_json == one->input_json);
  }
  CHECK_FALSE(found[0]);
  CHECK(found[1]);
  CHECK(found[2]->task_id > 0);
  CHECK_FALSE(found[3]);
  CHECK(found[4]);
  REQUIRE(s->find_decisions("credit", {}, found).ok());
  CHECK(found.empty());
}

TEST_CASE("list_tasks and list_reviews filter by created window and page by id") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  for (int i = 0; i < 6; ++i) b.decisions.push_back(make("credit", "k-" + std::to_string(i), 100 * (i + 1), true));
  b.decisions.push_back(make("claims", "c-0", 300, true));
  commit_ok(*s, b);
  sdk::TaskFilter tf;
  tf.domain = "credit";
  tf.from_ms = 200;
  tf.to_ms = 500;
  std::vector<sdk::TaskRecord> tasks;
  REQUIRE(s->list_tasks(tf, tasks).ok());
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].decision_id == "k-1");
  CHECK(tasks[2].decision_id == "k-3");
  tf.after_task_id = tasks[0].task_id;
  REQUIRE(s->list_tasks(tf, tasks).ok());
  CHECK(tasks.size() == 2);

  sdk::WriteBatch r;
  for (auto& nd : b.decisions)
    r.reviews.push_back({0, nd.decision.task_id, nd.decision.domain, nd.decision.id, "bob", "approve", "good", "",
                         nd.decision.created_ms + 50, nd.decision.created_ms + 10});
  commit_ok(*s, r);
  sdk::ReviewFilter rf;
  rf.domain = "credit";
  rf.from_ms = 250;  // reviews created at 150, 250, ..., 650 -> 250 and later
  rf.limit = 2;
  std::vector<std::string> seen;
  std::vector<sdk::ReviewRecord> page;
  for (int guard = 0; guard < 10; ++guard) {
    REQUIRE(s->list_reviews(rf, page).ok());
    for (auto& v : page) seen.push_back(v.decision_id);
    if (page.size() < rf.limit) break;
    rf.after_review_id = page.back().review_id;
  }
  CHECK(seen == std::vector<std::string>{"k-1", "k-2", "k-3", "k-4", "k-5"});
  CHECK(page.back().started_ms == 610);
}

TEST_CASE("migration 4 adds the new columns to a version 3 database and hashes existing inputs", "[sqlite-only]") {
  TempDir dir;
  {
    auto s = open(db_of(dir));
    sdk::WriteBatch b;
    for (int i = 0; i < 1200; ++i) b.decisions.push_back(make("credit", "m-" + std::to_string(i), i, false));  // > a page
    commit_ok(*s, b);
  }
  {
    SQLite::Database raw(db_of(dir), SQLite::OPEN_READWRITE);
    undo_migration_4(raw);
  }
  auto s = open(db_of(dir));
  int version = 0;
  REQUIRE(s->schema_version(version).ok());
  CHECK(version == kLatestSchema);
  auto d = get(*s, "credit", "m-1199");
  // SHA-256 of the stored input, computed independently of the plugin's hasher.
  SQLite::Database raw(db_of(dir), SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM decisions WHERE length(input_hash) = 64").getInt() == 1200);
  CHECK(d.input_hash.size() == 64);
  CHECK(d.erased_ms == 0);
  CHECK(d.truth_label.empty());
  // A known vector: sha256("{}") = 44136fa3...
  sdk::WriteBatch b;
  auto nd = make("credit", "empty", 5, false);
  nd.decision.input_json = "{}";
  b.decisions.push_back(nd);
  commit_ok(*s, b);
  s.reset();
  {
    SQLite::Database rw(db_of(dir), SQLite::OPEN_READWRITE);
    undo_migration_4(rw);
  }
  s = open(db_of(dir));
  CHECK(get(*s, "credit", "empty").input_hash == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
}

TEST_CASE("workflow fields of tasks are stored, patched field by field, and filtered") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  auto nd = make("credit", "w-1", 100, true);
  nd.task->skills = "fraud,large";
  nd.task->pool = "senior";
  nd.task->reviews_required = 2;
  nd.task->gold = true;
  nd.task->gold_label = "bad";
  nd.task->origin = "app";
  nd.task->priority = 0.7;
  b.decisions.push_back(nd);
  b.decisions.push_back(make("credit", "w-2", 101, true));
  commit_ok(*s, b);
  const auto id = b.decisions[0].decision.task_id;
  std::optional<sdk::TaskRecord> t;
  REQUIRE(s->get_task(id, t).ok());
  REQUIRE(t);
  CHECK(t->skills == "fraud,large");
  CHECK(t->pool == "senior");
  CHECK(t->reviews_required == 2);
  CHECK(t->reviews_done == 0);
  CHECK(t->gold);
  CHECK(t->gold_label == "bad");
  CHECK(t->origin == "app");

  sdk::WriteBatch p;
  sdk::TaskPatch patch;
  patch.task_id = id;
  patch.sla_state = "at_risk";
  patch.reviews_done = 1;
  patch.priority = 0.95;
  p.task_patches.push_back(patch);
  commit_ok(*s, p);
  REQUIRE(s->get_task(id, t).ok());
  CHECK(t->sla_state == "at_risk");
  CHECK(t->reviews_done == 1);
  CHECK(t->priority == Approx(0.95));
  CHECK(t->pool == "senior");  // untouched

  sdk::TaskFilter f;
  f.sla_state = "at_risk";
  std::vector<sdk::TaskRecord> tasks;
  REQUIRE(s->list_tasks(f, tasks).ok());
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].task_id == id);
  sdk::TaskFilter hi;
  hi.min_priority = 0.9;
  REQUIRE(s->list_tasks(hi, tasks).ok());
  CHECK(tasks.size() == 1);

  sdk::WriteBatch bad;
  sdk::TaskPatch unknown;
  unknown.task_id = 999;
  unknown.pool = "x";
  bad.task_patches.push_back(unknown);
  CHECK(s->commit(bad).code == sdk::Code::not_found);
}

TEST_CASE("reviewers are upserted by id and deliveries are stored, due-listed and updated") {
  TempDir dir;
  auto s = open(db_of(dir));
  sdk::WriteBatch b;
  b.reviewers.push_back({"alice", "Alice A", "reviewer,senior", "credit", "fraud", 3, 42.5, false, 10, 10});
  b.reviewers.push_back({"bob", "Bob", "reviewer", "", "", 1, 30, false, 10, 10});
  b.deliveries.push_back({0, "credit", "d-1", "decision.final", "http://127.0.0.1:9/hook", R"({"a":1})", "", 0, 500, "", 100, 0});
  b.deliveries.push_back({0, "credit", "d-2", "decision.final", "http://127.0.0.1:9/hook", R"({"a":2})", "", 0, 900, "", 100, 0});
  commit_ok(*s, b);
  CHECK(b.deliveries[1].delivery_id == b.deliveries[0].delivery_id + 1);
  sdk::WriteBatch u;
  u.reviewers.push_back({"bob", "Bob B", "reviewer", "credit", "", 2, 30, true, 99, 20});
  commit_ok(*s, u);
  std::vector<sdk::ReviewerRecord> rs;
  REQUIRE(s->list_reviewers(rs).ok());
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].id == "alice");
  CHECK(rs[0].roles == "reviewer,senior");
  CHECK(rs[0].cost_per_hour == Approx(42.5));
  CHECK(rs[1].name == "Bob B");
  CHECK(rs[1].disabled);
  CHECK(rs[1].created_ms == 10);  // kept from the first insert
  CHECK(rs[1].updated_ms == 20);

  sdk::DeliveryFilter due;
  due.status = "pending";
  due.due_before_ms = 600;
  std::vector<sdk::DeliveryRecord> ds;
  REQUIRE(s->list_deliveries(due, ds).ok());
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].decision_id == "d-1");
  CHECK(ds[0].status == "pending");
  sdk::WriteBatch du;
  du.delivery_updates.push_back({ds[0].delivery_id, "delivered", 2, 0, "", 650});
  commit_ok(*s, du);
  due.due_before_ms = 1000;
  REQUIRE(s->list_deliveries(due, ds).ok());
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].decision_id == "d-2");
  sdk::DeliveryFilter all;
  all.decision_id = "d-1";
  REQUIRE(s->list_deliveries(all, ds).ok());
  REQUIRE(ds.size() == 1);
  CHECK(ds[0].status == "delivered");
  CHECK(ds[0].attempts == 2);
  CHECK(ds[0].delivered_ms == 650);
}
