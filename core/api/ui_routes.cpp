// The helpers the web UI's route files share (ui_routes.hpp).
#include "api/ui_routes.hpp"

#include "app/app.hpp"
#include "governance/auth.hpp"
#include "common/service_error.hpp"

namespace hitl::ui {
using service::ServiceError;

std::string domain_of(service::App& app, std::string_view part, const service::Principal& who) {
  std::string d(part);
  if (!who.may_access(d))
    throw ServiceError(403, "forbidden", "token \"" + who.name + "\" is not allowed domain \"" + d + "\"", "domain");
  if (!app.config().domains.count(d)) throw ServiceError(404, "unknown_domain", "no domain named \"" + d + "\"", "domain");
  return d;
}

}  // namespace hitl::ui
