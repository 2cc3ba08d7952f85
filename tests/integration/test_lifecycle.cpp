// The task lifecycle over HTTP against a real `hitl serve`: release, send-back, cancel, the
// refused moves, and the audit trail each move leaves in the SQLite file.
#include "support.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

using hitl::test::HttpClient;
using hitl::test::HttpResponse;
using hitl::test::Service;
using nlohmann::json;

namespace {

// A prediction the loans policy sends to review; a larger amount gets a higher priority.
long long review_task(HttpClient& c, const Service& s, const std::string& id, double amount = 5000) {
  json p = {{"id", id}, {"input", {{"amount", amount}}}, {"prediction", {{"label", "good"}, {"confidence", 0.6}}}};
  auto r = c.request("POST", "/v1/domains/loans/predictions", s.client, p.dump());
  REQUIRE(r.status == 200);
  REQUIRE(r.json()["task_id"].is_number_integer());
  return r.json()["task_id"].get<long long>();
}

std::string task_path(long long id, const std::string& action) {
  return "/v1/review/tasks/" + std::to_string(id) + "/" + action;
}

json reason(const std::string& why) { return {{"reason", why}}; }

// Audit actions of one task (entity "task") in seq order, with their detail.
std::vector<std::string> task_actions(const Service& s, long long task_id) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT action FROM audit WHERE entity = 'task' AND entity_id = ? ORDER BY seq");
  q.bind(1, std::to_string(task_id));
  std::vector<std::string> out;
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

json last_detail(const Service& s, long long task_id, const std::string& action) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT detail_json, actor FROM audit WHERE entity = 'task' AND entity_id = ? AND action = ? "
                          "ORDER BY seq DESC LIMIT 1");
  q.bind(1, std::to_string(task_id));
  q.bind(2, action);
  REQUIRE(q.executeStep());
  json d = json::parse(q.getColumn(0).getString());
  CHECK(d["actor"] == q.getColumn(1).getString());  // the record's actor and the detail agree
  return d;
}

std::string stored_status(const Service& s, long long task_id) {
  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT status FROM tasks WHERE task_id = ?");
  q.bind(1, static_cast<std::int64_t>(task_id));
  REQUIRE(q.executeStep());
  return q.getColumn(0).getString();
}

void check_error(const HttpResponse& r, int status, const std::string& code, const std::string& message_part) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.json()["error"]["code"] == code);
  CHECK(r.json()["error"]["message"].get<std::string>().find(message_part) != std::string::npos);
}

}  // namespace

TEST_CASE("a released task goes back to pending and another reviewer claims it", "[lifecycle]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const auto id = review_task(c, s, "rel-1");
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);

  // Only the lease holder (or an admin) may release.
  check_error(c.request("POST", task_path(id, "release"), s.reviewer2, reason("mine now").dump()), 409,
              "lease_not_held", "leased to \"alice\"");
  check_error(c.request("POST", task_path(id, "release"), s.client, ""), 403, "forbidden", "role client");

  auto r = c.request("POST", task_path(id, "release"), s.reviewer, reason("need a second opinion").dump());
  REQUIRE(r.status == 200);
  CHECK(r.json()["previous_status"] == "assigned");
  CHECK(r.json()["status"] == "pending");
  CHECK(stored_status(s, id) == "pending");
  auto d = last_detail(s, id, "task.released");
  CHECK(d["actor"] == "alice");
  CHECK(d["reason"] == "need a second opinion");
  CHECK(d["from"] == "assigned");
  CHECK(d["to"] == "pending");
  CHECK(d["at_ms"].get<long long>() > 0);

  // alice gave it up: she can no longer submit, bob gets it and completes it.
  CHECK(c.request("POST", task_path(id, "outcome"), s.reviewer, R"({"outcome":"approve"})").status == 409);
  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer2);
  REQUIRE(t.status == 200);
  CHECK(t.json()["task_id"] == id);
  CHECK(t.json()["assignee"] == "bob");

  // An admin releases on the holder's behalf; the body is optional for release.
  auto by_admin = c.request("POST", task_path(id, "release"), s.admin, "");
  REQUIRE(by_admin.status == 200);
  CHECK(last_detail(s, id, "task.released")["assignee"] == "bob");
  CHECK(last_detail(s, id, "task.released")["actor"] == "root");
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer2).status == 200);
  REQUIRE(c.request("POST", task_path(id, "outcome"), s.reviewer2, R"({"outcome":"approve"})").status == 200);
  CHECK(stored_status(s, id) == "completed");
  CHECK(task_actions(s, id) == std::vector<std::string>{"task.claimed", "task.released", "task.claimed",
                                                         "task.released", "task.claimed", "review.submitted"});
}

