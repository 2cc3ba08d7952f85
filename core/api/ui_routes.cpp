// Dispatch of the web UI's routes (ui_routes.hpp) and the helpers their files share.
#include "api/ui_routes.hpp"

#include "app/app.hpp"
#include "governance/auth.hpp"
#include "common/service_error.hpp"

#include <algorithm>

namespace hitl::ui {
using service::ServiceError;

bool is(const Parts& parts, std::initializer_list<std::string_view> pattern) {
  return parts.size() == pattern.size() &&
         std::equal(pattern.begin(), pattern.end(), parts.begin(),
                    [](std::string_view want, std::string_view got) { return want == "*" || want == got; });
}

void require_method(const http::Request& req, const char* method) {
  if (req.method != method) throw ServiceError(405, "method_not_allowed", std::string("use ") + method);
}

std::string domain_of(service::App& app, std::string_view part, const service::Principal& who) {
  std::string d(part);
  if (!who.may_access(d))
    throw ServiceError(403, "forbidden", "token \"" + who.name + "\" is not allowed domain \"" + d + "\"", "domain");
  if (!app.config().domains.count(d)) throw ServiceError(404, "unknown_domain", "no domain named \"" + d + "\"", "domain");
  return d;
}

bool slow_route(const std::string& m, const Parts& parts) {
  if (m == "GET")
    return is(parts, {"v1", "me", "figures"}) || is(parts, {"v1", "domains", "*", "report", "series"}) ||
           is(parts, {"v1", "admin", "audit", "verify"});
  // A promotion copies a model artifact and rewrites the registry's files.
  return m == "POST" && (is(parts, {"v1", "admin", "domains", "*", "models", "*", "promote"}) ||
                         is(parts, {"v1", "admin", "domains", "*", "models", "rollback"}));
}

bool route(service::App& app, const http::Request& req, const Parts& parts, const service::Principal& who,
           http::Respond& respond) {
  return route_me(app, req, parts, who, respond) || route_series(app, req, parts, who, respond) ||
         route_admin(app, req, parts, who, respond);
}

}  // namespace hitl::ui
