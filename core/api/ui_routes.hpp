#pragma once
// The routes the web UI needs that the API did not have (docs/http-api.md, "Web UI routes"):
//   GET  /v1/me                                      who the token is, and its domains (any role)
//   GET  /v1/me/figures                              the reviewer's own figures (reviewer, admin)
//   POST /v1/review/tasks/{id}/renew                 extend the caller's lease (its holder)
//   GET  /v1/domains/{d}/report/series?from&to&bucket the report per time step (admin)
//   GET  /v1/admin/audit/verify                      walk the audit chain (admin)
//   POST /v1/admin/tokens                            create a token (unscoped admin)
//   POST /v1/admin/tokens/{name}/revoke              revoke a token (unscoped admin)
//   POST /v1/admin/domains/{d}/models/{id}/promote   make a registered version live (admin)
//   POST /v1/admin/domains/{d}/models/rollback       the previous live version again (admin)
#include "http/server.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace hitl::service {
class App;
struct Principal;
}  // namespace hitl::service

namespace hitl::ui {

using Parts = std::vector<std::string_view>;

// Those of the routes whose cost grows with the stored data: the API runs them on the slow lane.
bool slow_route(const std::string& method, const Parts& parts);
// Handles the request when it is one of these routes (returns true); throws ServiceError.
bool route(service::App& app, const http::Request& req, const Parts& parts, const service::Principal& who,
           http::Respond& respond);

// One file each (ui_routes_*.cpp).
bool route_me(service::App& app, const http::Request& req, const Parts& parts, const service::Principal& who,
              http::Respond& respond);
bool route_series(service::App& app, const http::Request& req, const Parts& parts, const service::Principal& who,
                  http::Respond& respond);
bool route_admin(service::App& app, const http::Request& req, const Parts& parts, const service::Principal& who,
                 http::Respond& respond);

// Helpers shared by the route files.
bool is(const Parts& parts, std::initializer_list<std::string_view> pattern);  // "*": any segment
void require_method(const http::Request& req, const char* method);
// The domain of a path segment: 403 outside the token's scope (first), 404 when not configured.
std::string domain_of(service::App& app, std::string_view part, const service::Principal& who);

}  // namespace hitl::ui
