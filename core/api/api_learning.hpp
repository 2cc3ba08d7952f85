#pragma once
// The learning loop's routes (docs/http-api.md, "Learning loop"):
//   POST /v1/domains/{d}/decisions/{id}/gold  keep a decided hard case for every evaluation (reviewer, admin)
//   POST /v1/admin/domains/{d}/retrain       queue a training now {"reason"?, "promote"?} -> 202 job
//   GET  /v1/admin/domains/{d}/retrain       the stats retrain(stats) sees, and the recent jobs
//   GET  /v1/admin/retrain/jobs/{id}         one job; DELETE withdraws a queued one
//   GET  /v1/admin/domains/{d}/models        the registry's versions with their lineage, and the live one
#include "http/server.hpp"

#include <string_view>
#include <vector>

namespace hitl::service {

class App;
struct Principal;

// Handles the request when it is one of these routes (returns true); throws ServiceError.
bool route_learning(App& app, const http::Request& req, const std::vector<std::string_view>& parts,
                    const Principal& who, http::Respond& respond);

}  // namespace hitl::service
