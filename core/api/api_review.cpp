// The review routes (docs/http-api.md): claim the next task, answer it, and the task life cycle
// moves release, send-back and cancel. The router (api.cpp) checked method and role.
#include "api/handlers.hpp"

#include "api/api_body.hpp"
#include "app/app.hpp"
#include "common/service_error.hpp"
#include "data/client_json.hpp"
#include "domain/domains.hpp"
#include "governance/auth.hpp"
#include "review/review.hpp"

#include <nlohmann/json.hpp>

namespace hitl::service {
using nlohmann::json;

namespace {

// The claimed task as the reviewer sees it: the case, the labels, sensitive fields masked.
json claim_body(App& app, const ClaimedTask& claimed) {
  auto& t = claimed.task;
  json body = {{"task_id", t.task_id},
               {"domain", t.domain},
               {"decision_id", t.decision_id},
               {"reason", t.reason},
               {"priority", t.priority},
               {"status", t.status},
               {"assignee", t.assignee},
               {"lease_expires_ms", t.lease_expires_ms},
               {"deadline_ms", t.deadline_ms ? json(t.deadline_ms) : json(nullptr)},
               {"input", parse_or_null(claimed.decision.input_json)},
               {"prediction", parse_or_null(claimed.decision.prediction_json)},
               {"meta", parse_or_null(claimed.decision.meta_json)},
               {"labels", app.domains().require(t.domain).labels}};
  // The review view masks sensitive fields for everyone who works a task, admins included:
  // the review itself should not depend on them.
  if (const Redactor& r = app.domains().require(t.domain).redactor; !r.empty()) {
    r.input(body["input"]);
    r.meta(body["meta"]);
    r.prediction(body["prediction"]);
  }
  return body;
}

// Answered from the writer's after-commit callback (ReviewService::next_async): this thread only
// hands the claim off.
void claim_next(App& app, const http::Request& req, const Principal& who, http::Respond& respond) {
  auto it = req.query.find("domain");
  if (it == req.query.end() || it->second.empty())
    throw ServiceError(422, "invalid_field", "query parameter domain is required", "domain");
  app.review().next_async(it->second, who, [&app, respond](std::optional<ClaimedTask> claimed, std::exception_ptr error) {
    if (error) return answer_error(app, respond, error);
    if (!claimed) {
      http::Response r;
      r.status = 204;
      r.content_type.clear();
      return respond(std::move(r));
    }
    http::Response r;  // the body is made on the I/O thread, not on the writer's
    r.build = [&app, claimed = std::move(*claimed)] { return reply(claim_body(app, claimed)); };
    respond(std::move(r));
  });
}

void outcome(App& app, std::string_view task_part, const http::Request& req, const Principal& who,
             http::Respond& respond) {
  OutcomeRequest o;
  o.task_id = task_id_of(task_part);
  json body = body_object(req, {"outcome", "correction", "comment"}, false, app.config().max_json_depth);
  auto oc = body.find("outcome");
  if (oc == body.end() || !oc->is_string())
    throw ServiceError(422, "invalid_field", "outcome: expected \"approve\", \"reject\" or \"correct\"", "outcome");
  o.outcome = oc->get<std::string>();
  auto corr = body.find("correction");
  if (corr != body.end() && !corr->is_null()) {
    if (!corr->is_object()) throw ServiceError(422, "invalid_field", "correction: expected an object {\"label\": ...}", "correction");
    for (auto& [k, _] : corr->items())
      if (k != "label") throw ServiceError(422, "invalid_field", "correction." + k + ": unknown field (expected label)", "correction." + k);
    auto l = corr->find("label");
    if (l == corr->end() || !l->is_string())
      throw ServiceError(422, "invalid_field", "correction.label: expected a string", "correction.label");
    o.correction_label = l->get<std::string>();
  }
  o.comment = string_field(body, "comment");
  check_client_text(o.comment, "comment", kMaxFreeTextChars, /*may_be_empty=*/true, /*multiline=*/true);
  // Answered once the outcome is committed (ReviewService::submit_async).
  app.review().submit_async(o, who, [&app, respond](std::optional<OutcomeResult> r, std::exception_ptr error) {
    if (error) return answer_error(app, respond, error);
    http::Response done;  // the body is made on the I/O thread, not on the writer's
    done.build = [r = std::move(*r)] {
      return reply({{"task_id", r.task_id}, {"domain", r.domain}, {"decision_id", r.decision_id},
                    {"outcome", r.outcome}, {"final_label", r.final_label}});
    };
    respond(std::move(done));
  });
}

// POST /v1/review/tasks/{id}/release | send-back | cancel, body {"reason": "..."} (optional
// for release). The lifecycle rules are in ReviewService; storage enforces them again.
void lifecycle(App& app, std::string_view task_part, std::string_view action, const http::Request& req,
               const Principal& who, http::Respond& respond) {
  const bool release = action == "release";
  const std::int64_t task_id = task_id_of(task_part);
  const bool empty_body = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (empty_body && !release) throw ServiceError(422, "invalid_field", "reason: required (body {\"reason\": \"...\"})", "reason");
  json body = body_object(req, {"reason"}, /*may_be_empty=*/true, app.config().max_json_depth);
  const std::string reason = string_field(body, "reason", /*required=*/!release);
  check_client_text(reason, "reason", kMaxFreeTextChars, /*may_be_empty=*/release, /*multiline=*/true);
  if (!release && reason.find_first_not_of(" \t\r\n") == std::string::npos)
    throw ServiceError(422, "invalid_field", "reason: must not be empty", "reason");
  auto& review = app.review();
  TransitionResult t = release              ? review.release(task_id, reason, who)
                       : action == "cancel" ? review.cancel(task_id, reason, who)
                                            : review.send_back(task_id, reason, who);
  respond(reply({{"task_id", t.task_id}, {"domain", t.domain}, {"decision_id", t.decision_id},
                              {"previous_status", t.from}, {"status", t.to}}));
}

}  // namespace

void review_next(RouteCall& c) { claim_next(c.app, c.req, c.who, c.respond); }
void submit_outcome(RouteCall& c) { outcome(c.app, c.params[0], c.req, c.who, c.respond); }
void release_task(RouteCall& c) { lifecycle(c.app, c.params[0], "release", c.req, c.who, c.respond); }
void send_back_task(RouteCall& c) { lifecycle(c.app, c.params[0], "send-back", c.req, c.who, c.respond); }
void cancel_task(RouteCall& c) { lifecycle(c.app, c.params[0], "cancel", c.req, c.who, c.respond); }

}  // namespace hitl::service
