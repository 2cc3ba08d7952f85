// load_facts against an in-memory sdk::Storage that implements the documented filter and cursor
// semantics of list_decisions / list_tasks / list_reviews (the SQLite plugin is not involved).
#include "report/report.hpp"

#include "fake_storage.hpp"
#include "fixture.hpp"

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace sdk = hitl::sdk;
using namespace hitl::report;
using namespace hitl::report::test;

namespace {

// 2500 decisions of credit_risk in the window, 4 per millisecond (so the cursor needs the id to
// break ties), every 5th with a task and every 10th's task with a review; plus records of another
// domain and outside the window, which must not come back.
FakeStorage populated() {
  FakeStorage s;
  std::int64_t next_task = 1, next_review = 1;
  auto add = [&](const std::string& domain, const std::string& id, std::int64_t created, bool with_task, bool with_review) {
    auto d = decision(id, P1, created, with_task ? "pending_review" : "auto_approved", "r", "good", R"({"Age":30})");
    d.domain = domain;
    if (with_task) {
      d.task_id = next_task++;
      auto t = task(d.task_id, id, with_review ? "completed" : "pending", created, created + SEC);
      t.domain = domain;
      s.tasks.push_back(t);
      if (with_review) {
        auto r = review(next_review++, d.task_id, created, created + SEC);
        r.domain = domain;
        s.reviews.push_back(r);
      }
    }
    s.decisions.push_back(d);
  };
  add("credit_risk", "early", T - 1, true, true);
  for (int i = 0; i < 2500; ++i) {
    add("credit_risk", "c" + std::to_string(i), T + i / 4, i % 5 == 0, i % 10 == 0);
    if (i % 100 == 0) add("fraud", "f" + std::to_string(i), T + i / 4, true, true);
  }
  add("credit_risk", "late", T + DAY, true, true);
  return s;
}

}  // namespace

TEST_CASE("load_facts pages through every list with its cursor and keeps the window's cohort") {
  auto s = populated();
  const auto f = load_facts(s, "credit_risk", W);
  CHECK(f.decisions.size() == 2500);
  CHECK(f.tasks.size() == 500);    // every 5th
  CHECK(f.reviews.size() == 250);  // every 10th
  CHECK(std::none_of(f.decisions.begin(), f.decisions.end(), [](const auto& d) { return d.domain != "credit_risk"; }));
  CHECK(std::none_of(f.decisions.begin(), f.decisions.end(), [](const auto& d) { return d.id == "early" || d.id == "late"; }));
  CHECK(std::none_of(f.tasks.begin(), f.tasks.end(), [](const auto& t) { return t.decision_id == "late"; }));
  CHECK(f.decisions.front().input_json == R"({"Age":30})");
  // 2500 decisions at 1000 a page: 3 full-or-partial pages and one empty page ends it.
  CHECK(s.decision_calls == 4);

  // The same facts give the same report as the records themselves.
  const auto r = compute("credit_risk", f, nullptr, {}, W, {}, NOW);
  CHECK(r.predictions == 2500);
  CHECK(r.flagged == 500);
  CHECK(r.turnaround.completed == 250);
  CHECK(r.cost.reviews == 250);

  SECTION("a plugin returning shorter pages than asked loses nothing") {
    auto capped = populated();
    capped.max_page = 7;
    const auto g = load_facts(capped, "credit_risk", W);
    CHECK(g.decisions.size() == 2500);
    CHECK(g.tasks.size() == 500);
    CHECK(g.reviews.size() == 250);
  }
  SECTION("without payload") {
    auto t = populated();
    CHECK(load_facts(t, "credit_risk", W, false).decisions.front().input_json.empty());
  }
}

TEST_CASE("load_facts with a small page size and an empty window") {
  auto s = populated();
  const auto f = load_facts(s, "credit_risk", {T + 10, T + 20}, true, 3);  // 40 decisions: c40..c79
  CHECK(f.decisions.size() == 40);
  CHECK(f.decisions.front().id == "c40");
  CHECK(f.tasks.size() == 8);
  CHECK(f.reviews.size() == 4);
  auto e = populated();
  const auto none = load_facts(e, "credit_risk", {T - DAY, T - HOUR});
  CHECK(none.decisions.empty());
  CHECK(e.task_calls == 0);  // nothing to look up
  CHECK_THROWS_AS(load_facts(e, "credit_risk", W, true, 0), std::invalid_argument);
}

