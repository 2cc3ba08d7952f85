// The route table and its matching (routes.hpp).
#include "api/routes.hpp"

#include "api/handlers.hpp"
#include "common/service_error.hpp"
#include "governance/auth.hpp"

#include <algorithm>

namespace hitl::service {

const std::vector<Route>& route_table() {
  using enum Access;
  using enum Lane;
  namespace ui = hitl::ui;
  // One line per route, in the order of docs/http-api.md's table. The task moves other than claim
  // and submit (release, send-back, cancel, assign, reassign, renew) take the review service's
  // exclusive turn, which waits for the claims in flight, a slow assign() included: slow lane.
  static const std::vector<Route> table = {
      {"GET", "/healthz", anyone, io, healthz},
      {"GET", "/metrics", admin, io, metrics},
      {"POST", "/v1/domains/{domain}/predictions", admin_client, io, ingest_predictions},
      {"GET", "/v1/domains/{domain}/decisions/{id}", any_role, io, get_decision},
      {"GET", "/v1/domains/{domain}/decisions/{id}/trace", any_role, slow, get_trace},
      {"PUT", "/v1/domains/{domain}/decisions/{id}/truth", admin_client, io, report_truth},
      {"POST", "/v1/domains/{domain}/decisions/{id}/truth", admin_client, io, report_truth},
      {"DELETE", "/v1/domains/{domain}/decisions/{id}/payload", admin, slow, erase_payload},
      {"GET", "/v1/domains/{domain}/report", admin, slow, domain_report},
      {"GET", "/v1/review/next", admin_reviewer, io, review_next},
      {"GET", "/v1/review/tasks", admin_reviewer, slow, list_tasks},
      {"POST", "/v1/review/tasks/{task_id}/outcome", admin_reviewer, io, submit_outcome},
      {"POST", "/v1/review/tasks/{task_id}/release", admin_reviewer, slow, release_task},
      {"POST", "/v1/review/tasks/{task_id}/send-back", admin, slow, send_back_task},
      {"POST", "/v1/review/tasks/{task_id}/cancel", admin, slow, cancel_task},
      {"POST", "/v1/review/tasks/{task_id}/assign", admin, slow, assign_task},
      {"POST", "/v1/review/tasks/{task_id}/reassign", admin, slow, reassign_task},
      {"GET", "/v1/admin/reviewers", admin, slow, list_reviewers},
      {"POST", "/v1/admin/reviewers", admin, io, put_reviewer},
      {"POST", "/v1/admin/reviewers/{id}/disable", admin, io, disable_reviewer},
      {"POST", "/v1/admin/reviewers/{id}/enable", admin, io, enable_reviewer},
      {"POST", "/v1/domains/{domain}/decisions/{id}/gold", admin_reviewer, io, mark_gold},
      {"POST", "/v1/admin/domains/{domain}/retrain", admin, io, request_retrain},
      {"GET", "/v1/admin/domains/{domain}/retrain", admin, slow, retrain_status},
      {"GET", "/v1/admin/retrain/jobs/{id}", admin, slow, retrain_job},
      {"DELETE", "/v1/admin/retrain/jobs/{id}", admin, slow, retrain_job},
      {"GET", "/v1/admin/domains/{domain}/models", admin, slow, list_models},
      {"GET", "/v1/domains/{domain}/policy", admin, io, policy_status},
      {"POST", "/v1/domains/{domain}/policy/reload", admin, slow, policy_reload},
      {"POST", "/v1/admin/domains/{domain}/models/{id}/promote", admin, slow, ui::promote_model},
      {"POST", "/v1/admin/domains/{domain}/models/rollback", admin, slow, ui::rollback_model},
      {"GET", "/v1/domains/{domain}/report/series", admin, slow, ui::report_series},
      {"POST", "/v1/review/tasks/{task_id}/renew", admin_reviewer, slow, ui::renew_lease},
      {"GET", "/v1/me", any_role, io, ui::get_me},
      {"GET", "/v1/me/figures", admin_reviewer, slow, ui::get_figures},
      {"GET", "/v1/admin/audit/verify", admin, slow, ui::verify_audit},
      {"GET", "/v1/admin/tokens", unscoped_admin, slow, ui::list_tokens},
      {"POST", "/v1/admin/tokens", unscoped_admin, io, ui::create_token},
      {"POST", "/v1/admin/tokens/{name}/revoke", unscoped_admin, io, ui::revoke_token},
      {"GET", "/v1/openapi.json", anyone, io, openapi_not_installed},  // served by ui_assets.cpp when installed
  };
  return table;
}

namespace {

// The patterns' segments, computed once; "{…}" is a parameter.
const std::vector<std::vector<std::string_view>>& split_patterns() {
  static const auto split = [] {
    std::vector<std::vector<std::string_view>> out;
    for (const auto& r : route_table()) {
      auto& segs = out.emplace_back();
      std::string_view p = r.pattern;
      for (std::size_t i = 1; i <= p.size();) {
        const std::size_t j = std::min(p.find('/', i), p.size());
        segs.push_back(p.substr(i, j - i));
        i = j + 1;
      }
    }
    return out;
  }();
  return split;
}

bool is_param(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

bool path_matches(const std::vector<std::string_view>& pattern, const std::vector<std::string_view>& parts,
                  std::vector<std::string_view>& params) {
  if (pattern.size() != parts.size()) return false;
  params.clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (is_param(pattern[i])) params.push_back(parts[i]);
    else if (pattern[i] != parts[i]) return false;
  }
  return true;
}

}  // namespace

RouteMatch match_route(std::string_view method, const std::vector<std::string_view>& parts) {
  RouteMatch m;
  const auto& table = route_table();
  const auto& patterns = split_patterns();
  std::vector<std::string_view> params;
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (!path_matches(patterns[i], parts, params)) continue;
    m.same_path.push_back(&table[i]);
    if (!m.route && table[i].method == method) {
      m.route = &table[i];
      m.params = params;
    }
  }
  return m;
}

bool allows(Access access, const Principal& who) {
  switch (access) {
    case Access::anyone:
    case Access::any_role: return true;
    case Access::admin: return who.role == Role::admin;
    case Access::admin_reviewer: return who.role == Role::admin || who.role == Role::reviewer;
    case Access::admin_client: return who.role == Role::admin || who.role == Role::client;
    case Access::unscoped_admin: return who.role == Role::admin && who.domains.empty();
  }
  return false;
}

void check_access(Access access, const Principal& who) {
  if (allows(access, who)) return;
  // Tokens are global: a domain-scoped admin could otherwise mint an unscoped token.
  if (access == Access::unscoped_admin && who.role == Role::admin)
    throw ServiceError(403, "forbidden", "only an admin token without --domains may manage tokens");
  throw ServiceError(403, "forbidden", std::string("role ") + role_name(who.role) + " may not use this route");
}

std::vector<std::string> access_roles(Access access) {
  switch (access) {
    case Access::anyone: return {"none"};
    case Access::any_role: return {"any"};
    case Access::admin: return {"admin"};
    case Access::admin_reviewer: return {"admin", "reviewer"};
    case Access::admin_client: return {"admin", "client"};
    case Access::unscoped_admin: return {"admin without domains"};
  }
  return {};
}

}  // namespace hitl::service
