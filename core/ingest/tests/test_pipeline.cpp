// The ingest pipeline against the real SQLite storage and queue plugins and a Lua policy: the
// policy routes a record to auto-approval, rejection or review; a repeated id is answered with the
// stored original and writes nothing; a policy error or a failing model fails closed to review.
#include <catch2/catch.hpp>

#include "support/app_testing.hpp"

#include "review/review.hpp"
#include "common/task_state.hpp"

using namespace hitl::service;
using hitl::test::predicted;
using hitl::test::TestApp;
namespace sdk = hitl::sdk;

namespace {

const char* kPolicy = R"(
local hitl = require "hitl"
return {
  flag = function(p)
    if p.input.explode then error("no rule for this record") end
    if (p.input.amount or 0) < 0 then return hitl.reject("negative_amount") end
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    return hitl.review("low_confidence")
  end,
}
)";

sdk::DecisionRecord stored_decision(TestApp& t, const std::string& domain, const std::string& id) {
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(t->storage().get_decision(domain, id, d).ok());
  REQUIRE(d.has_value());
  return *d;
}

sdk::TaskRecord stored_task(TestApp& t, std::int64_t task_id) {
  std::optional<sdk::TaskRecord> task;
  REQUIRE(t->storage().get_task(task_id, task).ok());
  REQUIRE(task.has_value());
  return *task;
}

std::size_t audit_records(TestApp& t, const std::string& action) {
  std::vector<sdk::AuditRecord> all;
  sdk::AuditFilter f;
  f.limit = 100000;
  REQUIRE(t->storage().list_audit(f, all).ok());
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& a) { return a.action == action; }));
}

}  // namespace

TEST_CASE("pipeline: the policy routes each record to auto-approval, rejection or a review task", "[pipeline]") {
  TestApp t(kPolicy);
  std::vector<IngestRecord> records;
  records.push_back(predicted("sure", "good", 0.97));
  records.push_back(predicted("unsure", "bad", 0.55));
  records.push_back(predicted("negative", "good", 0.99, {{"amount", -5}}));
  const auto results = t.ingest("loans", std::move(records));
  REQUIRE(results.size() == 3);  // in input order

  CHECK(results[0].id == "sure");
  CHECK(is(results[0].status, DecisionState::auto_approved));
  CHECK(results[0].task_id == 0);
  CHECK(is(results[2].status, DecisionState::rejected));
  CHECK(results[2].reason == "negative_amount");
  CHECK(results[2].task_id == 0);

  CHECK(is(results[1].status, DecisionState::pending_review));
  CHECK(results[1].reason == "low_confidence");
  REQUIRE(results[1].task_id > 0);
  const auto task = stored_task(t, results[1].task_id);
  CHECK(is(task.status, TaskState::pending));
  CHECK(task.decision_id == "unsure");
  CHECK(is(stored_decision(t, "loans", "sure").status, DecisionState::auto_approved));
  CHECK(is(stored_decision(t, "loans", "negative").status, DecisionState::rejected));

  // Only the flagged record reached the queue.
  auto claimed = t->review().next("loans", hitl::test::reviewer("alice"));
  REQUIRE(claimed);
  CHECK(claimed->task.task_id == results[1].task_id);
  CHECK_FALSE(t->review().next("loans", hitl::test::reviewer("bob")));
}

TEST_CASE("pipeline: a repeated id is answered with the stored original and writes nothing new", "[pipeline]") {
  TestApp t(kPolicy);
  std::vector<IngestRecord> first;
  first.push_back(predicted("case-1", "bad", 0.55));
  const auto original = t.ingest("loans", std::move(first)).at(0);
  REQUIRE(original.task_id > 0);
  CHECK_FALSE(original.duplicate);

  // The same id again, now with a prediction the policy would auto-approve.
  std::vector<IngestRecord> again;
  again.push_back(predicted("case-1", "good", 0.99));
  const auto repeated = t.ingest("loans", std::move(again)).at(0);
  CHECK(repeated.duplicate);
  CHECK(is(repeated.status, DecisionState::pending_review));
  CHECK(repeated.task_id == original.task_id);
  CHECK(repeated.label == "bad");
  CHECK(stored_decision(t, "loans", "case-1").label == "bad");
  CHECK(audit_records(t, "decision.created") == 1);
  // One task, claimed once: no second queue item was pushed.
  CHECK(t->review().next("loans", hitl::test::reviewer("alice")));
  CHECK_FALSE(t->review().next("loans", hitl::test::reviewer("bob")));
}

