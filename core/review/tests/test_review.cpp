// The review workflow against the real SQLite storage and queue plugins and a Lua policy: claim
// and submit, consensus of two reviewers (agreeing, then disagreeing), four-eyes, a lease that
// runs out, a cancelled task.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

#include "support/app_testing.hpp"

#include "common/clock.hpp"
#include "common/service_error.hpp"
#include "review/review.hpp"
#include "common/task_state.hpp"

using namespace hitl::service;
using hitl::test::predicted;
using hitl::test::reviewer;
using hitl::test::TestApp;
namespace sdk = hitl::sdk;

namespace {

const char* kPolicy = R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("always") end,
  reviewers_needed = function(task)
    if task.input.consensus then return 2 end
    return 1
  end,
}
)";

// One flagged case of `loans` (model label "good"), submitted by `actor`; returns its task id.
std::int64_t flagged_case(TestApp& t, const std::string& id, bool consensus = false, const std::string& actor = "client") {
  std::vector<IngestRecord> records;
  records.push_back(predicted(id, "good", 0.6, {{"consensus", consensus}}));
  const auto r = t.ingest("loans", std::move(records), actor).at(0);
  REQUIRE(r.task_id > 0);
  return r.task_id;
}

sdk::TaskRecord task_of(TestApp& t, std::int64_t task_id) {
  std::optional<sdk::TaskRecord> task;
  REQUIRE(t->storage().get_task(task_id, task).ok());
  REQUIRE(task.has_value());
  return *task;
}

OutcomeRequest outcome(std::int64_t task_id, const std::string& what, const std::string& label = "") {
  OutcomeRequest req;
  req.task_id = task_id;
  req.outcome = what;
  req.correction_label = label;
  return req;
}

// The ServiceError code a call throws ("" when it throws none).
template <class F>
std::string error_code(F&& call) {
  try {
    call();
  } catch (const ServiceError& e) {
    return e.code;
  }
  return "";
}

}  // namespace

TEST_CASE("review: a claimed task is submitted once, and the decision gets its final label", "[review]") {
  TestApp t(kPolicy);
  const auto id = flagged_case(t, "c1");
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("alice")); }) == "lease_not_held");

  auto claimed = t->review().next("loans", reviewer("alice"));
  REQUIRE(claimed);
  CHECK(claimed->task.task_id == id);
  CHECK(claimed->decision.id == "c1");
  CHECK(is(task_of(t, id).status, TaskState::assigned));
  CHECK(task_of(t, id).assignee == "alice");
  // Someone without the lease cannot answer it.
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("bob")); }) == "lease_not_held");

  const auto done = t->review().submit(outcome(id, "correct", "bad"), reviewer("alice"));
  CHECK(is(done.status, TaskState::completed));
  CHECK(done.final_label == "bad");
  CHECK(is(task_of(t, id).status, TaskState::completed));
  std::optional<sdk::DecisionRecord> d;
  REQUIRE(t->storage().get_decision("loans", "c1", d).ok());
  REQUIRE(d);
  CHECK(d->final_label == "bad");
  CHECK(d->final_outcome == "correct");
  // Answered once: a second submit finds no lease, and nothing is left to claim.
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("alice")); }) == "illegal_transition");
  CHECK_FALSE(t->review().next("loans", reviewer("bob")));
}

TEST_CASE("review: a queue item pushed again while its task is assigned is not handed to a second reviewer", "[review]") {
  TestApp t(kPolicy);
  const auto id = flagged_case(t, "c1");
  auto claimed = t->review().next("loans", reviewer("alice"));
  REQUIRE(claimed);
  REQUIRE(claimed->task.task_id == id);
  // What the start-up walk can do: its page read the task open, alice's submit acked the item
  // (the submit's first step), and the walk pushes the item again before that submit's commit.
  const auto task = task_of(t, id);
  REQUIRE(t->queue().ack(id, "alice", hitl::now_ms()).ok());
  REQUIRE(t->queue().push({{id, "loans", task.priority, task.deadline_ms, task.created_ms}}).ok());
  CHECK_FALSE(t->review().next("loans", reviewer("bob")));  // alice holds it: not bob's
  CHECK(task_of(t, id).assignee == "alice");
  CHECK(is(task_of(t, id).status, TaskState::assigned));
}

// assign() spins in domain "slow" (about a second here, more on a loaded machine).
const char* kSlowAssignPolicy = R"(
local hitl = require "hitl"
return {
  flag = function(p) return hitl.review("always") end,
  assign = function(task, candidates)
    if task.domain == "slow" then
      local x = 0
      for i = 1, 200000000 do x = x + i end
    end
    return nil
  end,
}
)";

