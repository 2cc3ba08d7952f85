#pragma once
// Every route handler of the API, by the file that defines it; routes.cpp puts each in the route
// table with its method, path, access and lane. A handler runs only after the router checked
// the method and the access, so it checks what only it can: scope, ids, bodies.
#include "api/routes.hpp"

namespace hitl::service {

// api.cpp: transport-level routes
void healthz(RouteCall& c);
void metrics(RouteCall& c);
void openapi_not_installed(RouteCall& c);

// api_decisions.cpp
void ingest_predictions(RouteCall& c);
void get_decision(RouteCall& c);
void get_trace(RouteCall& c);
void report_truth(RouteCall& c);
void erase_payload(RouteCall& c);
void domain_report(RouteCall& c);

// api_review.cpp
void review_next(RouteCall& c);
void submit_outcome(RouteCall& c);
void release_task(RouteCall& c);
void send_back_task(RouteCall& c);
void cancel_task(RouteCall& c);

// api_workflow.cpp
void list_reviewers(RouteCall& c);
void put_reviewer(RouteCall& c);
void disable_reviewer(RouteCall& c);
void enable_reviewer(RouteCall& c);
void list_tasks(RouteCall& c);
void assign_task(RouteCall& c);
void reassign_task(RouteCall& c);

// api_learning.cpp
void mark_gold(RouteCall& c);
void request_retrain(RouteCall& c);
void retrain_status(RouteCall& c);
void retrain_job(RouteCall& c);  // GET one job, DELETE withdraws it
void list_models(RouteCall& c);

// api_policy.cpp
void policy_status(RouteCall& c);
void policy_reload(RouteCall& c);  // on the slow lane: runs the candidate's cases

}  // namespace hitl::service

namespace hitl::ui {

using service::RouteCall;

// ui_routes_me.cpp
void get_me(RouteCall& c);
void get_figures(RouteCall& c);
void renew_lease(RouteCall& c);

// ui_routes_series.cpp
void report_series(RouteCall& c);

// ui_routes_admin.cpp
void list_tokens(RouteCall& c);
void create_token(RouteCall& c);
void revoke_token(RouteCall& c);
void verify_audit(RouteCall& c);
void promote_model(RouteCall& c);
void rollback_model(RouteCall& c);

}  // namespace hitl::ui
