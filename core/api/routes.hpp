#pragma once
// The API's routes, declared once (route_table() in routes.cpp, one line per route): method, path
// pattern as docs/openapi.json spells it, who may use it, the lane that runs it and the handler.
// The router (api.cpp) serves a request only through this table, so a route cannot be served
// without being in it; test-api's openapi cases check it against docs/openapi.json (both ways,
// with roles and lanes) and against the route table of docs/http-api.md.
#include "http/server.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace hitl::service {

class App;
struct Principal;

// Who may use a route; checked by the router before the handler runs (403 otherwise). Scope
// (a token's domains) is the handler's to check: it depends on the domain in the path or body.
enum class Access { anyone, any_role, admin, admin_reviewer, admin_client, unscoped_admin };
// Where it runs: on an I/O thread, or on the slow lane (routes whose cost grows with the stored
// data; docs/operations.md, "Connections and slow routes").
enum class Lane { io, slow };

// What a handler gets: the request, who sent it, where to answer, and the path's {…} segments
// in order (percent-decoded).
struct RouteCall {
  App& app;
  const http::Request& req;
  const Principal& who;
  http::Respond& respond;
  std::vector<std::string_view> params;
};
using RouteHandler = void (*)(RouteCall&);

struct Route {
  std::string_view method;   // GET, POST, PUT, DELETE
  std::string_view pattern;  // "/v1/domains/{domain}/decisions/{id}"
  Access access;
  Lane lane;
  // null for a route answered before the API (GET /v1/openapi.json, by ui_assets.cpp): listed
  // here so that the table is the whole contract.
  RouteHandler handler;
};

const std::vector<Route>& route_table();

// The route of `method` on the path `parts` (segments), with its parameters. `path_known` says
// whether some route has this path with another method (405 rather than 404).
struct RouteMatch {
  const Route* route = nullptr;
  std::vector<std::string_view> params;
  std::vector<const Route*> same_path;  // the path's routes, whatever their method
};
RouteMatch match_route(std::string_view method, const std::vector<std::string_view>& parts);

// Throws ServiceError 403 unless `who` passes `access`.
void check_access(Access access, const Principal& who);
bool allows(Access access, const Principal& who);
// As docs/openapi.json's x-hitl-roles says it: {"admin", "reviewer"}, {"any"}, {"none"}, ...
std::vector<std::string> access_roles(Access access);

}  // namespace hitl::service