TEST_CASE("load_facts names the failing call and passes on the plugin's message") {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"list_decisions", "database is locked"}, {"list_tasks", "disk I/O error"}, {"list_reviews", "no such table"}};
  for (const auto& [call, message] : cases) {
    auto s = populated();
    s.fail_on = call;
    try {
      load_facts(s, "credit_risk", W);
      FAIL("no exception for " << call);
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(what.find(call) != std::string::npos);
      CHECK(what.find(message) != std::string::npos);
    }
  }
}

namespace {

// Field by field, so a difference names the figure.
void check_same(const Report& got, const Report& expected) {
  const auto g = to_json(got), e = to_json(expected);
  for (auto it = e.begin(); it != e.end(); ++it) {
    INFO(it.key() << ": got " << g.value(it.key(), nlohmann::json()).dump() << ", expected " << it.value().dump());
    CHECK(g.value(it.key(), nlohmann::json()) == it.value());
  }
  CHECK(g.size() == e.size());
}

FakeStorage holding(const Facts& a, const Facts& b) {
  FakeStorage s;
  for (const Facts* f : {&a, &b}) {
    s.decisions.insert(s.decisions.end(), f->decisions.begin(), f->decisions.end());
    s.tasks.insert(s.tasks.end(), f->tasks.begin(), f->tasks.end());
    s.reviews.insert(s.reviews.end(), f->reviews.begin(), f->reviews.end());
  }
  auto by = [](auto key) { return [key](const auto& x, const auto& y) { return key(x) < key(y); }; };
  std::sort(s.tasks.begin(), s.tasks.end(), by([](const sdk::TaskRecord& t) { return t.task_id; }));
  std::sort(s.reviews.begin(), s.reviews.end(), by([](const sdk::ReviewRecord& r) { return r.review_id; }));
  return s;
}

}  // namespace

TEST_CASE("build streams the hand-computed fixture into the same report as compute over load_facts") {
  auto s = holding(current(), baseline());  // both windows' records (and those outside) in one store
  const auto cur = load_facts(s, "credit_risk", W), base = load_facts(s, "credit_risk", BW);
  for (std::size_t page : {1000, 2, 1}) {
    INFO("page size " << page);
    check_same(build(s, "credit_risk", settings(), W, BW, NOW, page),
               compute("credit_risk", cur, &base, settings(), W, BW, NOW));
  }
  // Without a baseline window the drift is undefined, as with compute(..., nullptr, ...).
  check_same(build(s, "credit_risk", settings(), W, std::nullopt, NOW),
             compute("credit_risk", cur, nullptr, settings(), W, BW, NOW));
  CHECK_THROWS_AS(build(s, "credit_risk", settings(), W, BW, NOW, 0), std::invalid_argument);
}

TEST_CASE("build leaves gold tasks out and reads pages no larger than asked") {
  auto s = populated();
  for (std::size_t i = 0; i < s.decisions.size(); ++i) {
    auto& d = s.decisions[i];
    d.input_json = "{\"Age\":" + std::to_string(18 + i % 60) + "}";
    if (i % 7 == 0) d.truth_label = "bad";
    if (i % 3 == 0) d.policy_hash = P2;
  }
  for (std::size_t i = 0; i < s.tasks.size(); ++i) {
    auto& t = s.tasks[i];
    if (t.status == "completed") t.updated_ms = t.created_ms + SEC * static_cast<std::int64_t>(1 + i % 37);
    t.deadline_ms = t.created_ms + 20 * SEC;
    if (i % 50 == 7) t.gold = true;
  }
  const auto facts = load_facts(s, "credit_risk", W);
  REQUIRE(facts.decisions.size() < 2500);  // the gold tasks' decisions are gone
  const auto expected = compute("credit_risk", facts, nullptr, settings(), W, BW, NOW);
  s.max_page = 7;
  const auto got = build(s, "credit_risk", settings(), W, std::nullopt, NOW);
  check_same(got, expected);
  CHECK(got.predictions == static_cast<std::int64_t>(facts.decisions.size()));
}