// A TestApp with the slow policy and domain "slow", one case flagged there and alice's claim of
// it started: a claim in assign() (about a second here) by the time the constructor returns.
struct SlowClaim {
  using clock = std::chrono::steady_clock;
  TestApp t{kSlowAssignPolicy, R"(slow = { policy = "policy.lua", labels = { "good", "bad" } },)",
            "policy = { instruction_budget = 100000000000, deadline_ms = 120000 },"};
  std::promise<std::optional<ClaimedTask>> answer;
  std::future<std::optional<ClaimedTask>> claimed = answer.get_future();
  clock::time_point started;

  explicit SlowClaim(const std::function<void(TestApp&)>& before = {}) {
    std::vector<IngestRecord> first;
    first.push_back(predicted("s1", "good", 0.6));
    REQUIRE(t.ingest("slow", std::move(first)).at(0).task_id > 0);
    if (before) before(t);
    started = clock::now();
    t->review().next_async("slow", reviewer("alice"), [this](std::optional<ClaimedTask> c, std::exception_ptr e) {
      if (e) answer.set_exception(e);
      else answer.set_value(std::move(c));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // in assign() by now
  }
  // How long alice's claim took, once answered (it must have been slow enough to matter).
  clock::duration finish() {
    REQUIRE(claimed.get());
    const auto took = clock::now() - started;
    REQUIRE(took > std::chrono::milliseconds(300));
    return took;
  }
};

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST_CASE("review: a slow assign() holds up its own claim, not the writer: ingest commits meanwhile", "[review]") {
  SlowClaim slow;
  const auto ingest_start = SlowClaim::clock::now();
  flagged_case(slow.t, "l1");  // another domain's record: one commit through the writer
  const auto ingest_took = SlowClaim::clock::now() - ingest_start;
  const auto claim_took = slow.finish();
  INFO("ingest " << seconds(ingest_took) << " s, claim " << seconds(claim_took) << " s");
  // On the writer thread the commit waited for assign() (ingest took nearly the claim's time).
  CHECK(ingest_took * 3 < claim_took);
}

TEST_CASE("review: a slow assign() in one domain does not hold up the claims of another", "[review]") {
  std::int64_t loans_task = 0;
  SlowClaim slow([&](TestApp& t) { loans_task = flagged_case(t, "l1"); });  // loans' claims run on a lane too
  const auto other_start = SlowClaim::clock::now();
  auto other = slow.t->review().next("loans", reviewer("bob"));
  const auto other_took = SlowClaim::clock::now() - other_start;
  REQUIRE(other);
  CHECK(other->task.task_id == loans_task);
  const auto slow_took = slow.finish();
  INFO("loans claim " << seconds(other_took) << " s, slow claim " << seconds(slow_took) << " s");
  // On one lane for every domain, bob's claim waited behind alice's assign().
  CHECK(other_took * 3 < slow_took);
}

TEST_CASE("review: a consensus task needs two reviewers: agreement decides, disagreement escalates", "[review]") {
  TestApp t(kPolicy);
  // alice answers, then bob: the task goes back to the queue after the first answer.
  auto two_answers = [&](const std::string& id, const std::string& bobs_outcome, const std::string& bobs_label) {
    const auto task_id = flagged_case(t, id, true);
    CHECK(task_of(t, task_id).reviews_required == 2);
    auto claimed = t->review().next("loans", reviewer("alice"));
    REQUIRE(claimed);
    REQUIRE(claimed->task.task_id == task_id);
    CHECK(is(t->review().submit(outcome(task_id, "approve"), reviewer("alice")).status, TaskState::pending));
    CHECK_FALSE(t->review().next("loans", reviewer("alice")));  // never the same reviewer twice
    claimed = t->review().next("loans", reviewer("bob"));
    REQUIRE(claimed);
    REQUIRE(claimed->task.task_id == task_id);
    return t->review().submit(outcome(task_id, bobs_outcome, bobs_label), reviewer("bob"));
  };
  const auto agreed = two_answers("agree", "approve", "");
  CHECK(is(agreed.status, TaskState::completed));
  CHECK(agreed.final_label == "good");

  const auto split = two_answers("split", "correct", "bad");
  CHECK(is(split.status, TaskState::escalated));
  CHECK(task_of(t, split.task_id).pool == "adjudicator");
  CHECK_FALSE(t->review().next("loans", reviewer("carol")));  // an adjudicator's task now
}

TEST_CASE("review: four-eyes, a case is never reviewed from the account that submitted it", "[review]") {
  TestApp t(kPolicy);
  const auto id = flagged_case(t, "own", false, "alice");
  CHECK_FALSE(t->review().next("loans", reviewer("alice")));
  auto claimed = t->review().next("loans", reviewer("bob"));
  REQUIRE(claimed);
  CHECK(claimed->task.task_id == id);
}

TEST_CASE("review: a lease that runs out returns the task to the queue and the late answer is refused", "[review]") {
  TestApp t(kPolicy);
  const auto id = flagged_case(t, "slow");
  REQUIRE(t->review().next("loans", reviewer("alice")));
  CHECK(t->review().expire_leases() == 0);  // still within its 60 s

  hitl::set_clock_offset_ms(61 * 1000);
  CHECK(t->review().expire_leases() == 1);
  CHECK(is(task_of(t, id).status, TaskState::pending));
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("alice")); }) == "lease_not_held");
  auto claimed = t->review().next("loans", reviewer("bob"));
  REQUIRE(claimed);
  CHECK(claimed->task.task_id == id);
  CHECK(is(t->review().submit(outcome(id, "approve"), reviewer("bob")).status, TaskState::completed));
}

