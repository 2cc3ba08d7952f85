#pragma once
// The routes the web UI needs that the API did not have (docs/http-api.md, "Web UI routes"), in
// ui_routes_*.cpp (their handlers: handlers.hpp; the table: routes.cpp):
//   GET  /v1/me                                      who the token is, and its domains (any role)
//   GET  /v1/me/figures                              the reviewer's own figures (reviewer, admin)
//   POST /v1/review/tasks/{id}/renew                 extend the caller's lease (its holder)
//   GET  /v1/domains/{d}/report/series?from&to&bucket the report per time step (admin)
//   GET  /v1/admin/audit/verify                      walk the audit chain (admin)
//   GET  /v1/admin/tokens                            list the tokens (unscoped admin)
//   POST /v1/admin/tokens                            create a token (unscoped admin)
//   POST /v1/admin/tokens/{name}/revoke              revoke a token (unscoped admin)
//   POST /v1/admin/domains/{d}/models/{id}/promote   make a registered version live (admin)
//   POST /v1/admin/domains/{d}/models/rollback       the previous live version again (admin)
#include <string>
#include <string_view>

namespace hitl::service {
class App;
struct Principal;
}  // namespace hitl::service

namespace hitl::ui {

// Helpers shared by the route files.
// The domain of a path segment: 403 outside the token's scope (first), 404 when not configured.
std::string domain_of(service::App& app, std::string_view part, const service::Principal& who);

}  // namespace hitl::ui