TEST_CASE("a task sent back is reviewed again: the new review replaces the final label, both are kept",
          "[lifecycle]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const auto id = review_task(c, s, "sb-1");
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 200);
  REQUIRE(c.request("POST", task_path(id, "outcome"), s.reviewer,
                    R"({"outcome":"correct","correction":{"label":"bad"}})").status == 200);

  check_error(c.request("POST", task_path(id, "send-back"), s.reviewer, reason("x").dump()), 403, "forbidden",
              "role reviewer");
  auto no_reason = c.request("POST", task_path(id, "send-back"), s.admin, "");
  check_error(no_reason, 422, "invalid_field", "reason");
  CHECK(no_reason.json()["error"]["field"] == "reason");
  check_error(c.request("POST", task_path(id, "send-back"), s.admin, R"({"reason":"  "})"), 422, "invalid_field",
              "must not be empty");
  check_error(c.request("POST", task_path(id, "send-back"), s.admin, R"({"reason":7})"), 422, "invalid_field",
              "expected a string");
  check_error(c.request("POST", task_path(id, "send-back"), s.admin, R"({"reason":"a","why":"b"})"), 422,
              "invalid_field", "why: unknown field");
  check_error(c.request("POST", task_path(id, "send-back"), s.admin, "{not json"), 400, "malformed_json", "not valid JSON");

  auto r = c.request("POST", task_path(id, "send-back"), s.admin, reason("income was misread").dump());
  REQUIRE(r.status == 200);
  CHECK(r.json()["previous_status"] == "completed");
  CHECK(r.json()["status"] == "pending");
  CHECK(stored_status(s, id) == "pending");
  auto d = last_detail(s, id, "task.sent_back");
  CHECK(d["reason"] == "income was misread");
  CHECK(d["final_label"] == "bad");
  // Until the next review the decision keeps the label of the review that was sent back.
  auto before = c.request("GET", "/v1/domains/loans/decisions/sb-1", s.client).json();
  CHECK(before["final_label"] == "bad");

  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer2);
  REQUIRE(t.status == 200);
  CHECK(t.json()["task_id"] == id);
  REQUIRE(c.request("POST", task_path(id, "outcome"), s.reviewer2, R"({"outcome":"approve"})").status == 200);
  auto after = c.request("GET", "/v1/domains/loans/decisions/sb-1", s.client).json();
  CHECK(after["final_label"] == "good");
  CHECK(after["final_outcome"] == "approve");

  SQLite::Database db(s.db.string(), SQLite::OPEN_READONLY);
  SQLite::Statement q(db, "SELECT reviewer, outcome, final_label FROM reviews WHERE task_id = ? ORDER BY review_id");
  q.bind(1, static_cast<std::int64_t>(id));
  std::vector<std::string> reviews;
  while (q.executeStep())
    reviews.push_back(q.getColumn(0).getString() + " " + q.getColumn(1).getString() + " " + q.getColumn(2).getString());
  CHECK(reviews == std::vector<std::string>{"alice correct bad", "bob approve good"});
  CHECK(task_actions(s, id) == std::vector<std::string>{"task.claimed", "review.submitted", "task.sent_back",
                                                         "task.claimed", "review.submitted"});
}