TEST_CASE("review: a cancelled task can be neither claimed nor answered", "[review]") {
  TestApp t(kPolicy);
  const auto held = flagged_case(t, "held");
  const auto waiting = flagged_case(t, "waiting");
  auto claimed = t->review().next("loans", reviewer("alice"));
  REQUIRE(claimed);
  REQUIRE(claimed->task.task_id == held);

  CHECK(is(t->review().cancel(held, "duplicate case", hitl::test::admin()).to, TaskState::cancelled));
  CHECK(is(t->review().cancel(waiting, "duplicate case", hitl::test::admin()).to, TaskState::cancelled));
  CHECK(is(task_of(t, held).status, TaskState::cancelled));
  CHECK(error_code([&] { t->review().submit(outcome(held, "approve"), reviewer("alice")); }) == "illegal_transition");
  CHECK_FALSE(t->review().next("loans", reviewer("bob")));  // the queue item of `waiting` is dropped
  CHECK(error_code([&] { t->review().cancel(waiting, "again", hitl::test::admin()); }) == "illegal_transition");
}

// Claims and submits are answered from the writer's after-commit callback (issue 19). Each
// callback below reads storage at the moment it is answered: an answer given before its commit
// (say right after the batch is handed to the writer, on the writer thread that has yet to commit
// it) would find the task still pending, or no review, and fail here.
TEST_CASE("review: a claim and an outcome are answered only once committed", "[review]") {
  TestApp t(kPolicy);
  const auto id = flagged_case(t, "c1");
  auto seen_now = [&t, id] {
    std::optional<sdk::TaskRecord> task;
    std::vector<sdk::ReviewRecord> reviews;
    sdk::ReviewFilter rf;
    rf.task_id = id;
    if (!t->storage().get_task(id, task).ok() || !task || !t->storage().list_reviews(rf, reviews).ok()) return std::string("unreadable");
    return task->status + "/" + task->assignee + "/" + std::to_string(reviews.size());
  };
  std::promise<std::string> at_claim;
  t->review().next_async("loans", reviewer("alice"), [&](std::optional<ClaimedTask> c, std::exception_ptr error) {
    at_claim.set_value(error || !c ? std::string("no claim") : seen_now());
  });
  CHECK(at_claim.get_future().get() == "assigned/alice/0");
  std::promise<std::string> at_outcome;
  t->review().submit_async(outcome(id, "approve"), reviewer("alice"), [&](std::optional<OutcomeResult> r, std::exception_ptr error) {
    at_outcome.set_value(error || !r ? std::string("no outcome") : seen_now());
  });
  CHECK(at_outcome.get_future().get() == "completed/alice/1");
}

TEST_CASE("review: a submit's checks answer alike before the turn and on step threads (writer.step_threads)", "[review]") {
  const int step_threads = GENERATE(0, 2);
  INFO("step threads " << step_threads);
  TestApp t(kPolicy);
  t->review().set_step_threads(step_threads);
  const auto id = flagged_case(t, "s1");
  Principal elsewhere{"eve", Role::reviewer, {"other"}};
  CHECK(error_code([&] { t->review().submit(outcome(id + 1000, "approve"), reviewer("alice")); }) == "not_found");
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), elsewhere); }) == "forbidden");
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("alice")); }) == "lease_not_held");
  REQUIRE(t->review().next("loans", reviewer("alice")));
  CHECK(error_code([&] { t->review().submit(outcome(id, "correct", "ugly"), reviewer("alice")); }) == "invalid_field");
  CHECK(error_code([&] { t->review().submit(outcome(id, "correct"), reviewer("alice")); }) == "invalid_field");
  CHECK(error_code([&] { t->review().submit(outcome(id, "shrug"), reviewer("alice")); }) == "invalid_field");
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("bob")); }) == "lease_not_held");
  CHECK(is(task_of(t, id).status, TaskState::assigned));  // refused answers leave no trace
  const auto done = t->review().submit(outcome(id, "correct", "bad"), reviewer("alice"));
  CHECK(is(done.status, TaskState::completed));
  CHECK(done.final_label == "bad");
  CHECK(error_code([&] { t->review().submit(outcome(id, "approve"), reviewer("alice")); }) == "illegal_transition");
}
