#include "api/handlers.hpp"
#include "api/ui_routes.hpp"

#include "api/api_body.hpp"
#include "app/app.hpp"
#include "app/policy_reloader.hpp"
#include "common/service_error.hpp"
#include "governance/auth.hpp"
#include "ingest/shadow_policy.hpp"

namespace hitl::service {
using nlohmann::json;

namespace {

bool is_policy_path(const std::vector<std::string_view>& parts, std::size_t size) {
  return parts.size() == size && parts[0] == "v1" && parts[1] == "domains" && parts[3] == "policy";
}

// GET /v1/domains/{d}/policy
void policy_status(App& app, const std::string& domain, http::Respond& respond) {
  json body = app.policy_reloader().status(domain);
  body["domain"] = domain;
  body["shadow"] = app.shadow_policy().counts(domain);
  respond(reply(body));
}

// POST /v1/domains/{d}/policy/reload {}: 200 with the outcome (loaded or unchanged), 422
// policy_refused with the candidate's error (the policy in force keeps serving).
void policy_reload(App& app, const http::Request& req, const std::string& domain, const Principal& who,
                   http::Respond& respond) {
  body_object(req, {}, true, app.config().max_json_depth);
  const policy::ReloadResult r = app.policy_reloader().reload(domain, ReloadTrigger::admin, who.name);
  if (policy::refused(r.outcome))
    throw ServiceError(422, "policy_refused", std::string(policy::outcome_name(r.outcome)) + ": " + r.error);
  respond(reply({{"domain", domain},
                 {"outcome", policy::outcome_name(r.outcome)},
                 {"from", r.old_hash},
                 {"to", r.new_hash},
                 {"version", r.version},
                 {"cases", r.cases}}));
}

}  // namespace

void policy_status(RouteCall& c) { policy_status(c.app, ui::domain_of(c.app, c.params[0], c.who), c.respond); }
void policy_reload(RouteCall& c) { policy_reload(c.app, c.req, ui::domain_of(c.app, c.params[0], c.who), c.who, c.respond); }

}  // namespace hitl::service