TEST_CASE("cancelled tasks, pending or assigned, are never handed out and cannot be reviewed", "[lifecycle]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const auto held = review_task(c, s, "cx-held", 90000);  // highest priority: claimed first
  const auto waiting = review_task(c, s, "cx-waiting", 1000);
  auto t = c.request("GET", "/v1/review/next?domain=loans", s.reviewer);
  REQUIRE(t.status == 200);
  REQUIRE(t.json()["task_id"] == held);

  check_error(c.request("POST", task_path(waiting, "cancel"), s.reviewer, reason("x").dump()), 403, "forbidden",
              "role reviewer");
  check_error(c.request("POST", task_path(waiting, "cancel"), s.admin, "{}"), 422, "invalid_field", "reason");
  check_error(c.request("POST", task_path(9999, "cancel"), s.admin, reason("x").dump()), 404, "not_found", "9999");
  check_error(c.request("POST", "/v1/review/tasks/abc/cancel", s.admin, reason("x").dump()), 404, "not_found", "abc");
  CHECK(c.request("GET", task_path(waiting, "cancel"), s.admin).status == 405);

  auto a = c.request("POST", task_path(held, "cancel"), s.admin, reason("duplicate application").dump());
  REQUIRE(a.status == 200);
  CHECK(a.json()["previous_status"] == "assigned");
  CHECK(a.json()["status"] == "cancelled");
  auto p = c.request("POST", task_path(waiting, "cancel"), s.admin, reason("withdrawn by customer").dump());
  REQUIRE(p.status == 200);
  CHECK(p.json()["previous_status"] == "pending");
  CHECK(stored_status(s, held) == "cancelled");
  CHECK(stored_status(s, waiting) == "cancelled");
  auto d = last_detail(s, held, "task.cancelled");
  CHECK(d["reason"] == "duplicate application");
  CHECK(d["from"] == "assigned");
  CHECK(d["assignee"] == "alice");

  // alice still had the lease, but the task is gone; nobody is handed either task.
  check_error(c.request("POST", task_path(held, "outcome"), s.reviewer, R"({"outcome":"approve"})"), 409,
              "illegal_transition", "is cancelled: cannot review");
  CHECK(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).status == 204);
  CHECK(c.request("GET", "/v1/review/next?domain=loans", s.reviewer2).status == 204);
  CHECK(stored_status(s, held) == "cancelled");
  CHECK(task_actions(s, held) == std::vector<std::string>{"task.claimed", "task.cancelled"});
  CHECK(task_actions(s, waiting) == std::vector<std::string>{"task.cancelled"});
  auto m = c.request("GET", "/metrics", s.admin);
  CHECK(m.body.find("hitl_queue_depth{domain=\"loans\",state=\"ready\"} 0") != std::string::npos);
}

TEST_CASE("moves the lifecycle does not have are refused with 409 illegal_transition and leave no trace",
          "[lifecycle]") {
  Service s;
  s.start();
  HttpClient c(s.port());
  const auto done = review_task(c, s, "il-done", 90000);
  const auto open = review_task(c, s, "il-open", 1000);
  REQUIRE(c.request("GET", "/v1/review/next?domain=loans", s.reviewer).json()["task_id"] == done);
  REQUIRE(c.request("POST", task_path(done, "outcome"), s.reviewer, R"({"outcome":"approve"})").status == 200);
  const auto done_actions = task_actions(s, done);
  const auto open_actions = task_actions(s, open);

  const std::string d = std::to_string(done), o = std::to_string(open);
  auto cancel_done = c.request("POST", task_path(done, "cancel"), s.admin, reason("too late").dump());
  check_error(cancel_done, 409, "illegal_transition", "task " + d + " is completed: cannot cancel");
  CHECK(cancel_done.json()["error"]["message"] == "task " + d + " is completed: cannot cancel");
  check_error(c.request("POST", task_path(done, "release"), s.admin, ""), 409, "illegal_transition",
              "task " + d + " is completed: cannot release");
  check_error(c.request("POST", task_path(open, "send-back"), s.admin, reason("again").dump()), 409,
              "illegal_transition", "task " + o + " is pending: cannot send back");
  check_error(c.request("POST", task_path(open, "release"), s.reviewer, ""), 409, "illegal_transition",
              "task " + o + " is pending: cannot release");
  // A review needs a claim: pending -> completed does not exist.
  check_error(c.request("POST", task_path(open, "outcome"), s.reviewer, R"({"outcome":"approve"})"), 409,
              "lease_not_held", "is pending");

  REQUIRE(c.request("POST", task_path(open, "cancel"), s.admin, reason("gone").dump()).status == 200);
  check_error(c.request("POST", task_path(open, "cancel"), s.admin, reason("twice").dump()), 409,
              "illegal_transition", "is cancelled: cannot cancel");
  check_error(c.request("POST", task_path(open, "send-back"), s.admin, reason("back").dump()), 409,
              "illegal_transition", "is cancelled: cannot send back");

  CHECK(stored_status(s, done) == "completed");
  CHECK(stored_status(s, open) == "cancelled");
  CHECK(task_actions(s, done) == done_actions);
  auto expected_open = open_actions;
  expected_open.push_back("task.cancelled");
  CHECK(task_actions(s, open) == expected_open);
}
