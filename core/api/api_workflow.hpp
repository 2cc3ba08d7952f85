#pragma once
// The review workflow's admin and reviewer routes (docs/http-api.md, "Review workflow"):
//   GET  /v1/admin/reviewers                    registry with workload (admin)
//   POST /v1/admin/reviewers                    add or update a reviewer (admin)
//   POST /v1/admin/reviewers/{id}/disable|enable
//   GET  /v1/review/tasks?domain&status&assignee&sla_state&min_priority&cursor&limit
//   POST /v1/review/tasks/{id}/assign           push to a reviewer, or the best eligible (admin)
//   POST /v1/review/tasks/{id}/reassign         release if held, then assign (admin)
#include "http/server.hpp"

#include <string_view>
#include <vector>

namespace hitl::service {

class App;
struct Principal;

// Handles the request when it is one of these routes (returns true); throws ServiceError.
bool route_workflow(App& app, const http::Request& req, const std::vector<std::string_view>& parts,
                    const Principal& who, http::Respond& respond);

}  // namespace hitl::service
