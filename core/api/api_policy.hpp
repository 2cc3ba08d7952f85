#pragma once
// The routes of a domain's policy (docs/http-api.md, "Policy"), admin only:
//   GET  /v1/domains/{d}/policy          the policy in force (hash, version, cases), the last
//                                        refused candidate with its error, the shadow's counts
//   POST /v1/domains/{d}/policy/reload   take the policy file now: compiled, tested by the
//                                        domain's cases, swapped in only if all pass (slow lane)
#include "http/server.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace hitl::service {

class App;
struct Principal;

// Those of the routes that run a candidate's cases: the API sends them to the slow lane.
bool policy_slow_route(const std::string& method, const std::vector<std::string_view>& parts);
// Handles the request when it is one of these routes (returns true); throws ServiceError.
bool route_policy(App& app, const http::Request& req, const std::vector<std::string_view>& parts, const Principal& who,
                  http::Respond& respond);

}  // namespace hitl::service