TEST_CASE("pipeline: an error in the policy fails closed to a review task", "[pipeline]") {
  TestApp t(kPolicy);
  std::vector<IngestRecord> records;
  records.push_back(predicted("boom", "good", 0.99, {{"explode", true}}));
  const auto r = t.ingest("loans", std::move(records)).at(0);
  CHECK(is(r.status, DecisionState::pending_review));  // a confident prediction, yet not auto-approved
  CHECK(r.reason == "policy_error");
  REQUIRE(r.task_id > 0);
  CHECK(is(stored_task(t, r.task_id).status, TaskState::pending));
}

TEST_CASE("pipeline: a model that fails fails closed to a review task", "[pipeline]") {
  TestApp t(kPolicy);
  std::vector<IngestRecord> records;
  records.push_back(hitl::test::unscored("m-1"));
  records.push_back(hitl::test::unscored("m-2"));
  const auto results = t.ingest("flaky", std::move(records));
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    CHECK(is(r.status, DecisionState::pending_review));
    CHECK(r.reason == "model_error");
    CHECK(r.task_id > 0);
  }
  CHECK(stored_decision(t, "flaky", "m-1").prediction_json == "{}");  // no prediction was made up
}

TEST_CASE("pipeline: audit_rate sends a random share of automatic decisions to review, lowest first, with its probability", "[pipeline]") {
  TestApp t(R"(
local hitl = require "hitl"
return {
  audit_rate = 0.25,
  flag = function(p)
    if (p.input.amount or 0) < 0 then return hitl.reject("negative_amount") end
    if p.prediction.confidence >= 0.9 then return hitl.auto() end
    return hitl.review("low_confidence")
  end,
  priority = function(task) return 0.8 end,
}
)");
  std::vector<IngestRecord> records;
  for (int i = 0; i < 400; ++i) records.push_back(predicted("sure-" + std::to_string(i), "good", 0.97));
  for (int i = 0; i < 50; ++i) records.push_back(predicted("neg-" + std::to_string(i), "good", 0.99, {{"amount", -1}}));
  records.push_back(predicted("unsure", "bad", 0.5));
  const auto results = t.ingest("loans", std::move(records));
  std::size_t audited = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.reason != "audit") continue;
    ++audited;
    CHECK(i < 400);  // only automatic verdicts are sampled: never a rejection or a real review
    CHECK(is(r.status, DecisionState::pending_review));
    CHECK(stored_task(t, r.task_id).priority == 0.0);  // after every real review (priority 0.8)
  }
  // 400 draws at 0.25: 100 expected; outside 60..140 is a > 5-sigma event.
  CHECK(audited >= 60);
  CHECK(audited <= 140);
  CHECK(results.back().reason == "low_confidence");
  // The decision.created record says which decisions are audit samples, and at what rate.
  std::vector<sdk::AuditRecord> all;
  sdk::AuditFilter f;
  f.limit = 100000;
  REQUIRE(t->storage().list_audit(f, all).ok());
  std::size_t marked = 0;
  for (const auto& a : all) {
    if (a.action != "decision.created") continue;
    auto detail = nlohmann::json::parse(a.detail_json);
    if (!detail.contains("audit_sample")) continue;
    ++marked;
    CHECK(detail["audit_sample"]["p"] == 0.25);
  }
  CHECK(marked == audited);
  // The first claim is the real review, the audit samples after it.
  auto claimed = t->review().next("loans", hitl::test::reviewer("alice"));
  REQUIRE(claimed);
  CHECK(claimed->task.decision_id == "unsure");
}
